"""Detection: rules (YAML), their compilation to SQL, the built-in pack, and running them into findings."""
