variable "name_prefix" {
  description = "Prefix of every bucket name: buckets are <name_prefix>-<zone>, matching CITYLAKE_LAKE_ROOT=s3a://<name_prefix>-{zone}."
  type        = string
}

variable "zones" {
  description = "Lake zones that get a bucket each (_system is spelled system: bucket names allow no underscore)."
  type        = list(string)
  default     = ["landing", "bronze", "silver", "gold", "published", "quarantine", "system", "restricted"]
}

variable "landing_expiry_days" {
  description = "Days after which an object left in landing expires (the pipeline moves processed files out long before)."
  type        = number
  default     = 30

  validation {
    condition     = var.landing_expiry_days >= 1
    error_message = "landing_expiry_days must be at least 1."
  }
}

variable "quarantine_retention_days" {
  description = "Days quarantined files and rows are kept for investigation before they expire."
  type        = number
  default     = 365

  validation {
    condition     = var.quarantine_retention_days >= 30
    error_message = "quarantine_retention_days must be at least 30: data owners need time to investigate."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept before it is removed for good."
  type        = number
  default     = 30
}

variable "abort_incomplete_upload_days" {
  description = "Days after which an unfinished multipart upload is aborted and its parts deleted."
  type        = number
  default     = 7
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the lake's KMS key is deleted after a destroy (7-30)."
  type        = number
  default     = 30
}
