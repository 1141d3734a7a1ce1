"""WRITE: a migration plan to files (Terraform, Bicep, the report), in memory."""
