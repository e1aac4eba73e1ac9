output "bucket_names" {
  description = "Bucket name per zone (and artifacts)."
  value       = { for k, b in aws_s3_bucket.lake : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN per zone (and artifacts)."
  value       = { for k, b in aws_s3_bucket.lake : k => b.arn }
}

output "access_log_bucket_name" {
  description = "Bucket that receives the S3 server access logs of every lake bucket."
  value       = aws_s3_bucket.access_logs.bucket
}

output "kms_key_arn" {
  description = "ARN of the lake's customer-managed KMS key."
  value       = aws_kms_key.lake.arn
}

output "lake_root" {
  description = "Value for CITYLAKE_LAKE_ROOT: citylake puts each zone in its own bucket when the root has {zone}."
  value       = "s3a://${var.name_prefix}-{zone}"
}
