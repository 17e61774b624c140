"""Persistence: the SQLAlchemy model, engines/sessions and the Alembic migration entry points.

Importing the package registers every table on the one metadata: the core tables
(``models``) and the dashboard's (``review_models``: sessions, block edits, audit log), which
refer to core tables but are never referred to by name from them at import time.
"""

from reflectseq.db import models, review_models

__all__ = ["models", "review_models"]
