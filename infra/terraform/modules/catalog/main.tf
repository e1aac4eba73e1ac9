locals {
  # Layer -> zone bucket. "ops" holds the _system tables (runs, ledger, dq results), as citylake.catalog
  # names them; quarantine is a layer of its own there too.
  database_zones = {
    bronze     = "bronze"
    silver     = "silver"
    gold       = "gold"
    published  = "published"
    quarantine = "quarantine"
    ops        = "system"
  }
  # Glue database names allow no hyphen.
  database_names = { for layer, _ in local.database_zones : layer => "${replace(var.name_prefix, "-", "_")}_${layer}" }
}

resource "aws_glue_catalog_database" "layer" {
  for_each = local.database_zones

  name         = local.database_names[each.key]
  description  = "citylake ${each.key} tables (Delta) in s3://${var.bucket_names[each.value]}/"
  location_uri = "s3://${var.bucket_names[each.value]}/"
}

# Table definitions can name columns of personal data: encrypt them and any connection passwords.
resource "aws_glue_data_catalog_encryption_settings" "this" {
  data_catalog_encryption_settings {
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = var.kms_key_arn
    }
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = var.kms_key_arn
    }
  }
}
