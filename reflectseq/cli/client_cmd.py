"""``reflectseq submit`` and ``reflectseq status``: talk to a running API over HTTP.

They use only httpx, so a client machine needs neither the database nor the web framework;
``REFLECTSEQ_API_URL`` and ``REFLECTSEQ_API_KEY`` say where and as whom.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from reflectseq.cli.mapping_options import FieldOption, LanguageOption, PresetOption
from reflectseq.ingest.records import MEDIA_TYPE_OF, InputFormat, format_of_path

if TYPE_CHECKING:
    import httpx

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 600.0
# What a duplicate's position counts in each format (JSONL and CSV count lines).
POSITION_UNITS = {InputFormat.JSON: "item", InputFormat.PARQUET: "row"}


def _client(api_url: str | None, api_key: str | None) -> httpx.Client:
    import httpx

    from reflectseq.settings import get_settings

    settings = get_settings()
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not key:
        typer.echo("error: no API key; set REFLECTSEQ_API_KEY or pass --api-key", err=True)
        raise typer.Exit(2)
    return httpx.Client(
        base_url=api_url or settings.api_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
    )


def _fail(response: httpx.Response) -> typer.Exit:
    """Print the API's error (with each line/field problem) and pick the exit status."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        typer.echo(f"error: HTTP {response.status_code}: {response.text[:500]}", err=True)
        return typer.Exit(1)
    typer.echo(f"error ({response.status_code} {error['code']}): {error['message']}", err=True)
    for detail in error.get("details", []):
        where = " ".join(
            part
            for part in (
                f"line {detail['line']}" if detail.get("line") is not None else "",
                f"row {detail['row']}" if detail.get("row") is not None else "",
                detail.get("field") or "",
            )
            if part
        )
        typer.echo(
            f"  {where}: {detail['message']}" if where else f"  {detail['message']}", err=True
        )
    return typer.Exit(1)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _print_progress(body: dict[str, Any]) -> None:
    progress = body.get("progress", body)
    counts = ", ".join(f"{status} {n}" for status, n in progress["by_status"].items() if n)
    rate = progress["pass_rate"]
    typer.echo(
        f"{progress['total']} sequences ({counts or 'none'}); rounds {progress['rounds']}, "
        f"tokens {progress['tokens_in']}+{progress['tokens_out']}, cost {progress['cost']:.4f}, "
        f"pass rate {'-' if rate is None else f'{rate:.1%}'}"
    )


def _config_json(path: Path) -> str:
    """The generation config file as compact JSON; a clear error (exit 2) if it is not a JSON
    object, before anything is uploaded."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        typer.echo(f"error: --config {path}: not a readable JSON file ({error})", err=True)
        raise typer.Exit(2) from error
    if not isinstance(document, dict):
        typer.echo(f"error: --config {path}: must hold a JSON object", err=True)
        raise typer.Exit(2)
    return json.dumps(document)


def submit(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="Instruction file: .jsonl (one a line), .json (an array), .csv or .parquet.",
    ),
    name: str = typer.Option("", help="Set name (default: the file name)."),
    config: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="Generation config as a JSON file."
    ),
    idempotency_key: str | None = typer.Option(
        None, help="Retrying with the same key returns the first result instead of a new set."
    ),
    api_url: str | None = typer.Option(None, help="API base URL (default REFLECTSEQ_API_URL)."),
    api_key: str | None = typer.Option(None, help="API key (default REFLECTSEQ_API_KEY)."),
    preset: str | None = PresetOption,
    fields: list[str] = FieldOption,
    language: str | None = LanguageOption,
) -> None:
    """Submit an instruction file as one set (streamed) and print its id.

    The server reads and maps the file; the mapping options are checked here first, so a typo
    fails before the upload.
    """
    from reflectseq.ingest.mapping import FieldMapping, MappingError  # the language table: slow

    try:
        FieldMapping.from_options(preset=preset, fields=fields, language=language)
    except MappingError as error:
        typer.echo(f"error: --{error.option}: {error.message}", err=True)
        raise typer.Exit(2) from error
    params: dict[str, str | list[str]] = {"name": name or file.stem}
    if config is not None:
        params["generation_config"] = _config_json(config)
    if preset:
        params["preset"] = preset
    if fields:
        params["field"] = fields
    if language:
        params["language"] = language
    headers = {"Content-Type": MEDIA_TYPE_OF[format_of_path(file)]}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with _client(api_url, api_key) as client:
        response = client.post(
            "/v1/instruction-sets", params=params, content=_chunks(file), headers=headers
        )
    if response.status_code not in (200, 201):
        raise _fail(response)
    body = response.json()
    replay = " (an earlier submission with this key)" if response.status_code == 200 else ""
    typer.echo(
        f"set {body['id']}{replay}: {body['instruction_count']} instructions, "
        f"{body['duplicate_count']} duplicates skipped"
    )
    unit = POSITION_UNITS.get(format_of_path(file), "line")
    for duplicate in body["duplicates"][:20]:
        typer.echo(f"  {unit} {duplicate['position']} repeats {unit} {duplicate['duplicate_of']}")


def status(
    set_id: int = typer.Argument(..., min=1, help="Instruction set id."),
    watch: bool = typer.Option(False, help="Follow progress until the set is finished."),
    api_url: str | None = typer.Option(None, help="API base URL (default REFLECTSEQ_API_URL)."),
    api_key: str | None = typer.Option(None, help="API key (default REFLECTSEQ_API_KEY)."),
) -> None:
    """Print a set's progress: counts by status, rounds, tokens, cost and pass rate."""
    with _client(api_url, api_key) as client:
        response = client.get(f"/v1/instruction-sets/{set_id}")
        if response.status_code != 200:
            raise _fail(response)
        body = response.json()
        typer.echo(f"set {body['id']} {body['name']!r}")
        _print_progress(body)
        if not watch or body["progress"]["finished"]:
            return
        with client.stream("GET", f"/v1/instruction-sets/{set_id}/events") as stream:
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "progress":
                    _print_progress(json.loads(line.removeprefix("data: ")))
