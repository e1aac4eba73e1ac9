variable "region" {
  description = "AWS region of the lake."
  type        = string
}

variable "project" {
  description = "Project name: the first part of every resource name."
  type        = string
  default     = "citylake"
}

variable "environment" {
  description = "Deployment stage; with project it forms the name prefix (citylake-prod-landing, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment is a short lowercase word such as dev, test or prod."
  }
}

variable "source_units" {
  description = "Ids of the source units delivering feeds (schemas/units/*.yaml); each gets a landing upload role."
  type        = list(string)
}

variable "landing_expiry_days" {
  description = "Days after which unprocessed files in landing expire."
  type        = number
  default     = 30
}

variable "quarantine_retention_days" {
  description = "Days quarantined files and rows are kept before they expire."
  type        = number
  default     = 365
}

variable "landing_uploader_principal_arns" {
  description = "IAM principals allowed to assume the per-unit landing upload roles (e.g. the upload gateway)."
  type        = list(string)
}

variable "analyst_principal_arns" {
  description = "IAM principals (e.g. SSO permission-set roles) allowed to assume the analyst role."
  type        = list(string)
}

variable "ai_team_principal_arns" {
  description = "IAM principals allowed to assume the AI-teams role."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets (two, in different AZs) for MWAA and the Spark workers."
  type        = list(string)
}

variable "airflow_security_group_ids" {
  description = "Security groups of the MWAA environment (one must allow traffic among its members)."
  type        = list(string)
}

variable "spark_security_group_ids" {
  description = "Security groups of the EMR Serverless Spark workers."
  type        = list(string)
}

variable "emr_release_label" {
  description = "EMR release of the Spark application."
  type        = string
  default     = "emr-7.12.0"
}

variable "spark_max_vcpu" {
  description = "Upper bound on vCPUs across all Spark workers."
  type        = number
  default     = 64
}

variable "spark_max_memory_gb" {
  description = "Upper bound on memory (GB) across all Spark workers."
  type        = number
  default     = 256
}

variable "airflow_version" {
  description = "Apache Airflow version of the MWAA environment."
  type        = string
  default     = "3.0.6"
}

variable "airflow_environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "dag_s3_path" {
  description = "Key prefix of the DAG folder in the artifacts bucket."
  type        = string
  default     = "dags/"
}
