locals {
  # "artifacts" holds DAGs (the MWAA source bucket) and Spark job code; it gets the same hardening.
  buckets = toset(concat(var.zones, ["artifacts"]))
  # Current objects expire only here. Landing: the pipeline moves every processed file out, so this
  # clears what nobody picked up. Quarantine: kept for investigation, then gone. Other zones keep
  # current data until the pipeline itself removes it (Delta VACUUM).
  current_object_expiry_days = {
    landing    = var.landing_expiry_days
    quarantine = var.quarantine_retention_days
  }
}

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144:Single-region by design: landing is re-sendable by source units and every later zone is rebuilt from it by the pipeline; versioning covers accidental deletes.
  for_each = local.buckets
  bucket   = "${var.name_prefix}-${each.key}"

  tags = {
    Zone = each.key
  }
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.lake.arn
    }
    # One data key per bucket instead of per object: far fewer KMS calls for Spark's many small files.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

# EventBridge gets every object event: landing arrivals can start ingestion, and the rest feed audit.
resource "aws_s3_bucket_notification" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  eventbridge = true
}

data "aws_iam_policy_document" "lake_bucket" {
  for_each = aws_s3_bucket.lake

  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id
  policy   = data.aws_iam_policy_document.lake_bucket[each.key].json

  # A bucket policy put before the public access block can be judged against the old settings.
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.lake[each.key].id

  rule {
    id     = "noncurrent-versions-and-stale-uploads"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_upload_days
    }
  }

  # Only landing and quarantine expire current objects (see local.current_object_expiry_days).
  dynamic "rule" {
    for_each = contains(keys(local.current_object_expiry_days), each.key) ? [local.current_object_expiry_days[each.key]] : []
    content {
      id     = "expire-${each.key}-objects"
      status = "Enabled"
      filter {}

      expiration {
        days = rule.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}
