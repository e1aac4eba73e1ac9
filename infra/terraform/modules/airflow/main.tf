resource "aws_mwaa_environment" "this" {
  name               = local.environment_name
  airflow_version    = var.airflow_version
  environment_class  = var.environment_class
  min_workers        = var.min_workers
  max_workers        = var.max_workers
  execution_role_arn = aws_iam_role.mwaa.arn
  kms_key            = var.kms_key_arn

  source_bucket_arn = var.source_bucket_arn
  dag_s3_path       = var.dag_s3_path

  # The UI is reached through the VPC (VPN or bastion), never from the internet.
  webserver_access_mode = "PRIVATE_ONLY"

  airflow_configuration_options = {
    "core.load_examples" = "false"
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = var.log_level
    }
    scheduler_logs {
      enabled   = true
      log_level = var.log_level
    }
    task_logs {
      enabled   = true
      log_level = var.log_level
    }
    webserver_logs {
      enabled   = true
      log_level = var.log_level
    }
    worker_logs {
      enabled   = true
      log_level = var.log_level
    }
  }

  # The execution policy must exist before MWAA first starts and checks its access.
  depends_on = [aws_iam_role_policy.mwaa]
}
