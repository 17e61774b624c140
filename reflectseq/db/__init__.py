"""Persistence: the SQLAlchemy model, engines/sessions and the Alembic migration entry points."""
