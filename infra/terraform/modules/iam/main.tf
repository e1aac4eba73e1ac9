data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  arn_tail = "${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  glue     = "arn:${data.aws_partition.current.partition}:glue:${local.arn_tail}"

  bucket  = var.bucket_arns
  objects = { for zone, arn in var.bucket_arns : zone => "${arn}/*" }

  s3_list   = ["s3:ListBucket", "s3:GetBucketLocation"]
  s3_read   = ["s3:GetObject", "s3:GetObjectVersion"]
  s3_write  = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
  glue_read = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"]
  glue_write = [
    "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
    "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition",
  ]

  # Glue checks the catalog, the database and the tables on each call; Spark also looks up "default" at start.
  glue_db     = { for layer, db in var.glue_database_names : layer => ["${local.glue}:database/${db}", "${local.glue}:table/${db}/*"] }
  glue_common = ["${local.glue}:catalog", "${local.glue}:database/default"]

  # The key is used only through S3 and Glue, never directly.
  kms_via_services = ["s3.${data.aws_region.current.region}.amazonaws.com", "glue.${data.aws_region.current.region}.amazonaws.com"]
}

# Spark jobs on EMR Serverless assume the runtime roles; only our application may pass them in.
data "aws_iam_policy_document" "emr_serverless_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [var.emr_application_arn]
    }
  }
}

data "aws_iam_policy_document" "spark_job_logs" {
  statement {
    sid       = "WriteSparkLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.emr_log_group_arn}:*"]
  }
  statement {
    sid       = "FindSparkLogGroup"
    effect    = "Allow"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${data.aws_partition.current.partition}:logs:${local.arn_tail}:log-group:*"]
  }
  statement {
    sid       = "ReadJobCode"
    effect    = "Allow"
    actions   = local.s3_read
    resources = ["${local.bucket["artifacts"]}/${var.job_code_prefix}*"]
  }
  statement {
    sid       = "UseLakeKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }
}
