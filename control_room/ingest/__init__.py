"""Ingest: classify, batch, commit, then acknowledge."""
