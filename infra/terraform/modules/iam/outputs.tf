output "ingestion_role_arn" {
  description = "Runtime role of the ingestion Spark jobs (EMR Serverless executionRoleArn)."
  value       = aws_iam_role.ingestion.arn
}

output "publisher_role_arn" {
  description = "Runtime role of the publishing Spark jobs."
  value       = aws_iam_role.publisher.arn
}

output "analyst_role_arn" {
  description = "Role analysts assume to read gold."
  value       = aws_iam_role.analyst.arn
}

output "ai_team_role_arn" {
  description = "Role AI teams assume to read published."
  value       = aws_iam_role.ai_team.arn
}

output "unit_landing_role_arns" {
  description = "Landing upload role ARN per source unit id."
  value       = { for u, r in aws_iam_role.unit_landing : u => r.arn }
}
