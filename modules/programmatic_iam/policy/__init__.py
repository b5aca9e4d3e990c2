"""Policy documents: sources, catalogue checks, normalisation and IAM's size limit."""
