"""Leaving the hot store: retention to Parquet archives, and export to SIEM formats."""
