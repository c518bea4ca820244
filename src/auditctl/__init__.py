"""auditctl: collect audit logs from everywhere into one schema in DuckDB, and search them."""

__version__ = "0.1.0"
