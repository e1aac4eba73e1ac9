variable "name_prefix" {
  description = "Prefix of the environment and role names."
  type        = string
}

variable "airflow_version" {
  description = "Apache Airflow version of the MWAA environment; the DAGs are written for Airflow 3, so pick the newest 3.x MWAA offers."
  type        = string
  default     = "3.0.6"
}

variable "environment_class" {
  description = "MWAA environment class (mw1.micro, mw1.small, mw1.medium, mw1.large, ...)."
  type        = string
  default     = "mw1.small"
}

variable "min_workers" {
  description = "Workers kept running when idle."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Upper bound on workers: tasks only submit and watch Spark jobs, so few are needed."
  type        = number
  default     = 5
}

variable "source_bucket_arn" {
  description = "ARN of the bucket holding the DAGs (the artifacts bucket from the storage module)."
  type        = string
}

variable "dag_s3_path" {
  description = "Key prefix of the DAG folder in the source bucket."
  type        = string
  default     = "dags/"
}

variable "subnet_ids" {
  description = "Two private subnets in different availability zones for the environment."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 2
    error_message = "MWAA takes exactly two private subnets."
  }
}

variable "security_group_ids" {
  description = "Security groups of the environment; one must allow traffic between its own members."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "ARN of the lake's KMS key, used for the environment's data and logs."
  type        = string
}

variable "log_level" {
  description = "Level of the Airflow logs sent to CloudWatch."
  type        = string
  default     = "INFO"
}

variable "emr_application_arn" {
  description = "ARN of the EMR Serverless application the DAGs submit Spark jobs to."
  type        = string
}

variable "spark_job_role_arns" {
  description = "Runtime roles the DAGs may hand to EMR Serverless job runs (ingestion, publisher)."
  type        = list(string)
}
