provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

locals {
  name_prefix = "${var.project}-${var.environment}"
}

module "storage" {
  source = "./modules/storage"

  name_prefix               = local.name_prefix
  landing_expiry_days       = var.landing_expiry_days
  quarantine_retention_days = var.quarantine_retention_days
}

module "catalog" {
  source = "./modules/catalog"

  name_prefix  = local.name_prefix
  bucket_names = module.storage.bucket_names
  kms_key_arn  = module.storage.kms_key_arn
}

module "spark" {
  source = "./modules/spark"

  name_prefix        = local.name_prefix
  release_label      = var.emr_release_label
  max_vcpu           = var.spark_max_vcpu
  max_memory_gb      = var.spark_max_memory_gb
  subnet_ids         = var.private_subnet_ids
  security_group_ids = var.spark_security_group_ids
  kms_key_arn        = module.storage.kms_key_arn
}

module "iam" {
  source = "./modules/iam"

  name_prefix                     = local.name_prefix
  bucket_arns                     = module.storage.bucket_arns
  kms_key_arn                     = module.storage.kms_key_arn
  glue_database_names             = module.catalog.database_names
  emr_application_arn             = module.spark.application_arn
  emr_log_group_arn               = module.spark.log_group_arn
  source_units                    = var.source_units
  landing_uploader_principal_arns = var.landing_uploader_principal_arns
  analyst_principal_arns          = var.analyst_principal_arns
  ai_team_principal_arns          = var.ai_team_principal_arns
}

module "airflow" {
  source = "./modules/airflow"

  name_prefix         = local.name_prefix
  airflow_version     = var.airflow_version
  environment_class   = var.airflow_environment_class
  source_bucket_arn   = module.storage.bucket_arns["artifacts"]
  dag_s3_path         = var.dag_s3_path
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = var.airflow_security_group_ids
  kms_key_arn         = module.storage.kms_key_arn
  emr_application_arn = module.spark.application_arn
  spark_job_role_arns = [module.iam.ingestion_role_arn, module.iam.publisher_role_arn]
}
