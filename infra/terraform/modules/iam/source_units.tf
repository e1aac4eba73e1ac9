# One role per source unit rather than one shared role scoped by an aws:PrincipalTag/unit_id
# condition: a unit's access then never depends on who may set session tags, CloudTrail names the
# unit in every call, and one unit can be cut off without touching the others. ~200 roles stay
# well inside the IAM roles-per-account quota.

locals {
  # IAM role names stop at 64 characters; long unit ids fall back to a stable hash (the tag keeps the id).
  unit_role_names = {
    for u in var.source_units : u => (
      length("${var.name_prefix}-landing-${u}") <= 64
      ? "${var.name_prefix}-landing-${u}"
      : "${var.name_prefix}-landing-${substr(sha256(u), 0, 16)}"
    )
  }
}

data "aws_iam_policy_document" "unit_landing_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.landing_uploader_principal_arns
    }
  }
}

# Landing keys are <unit>/<feed>/<date>/<file> (citylake.lake.Lake.landing_dir): a unit writes
# under its own id only, and can neither read, list nor delete anything.
data "aws_iam_policy_document" "unit_landing" {
  for_each = toset(var.source_units)

  statement {
    sid       = "PutOwnLandingPrefixOnly"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket["landing"]}/${each.key}/*"]
  }
  # SSE-KMS uploads need a data key (GenerateDataKey) and, for multipart uploads, Decrypt.
  statement {
    sid       = "EncryptUploadsWithLakeKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "unit_landing" {
  for_each = toset(var.source_units)

  name               = local.unit_role_names[each.key]
  description        = "Source unit ${each.key}: upload feed files under landing/${each.key}/ only."
  assume_role_policy = data.aws_iam_policy_document.unit_landing_trust.json

  tags = {
    UnitId = each.key
  }
}

resource "aws_iam_role_policy" "unit_landing" {
  for_each = toset(var.source_units)

  name   = "landing-upload"
  role   = aws_iam_role.unit_landing[each.key].id
  policy = data.aws_iam_policy_document.unit_landing[each.key].json
}
