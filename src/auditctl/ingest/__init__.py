"""Ingest: find files, choose parsers, parse (in parallel for large files), and store batches; the helpers parser plugins share."""
