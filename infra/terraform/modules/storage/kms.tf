data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

# One customer-managed key for the whole lake: the roles' IAM policies name this key only, so a
# single key keeps every grant explicit while rotation and deletion stay in our hands.
resource "aws_kms_key" "lake" {
  description             = "${var.name_prefix} data lake: S3 zones, Glue catalog, Airflow and Spark logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.lake_key.json
}

resource "aws_kms_alias" "lake" {
  name          = "alias/${var.name_prefix}-lake"
  target_key_id = aws_kms_key.lake.key_id
}

# In a key policy, Resource "*" means "this key"; it cannot name the key's own ARN at creation.
data "aws_iam_policy_document" "lake_key" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" is this key alone; its administration must stay with the account so the key cannot be orphaned.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is this key alone; use is delegated to IAM policies that name the key ARN.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is this key alone; a key policy cannot name its own key's ARN before the key exists.

  # Administration stays with the account (no kms:* and no use here beyond delegation), so the key
  # cannot be orphaned; which principals may use it is decided by IAM policies naming the key ARN.
  statement {
    sid    = "AccountAdministersKey"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    actions = [
      "kms:Create*",
      "kms:Describe*",
      "kms:Enable*",
      "kms:List*",
      "kms:Put*",
      "kms:Update*",
      "kms:Revoke*",
      "kms:Disable*",
      "kms:Get*",
      "kms:Delete*",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:ScheduleKeyDeletion",
      "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "AccountDelegatesUseToIam"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
  }

  # CloudWatch Logs encrypts the MWAA and EMR Serverless log groups of this account with the key.
  statement {
    sid    = "CloudWatchLogsOfThisAccount"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
}
