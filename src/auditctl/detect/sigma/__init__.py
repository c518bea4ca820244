"""Sigma rules: read with pySigma, compiled to DuckDB SQL by our backend, run as auditctl rules."""
