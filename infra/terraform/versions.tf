terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Partial backend: bucket, key, region and locking come from the operator's
  # `terraform init -backend-config=...`, so no state location or credential lives here.
  backend "s3" {}
}
