# ---- ingestion: landing -> bronze -> silver, rejects to quarantine, run records to system ----

data "aws_iam_policy_document" "ingestion" {
  source_policy_documents = [data.aws_iam_policy_document.spark_job_logs.json]

  statement {
    sid       = "ListIngestionBuckets"
    effect    = "Allow"
    actions   = local.s3_list
    resources = [for z in ["landing", "bronze", "silver", "quarantine", "system", "restricted"] : local.bucket[z]]
  }
  statement {
    sid       = "ReadLanding"
    effect    = "Allow"
    actions   = local.s3_read
    resources = [local.objects["landing"]]
  }
  # `citylake` tidy moves processed files out of landing (to bronze/_landed or quarantine): a copy plus a delete.
  statement {
    sid       = "MoveProcessedFilesOutOfLanding"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = [local.objects["landing"]]
  }
  # restricted: silver keeps restricted subjects' rows there (PIPL 47(2)); no reader persona has it
  statement {
    sid       = "WriteIngestionZones"
    effect    = "Allow"
    actions   = concat(local.s3_read, local.s3_write)
    resources = [for z in ["bronze", "silver", "quarantine", "system", "restricted"] : local.objects[z]]
  }
  statement {
    sid       = "ReadCatalog"
    effect    = "Allow"
    actions   = local.glue_read
    resources = concat(local.glue_common, flatten([for l in ["bronze", "silver", "quarantine", "ops"] : local.glue_db[l]]))
  }
  statement {
    sid       = "RegisterIngestionTables"
    effect    = "Allow"
    actions   = local.glue_write
    resources = concat([local.glue_common[0]], flatten([for l in ["bronze", "silver", "quarantine", "ops"] : local.glue_db[l]]))
  }
}

resource "aws_iam_role" "ingestion" {
  name               = "${var.name_prefix}-ingestion"
  description        = "Spark ingestion jobs: read landing, write bronze, silver, quarantine and system."
  assume_role_policy = data.aws_iam_policy_document.emr_serverless_trust.json
}

resource "aws_iam_role_policy" "ingestion" {
  name   = "lake-access"
  role   = aws_iam_role.ingestion.id
  policy = data.aws_iam_policy_document.ingestion.json
}

# ---- publishers: silver -> gold and published, publication records to system ----

data "aws_iam_policy_document" "publisher" {
  source_policy_documents = [data.aws_iam_policy_document.spark_job_logs.json]

  statement {
    sid       = "ListPublishingBuckets"
    effect    = "Allow"
    actions   = local.s3_list
    resources = [for z in ["silver", "gold", "published", "system"] : local.bucket[z]]
  }
  statement {
    sid       = "ReadSilver"
    effect    = "Allow"
    actions   = local.s3_read
    resources = [local.objects["silver"]]
  }
  statement {
    sid       = "WritePublishingZones"
    effect    = "Allow"
    actions   = concat(local.s3_read, local.s3_write)
    resources = [for z in ["gold", "published", "system"] : local.objects[z]]
  }
  statement {
    sid       = "ReadCatalog"
    effect    = "Allow"
    actions   = local.glue_read
    resources = concat(local.glue_common, flatten([for l in ["silver", "gold", "published", "ops"] : local.glue_db[l]]))
  }
  statement {
    sid       = "RegisterPublishedTables"
    effect    = "Allow"
    actions   = local.glue_write
    resources = concat([local.glue_common[0]], flatten([for l in ["gold", "published", "ops"] : local.glue_db[l]]))
  }
}

resource "aws_iam_role" "publisher" {
  name               = "${var.name_prefix}-publisher"
  description        = "Spark publishing jobs: read silver, write gold, published and system."
  assume_role_policy = data.aws_iam_policy_document.emr_serverless_trust.json
}

resource "aws_iam_role_policy" "publisher" {
  name   = "lake-access"
  role   = aws_iam_role.publisher.id
  policy = data.aws_iam_policy_document.publisher.json
}

# ---- analysts: read gold through the catalog ----

data "aws_iam_policy_document" "analyst_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.analyst_principal_arns
    }
  }
}

data "aws_iam_policy_document" "analyst" {
  statement {
    sid       = "ListGold"
    effect    = "Allow"
    actions   = local.s3_list
    resources = [local.bucket["gold"]]
  }
  statement {
    sid       = "ReadGold"
    effect    = "Allow"
    actions   = local.s3_read
    resources = [local.objects["gold"]]
  }
  statement {
    sid       = "ReadGoldCatalog"
    effect    = "Allow"
    actions   = local.glue_read
    resources = concat([local.glue_common[0]], local.glue_db["gold"])
  }
  # Readers only decrypt; nothing they may do writes data.
  statement {
    sid       = "DecryptWithLakeKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }
}

resource "aws_iam_role" "analyst" {
  name               = "${var.name_prefix}-analyst"
  description        = "Analysts: read gold tables and their Glue catalog entries."
  assume_role_policy = data.aws_iam_policy_document.analyst_trust.json
}

resource "aws_iam_role_policy" "analyst" {
  name   = "lake-access"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analyst.json
}

# ---- AI teams: read published ----

data "aws_iam_policy_document" "ai_team_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.ai_team_principal_arns
    }
  }
}

data "aws_iam_policy_document" "ai_team" {
  statement {
    sid       = "ListPublished"
    effect    = "Allow"
    actions   = local.s3_list
    resources = [local.bucket["published"]]
  }
  statement {
    sid       = "ReadPublished"
    effect    = "Allow"
    actions   = local.s3_read
    resources = [local.objects["published"]]
  }
  statement {
    sid       = "ReadPublishedCatalog"
    effect    = "Allow"
    actions   = local.glue_read
    resources = concat([local.glue_common[0]], local.glue_db["published"])
  }
  statement {
    sid       = "DecryptWithLakeKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }
}

resource "aws_iam_role" "ai_team" {
  name               = "${var.name_prefix}-ai-teams"
  description        = "AI teams: read the published zone."
  assume_role_policy = data.aws_iam_policy_document.ai_team_trust.json
}

resource "aws_iam_role_policy" "ai_team" {
  name   = "lake-access"
  role   = aws_iam_role.ai_team.id
  policy = data.aws_iam_policy_document.ai_team.json
}
