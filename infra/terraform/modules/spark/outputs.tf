output "application_id" {
  description = "EMR Serverless application id (for StartJobRun)."
  value       = aws_emrserverless_application.spark.id
}

output "application_arn" {
  description = "EMR Serverless application ARN."
  value       = aws_emrserverless_application.spark.arn
}

output "log_group_arn" {
  description = "CloudWatch log group of the Spark jobs."
  value       = aws_cloudwatch_log_group.spark.arn
}
