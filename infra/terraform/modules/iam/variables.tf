variable "name_prefix" {
  description = "Prefix of every role name."
  type        = string
}

variable "bucket_arns" {
  description = "Bucket ARN per zone, plus \"artifacts\" (job code), from the storage module."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "ARN of the lake's KMS key: the only key any role may use."
  type        = string
}

variable "glue_database_names" {
  description = "Glue database name per layer (bronze, silver, gold, published, quarantine, ops), from the catalog module."
  type        = map(string)
}

variable "emr_application_arn" {
  description = "ARN of the EMR Serverless application that may assume the job runtime roles."
  type        = string
}

variable "emr_log_group_arn" {
  description = "ARN of the CloudWatch log group the Spark jobs write driver and executor logs to."
  type        = string
}

variable "job_code_prefix" {
  description = "Key prefix in the artifacts bucket holding Spark job code and dependencies."
  type        = string
  default     = "jobs/"
}

variable "source_units" {
  description = "Ids of the source units that deliver feeds; each gets a role that may only write under its own landing prefix."
  type        = list(string)

  validation {
    condition     = alltrue([for u in var.source_units : can(regex("^[a-z][a-z0-9_]{2,63}$", u))])
    error_message = "Unit ids must match ^[a-z][a-z0-9_]{2,63}$, as in the unit registry."
  }
}

variable "landing_uploader_principal_arns" {
  description = "IAM principals (e.g. the upload gateway's role) allowed to assume the per-unit landing roles."
  type        = list(string)

  validation {
    condition     = length(var.landing_uploader_principal_arns) > 0
    error_message = "Name at least one principal that may assume the landing roles."
  }
}

variable "analyst_principal_arns" {
  description = "IAM principals (e.g. SSO permission-set roles) allowed to assume the analyst role."
  type        = list(string)

  validation {
    condition     = length(var.analyst_principal_arns) > 0
    error_message = "Name at least one principal that may assume the analyst role."
  }
}

variable "ai_team_principal_arns" {
  description = "IAM principals allowed to assume the AI-teams role."
  type        = list(string)

  validation {
    condition     = length(var.ai_team_principal_arns) > 0
    error_message = "Name at least one principal that may assume the AI-teams role."
  }
}
