"""Alembic migration environment of reflectseq (run through ``reflectseq db``)."""
