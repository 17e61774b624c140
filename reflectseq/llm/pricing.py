"""Cost of a call from a configurable price table (US dollars per million tokens).

The table is a TOML file so that prices can be updated without a release::

    [models."gpt-4o-mini"]
    input = 0.15
    output = 0.60

Models missing from the table cost 0: local and self-hosted models have no per-token price.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PER_MILLION = 1_000_000


class PriceTableError(ValueError):
    """The price table file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Price:
    """Dollars per million input and output tokens."""

    input: float
    output: float


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name."""

    prices: dict[str, Price] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Read a TOML price table; ``None`` is the empty table."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PriceTableError(f"price table {path}: {error}") from error
        prices: dict[str, Price] = {}
        for name, entry in data.get("models", {}).items():
            try:
                prices[name] = Price(input=float(entry["input"]), output=float(entry["output"]))
            except (KeyError, TypeError, ValueError) as error:
                raise PriceTableError(
                    f"price table {path}: models.{name!r} needs numeric 'input' and 'output'"
                ) from error
        return cls(prices)

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        """Dollars for one call."""
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (tokens_in * price.input + tokens_out * price.output) / PER_MILLION
