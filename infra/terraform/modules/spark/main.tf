resource "aws_cloudwatch_log_group" "spark" {
  name              = "/aws/emr-serverless/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# The application holds no role: each job run names its runtime role (the ingestion or publisher
# role from the iam module), and those roles trust only this application.
resource "aws_emrserverless_application" "spark" {
  name          = "${var.name_prefix}-spark"
  release_label = var.release_label
  type          = "spark"
  architecture  = var.architecture

  maximum_capacity {
    cpu    = "${var.max_vcpu} vCPU"
    memory = "${var.max_memory_gb} GB"
    disk   = "${var.max_disk_gb} GB"
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  monitoring_configuration {
    cloudwatch_logging_configuration {
      enabled        = true
      log_group_name = aws_cloudwatch_log_group.spark.name
    }
  }
}
