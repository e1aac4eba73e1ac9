output "lake_root" {
  description = "CITYLAKE_LAKE_ROOT for jobs and DAGs: one bucket per zone."
  value       = module.storage.lake_root
}

output "bucket_names" {
  description = "Bucket name per zone, plus artifacts (DAGs and job code)."
  value       = module.storage.bucket_names
}

output "access_log_bucket_name" {
  description = "Bucket receiving the S3 server access logs."
  value       = module.storage.access_log_bucket_name
}

output "kms_key_arn" {
  description = "ARN of the lake's KMS key."
  value       = module.storage.kms_key_arn
}

output "glue_database_names" {
  description = "Glue database name per layer."
  value       = module.catalog.database_names
}

output "ingestion_role_arn" {
  description = "Runtime role of the ingestion Spark jobs."
  value       = module.iam.ingestion_role_arn
}

output "publisher_role_arn" {
  description = "Runtime role of the publishing Spark jobs."
  value       = module.iam.publisher_role_arn
}

output "analyst_role_arn" {
  description = "Role analysts assume to read gold."
  value       = module.iam.analyst_role_arn
}

output "ai_team_role_arn" {
  description = "Role AI teams assume to read published."
  value       = module.iam.ai_team_role_arn
}

output "unit_landing_role_arns" {
  description = "Landing upload role ARN per source unit id."
  value       = module.iam.unit_landing_role_arns
}

output "spark_application_id" {
  description = "EMR Serverless application id for StartJobRun."
  value       = module.spark.application_id
}

output "mwaa_environment_name" {
  description = "Name of the MWAA environment."
  value       = module.airflow.environment_name
}

output "mwaa_execution_role_arn" {
  description = "ARN of the MWAA execution role."
  value       = module.airflow.execution_role_arn
}
