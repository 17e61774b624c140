"""What an export is asked to produce: format, filters, compression, block rendering, escaping.

The API accepts this as a request body and the CLI builds it from options. The ``export`` row
stores the filters and the rendering in its ``filters`` document, so a worker can run the job
from the row alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reflectseq.db.models import Export
from reflectseq.enums import BlockRendering, ExportFormat
from reflectseq.export.filters import ExportFilters


class ExportSpec(BaseModel):
    """One export request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ExportFormat = ExportFormat.REFLECTION
    filters: ExportFilters = Field(default_factory=ExportFilters)
    gzip: bool = False
    rendering: BlockRendering = Field(
        default=BlockRendering.FENCES,
        description="How openai and sharegpt render blocks; ignored by reflection and generation.",
    )
    escape_special_tokens: bool = Field(
        default=False,
        description="Escape special-token strings inside contents (a zero-width space after "
        "their first character), so a trainer that tokenizes the serialized record, such as "
        "the paper's, reads them as text.",
    )

    def stored_options(self) -> dict[str, Any]:
        """The document kept in ``export.filters``."""
        return {
            "filters": self.filters.model_dump(mode="json"),
            "rendering": self.rendering.value,
            "escape_special_tokens": self.escape_special_tokens,
        }

    @classmethod
    def of_export(cls, export: Export) -> ExportSpec:
        """The spec an ``export`` row was created from."""
        return cls(
            format=export.format,
            filters=ExportFilters.model_validate(export.filters.get("filters", {})),
            gzip=export.gzip,
            rendering=BlockRendering(export.filters.get("rendering", BlockRendering.FENCES)),
            escape_special_tokens=export.filters.get("escape_special_tokens", False),
        )
