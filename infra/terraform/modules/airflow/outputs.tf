output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "webserver_url" {
  description = "Private URL of the Airflow UI (reachable from inside the VPC only)."
  value       = aws_mwaa_environment.this.webserver_url
}

output "execution_role_arn" {
  description = "ARN of the MWAA execution role."
  value       = aws_iam_role.mwaa.arn
}
