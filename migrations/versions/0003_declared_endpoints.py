"""Generation configs name declared endpoints; idempotency keys are scoped per API key.

Configs stored before this held a URL (or nothing) in ``endpoint``. Each becomes the name of an
endpoint the operator declares: ``local`` for the bundled model, ``default`` for the settings'
endpoint, the declared endpoint whose base URL matches, or ``undeclared`` for a URL nobody
declared (a submitter's choice; its unfinished sequences then fail with a clear error instead of
dialling it). Bundled model names are normalised to the short names the allow-list holds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDECLARED = "undeclared"

config = sa.table(
    "generation_config",
    sa.column("id", sa.BigInteger),
    sa.column("backend", sa.String),
    sa.column("endpoint", sa.String),
    sa.column("model", sa.String),
)


def _declared_urls() -> dict[str, str]:
    """Base URL → endpoint name, for the endpoints this deployment declares now."""
    from reflectseq.llm.endpoints import EndpointFileError, load_registry  # noqa: PLC0415
    from reflectseq.settings import Settings  # noqa: PLC0415

    try:
        registry = load_registry(Settings())
    except EndpointFileError:
        return {}
    return {e.base_url.rstrip("/"): e.name for e in registry.endpoints.values() if e.base_url}


def _name_endpoints() -> None:
    from reflectseq.llm import bundled_model_name  # noqa: PLC0415
    from reflectseq.llm.endpoints import DEFAULT_ENDPOINT, LOCAL_ENDPOINT  # noqa: PLC0415

    connection = op.get_bind()
    urls = _declared_urls()
    rows = connection.execute(
        sa.select(config.c.id, config.c.backend, config.c.endpoint, config.c.model)
    )
    for row_id, backend, endpoint, model in rows.all():
        if backend == "local":
            values = {"endpoint": LOCAL_ENDPOINT, "model": bundled_model_name(model, model)}
        elif not endpoint:
            values = {"endpoint": DEFAULT_ENDPOINT}
        else:
            values = {"endpoint": urls.get(endpoint.rstrip("/"), UNDECLARED)}
        connection.execute(sa.update(config).where(config.c.id == row_id).values(**values))


def upgrade() -> None:
    _name_endpoints()
    with op.batch_alter_table("generation_config") as batch:
        batch.alter_column("endpoint", existing_type=sa.String(length=500), nullable=False)
    with op.batch_alter_table("instruction_set") as batch:
        batch.drop_constraint("uq_instruction_set_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_instruction_set_submitted_by_key_id_idempotency_key",
            ["submitted_by_key_id", "idempotency_key"],
        )


def downgrade() -> None:
    # Names stay names: the URLs they replaced were dropped on purpose.
    with op.batch_alter_table("instruction_set") as batch:
        batch.drop_constraint(
            "uq_instruction_set_submitted_by_key_id_idempotency_key", type_="unique"
        )
        batch.create_unique_constraint("uq_instruction_set_idempotency_key", ["idempotency_key"])
    with op.batch_alter_table("generation_config") as batch:
        batch.alter_column("endpoint", existing_type=sa.String(length=500), nullable=True)
