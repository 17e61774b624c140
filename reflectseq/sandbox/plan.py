"""From a request to an execution plan: the concrete files, commands, limits and environment.

Both backends run plans, so the language table is interpreted in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflectseq.languages import Language, resolve_language
from reflectseq.sandbox.assembly import assemble
from reflectseq.sandbox.models import ExecutionRequest
from reflectseq.sandbox.verdict import new_sentinel


@dataclass(frozen=True)
class ExecutionPlan:
    """Everything a backend needs; paths in ``files`` are relative to the work directory."""

    language: Language
    files: dict[str, bytes]
    compile: list[str] | None
    run: list[str]
    compile_timeout: float
    run_timeout: float
    memory_mb: int
    stdin: bytes
    env: dict[str, str]
    program: str | None = None
    """The source assembled from the request's code and tests; ``None`` without tests."""
    sentinel: str | None = None
    """The end-of-tests line the program prints after its last test, if it has one."""

    @property
    def source(self) -> str:
        """The text of the program's source file, as the compiler sees it."""
        return self.files.get(self.language.file_name, b"").decode(errors="replace")


def _render(
    command: tuple[str, ...] | None, language: Language, memory_mb: int
) -> list[str] | None:
    if command is None:
        return None
    values = {"file": language.file_name, "memory_mb": str(memory_mb)}
    return [arg.format_map(values) for arg in command]


def loosened_limits(request: ExecutionRequest, *, default_memory_mb: int) -> list[tuple[str, str]]:
    """The limits of ``request`` that are looser than its language's defaults, with why.

    Interactive callers may tighten limits (a quicker timeout) but never loosen them: a longer
    timeout or a larger memory budget is a way to hold a shared slot longer or exhaust the host.
    """
    language = resolve_language(request.language)
    defaults = {
        "compile_timeout": language.compile_timeout,
        "run_timeout": language.run_timeout,
        "memory_mb": default_memory_mb,
    }
    asked = {
        "compile_timeout": request.compile_timeout,
        "run_timeout": request.run_timeout,
        "memory_mb": request.memory_mb,
    }
    return [
        (name, f"must be at most {defaults[name]:g}, the default for {language.code}")
        for name, value in asked.items()
        if value is not None and value > defaults[name]
    ]


def plan_execution(request: ExecutionRequest, *, default_memory_mb: int) -> ExecutionPlan:
    """Resolve the language, assemble code and tests, fill every limit left to the table."""
    language = resolve_language(request.language)
    memory_mb = request.memory_mb or default_memory_mb
    assembled = assemble(language, request.code, request.tests, new_sentinel())
    files = {path: text.encode() for path, text in request.files.items()}
    files[language.file_name] = assembled.program.encode()
    run = _render(language.run, language, memory_mb)
    assert run is not None
    return ExecutionPlan(
        language=language,
        files=files,
        compile=_render(language.compile, language, memory_mb),
        run=run,
        compile_timeout=request.compile_timeout or language.compile_timeout,
        run_timeout=request.run_timeout or language.run_timeout,
        memory_mb=memory_mb,
        stdin=(request.stdin or "").encode(),
        env=dict(language.env),
        program=assembled.program if request.tests else None,
        sentinel=assembled.sentinel,
    )
