data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  environment_name = "${var.name_prefix}-airflow"
  region           = data.aws_region.current.region
  arn_tail         = "${local.region}:${data.aws_caller_identity.current.account_id}"
  partition        = data.aws_partition.current.partition
}

data "aws_iam_policy_document" "mwaa_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# What MWAA itself needs (AWS's documented execution-role policy for a customer-managed key) plus
# submitting Spark jobs; the DAGs never touch lake data themselves, the Spark job roles do.
data "aws_iam_policy_document" "mwaa" {
  statement {
    sid       = "PublishAirflowMetrics"
    effect    = "Allow"
    actions   = ["airflow:PublishMetrics"]
    resources = ["arn:${local.partition}:airflow:${local.arn_tail}:environment/${local.environment_name}"]
  }
  statement {
    sid    = "CheckDagBucket"
    effect = "Allow"
    actions = [
      "s3:ListBucket",
      "s3:GetBucketLocation",
      "s3:GetBucketVersioning",
      "s3:GetBucketPublicAccessBlock",
      "s3:GetEncryptionConfiguration",
    ]
    resources = [var.source_bucket_arn]
  }
  statement {
    sid       = "ReadDags"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.source_bucket_arn}/${var.dag_s3_path}*"]
  }
  # MWAA refuses to start unless it can see the account's public access block; it has no resource ARN.
  statement {
    sid       = "CheckAccountPublicAccessBlock"
    effect    = "Allow"
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"]
  }
  statement {
    sid    = "WriteAirflowLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:CreateLogGroup",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:GetLogRecord",
      "logs:GetLogGroupFields",
      "logs:GetQueryResults",
    ]
    resources = ["arn:${local.partition}:logs:${local.arn_tail}:log-group:airflow-${local.environment_name}-*"]
  }
  statement {
    sid       = "FindLogGroups"
    effect    = "Allow"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.arn_tail}:log-group:*"]
  }
  # PutMetricData has no resource ARN; the namespace condition confines it to MWAA's metrics.
  statement {
    sid       = "PutAirflowMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["AmazonMWAA"]
    }
  }
  # The Celery queues live in an MWAA-owned account, hence the account wildcard.
  statement {
    sid    = "UseCeleryQueues"
    effect = "Allow"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:*:airflow-celery-*"]
  }
  statement {
    sid       = "UseLakeKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "SubmitSparkJobs"
    effect    = "Allow"
    actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetApplication", "emr-serverless:ListJobRuns"]
    resources = [var.emr_application_arn]
  }
  statement {
    sid       = "WatchSparkJobs"
    effect    = "Allow"
    actions   = ["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetDashboardForJobRun"]
    resources = ["${var.emr_application_arn}/jobruns/*"]
  }
  statement {
    sid       = "PassSparkJobRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = var.spark_job_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "mwaa" {
  name               = "${local.environment_name}-execution"
  description        = "MWAA execution role: read DAGs, write Airflow logs and metrics, submit Spark jobs."
  assume_role_policy = data.aws_iam_policy_document.mwaa_trust.json
}

resource "aws_iam_role_policy" "mwaa" {
  name   = "mwaa-execution"
  role   = aws_iam_role.mwaa.id
  policy = data.aws_iam_policy_document.mwaa.json
}
