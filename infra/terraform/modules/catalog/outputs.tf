output "database_names" {
  description = "Glue database name per layer (bronze, silver, gold, published, quarantine, ops)."
  value       = { for layer, db in aws_glue_catalog_database.layer : layer => db.name }
}
