variable "name_prefix" {
  description = "Prefix of every Glue database name."
  type        = string
}

variable "bucket_names" {
  description = "Bucket name per zone, from the storage module."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "ARN of the lake's KMS key, used to encrypt the Glue Data Catalog."
  type        = string
}
