variable "name_prefix" {
  description = "Prefix of the application and log group names."
  type        = string
}

variable "release_label" {
  description = "EMR release of the Spark application, e.g. emr-7.12.0. Its Spark line must run the jobs' pyspark/delta-spark versions (or use a custom image)."
  type        = string

  validation {
    condition     = can(regex("^emr-[0-9]+\\.[0-9]+\\.[0-9]+$", var.release_label))
    error_message = "release_label looks like emr-7.12.0."
  }
}

variable "architecture" {
  description = "CPU architecture of the workers: ARM64 (cheaper per vCPU) or X86_64."
  type        = string
  default     = "ARM64"
}

variable "max_vcpu" {
  description = "Upper bound on vCPUs across all running workers of the application (cost ceiling)."
  type        = number
  default     = 64
}

variable "max_memory_gb" {
  description = "Upper bound on memory in GB across all running workers."
  type        = number
  default     = 256
}

variable "max_disk_gb" {
  description = "Upper bound on disk in GB across all running workers."
  type        = number
  default     = 1000
}

variable "idle_timeout_minutes" {
  description = "Minutes without jobs after which the application stops and releases capacity."
  type        = number
  default     = 15
}

variable "subnet_ids" {
  description = "Private subnets the Spark workers run in (they need routes to S3, Glue, CloudWatch Logs and KMS)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the Spark workers."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "ARN of the lake's KMS key, which encrypts the Spark log group at rest."
  type        = string
}

variable "log_retention_days" {
  description = "Days the Spark driver and executor logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}
