"""Request and result shapes of the sandbox (DESIGN.md section 3, "Sandbox").

They mirror SandboxFusion's ``run_code`` shape closely enough that results stay comparable with
common RL and evaluation tooling, with a richer status vocabulary.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, computed_field, field_validator

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import resolve_language

MAX_CODE_BYTES = 1_000_000


class ExecutionRequest(BaseModel):
    """What to run: source code in a language of the table, extra files, stdin and limits.

    With ``tests``, the program is the code followed by the tests, assembled under the
    language's rules (the model's own driver dropped where the tests bring theirs), and it passes
    only if the tests run to their end. Limits left unset take the language table's defaults.
    """

    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=1, max_length=16)
    code: str = Field(max_length=MAX_CODE_BYTES)
    tests: str | None = Field(
        default=None,
        max_length=MAX_CODE_BYTES,
        description="Tests appended after the code (MultiPL-E style); they bring the driver.",
    )
    files: dict[str, str] = Field(
        default_factory=dict, description="Extra files (relative path -> text) beside the code."
    )
    stdin: str | None = None
    compile_timeout: float | None = Field(default=None, gt=0, le=600)
    run_timeout: float | None = Field(default=None, gt=0, le=600)
    memory_mb: int | None = Field(default=None, ge=16, le=65_536)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        """Accept codes, fence tags and aliases ('python'); store the table's code ('py')."""
        try:
            return resolve_language(value).code
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        """Extra files land in the work directory: no absolute paths, no way out of it."""
        for name in files:
            path = PurePosixPath(name)
            if not name or path.is_absolute() or ".." in path.parts or "\x00" in name:
                raise ValueError(f"file path {name!r} must be relative and stay in the work dir")
        return files


class StepResult(BaseModel):
    """Outcome of one process (the compile step or the run step)."""

    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    truncated: bool = False
    timed_out: bool = False


class ExecutionResult(BaseModel):
    """The verdict and the evidence. ``compile`` is absent for interpreted languages.

    ``status`` is reflectseq's verdict: MultiPL-E's per-language rule, and for a run with tests
    also the end-of-tests line on stdout. ``multipl_e_status`` is the rule alone, the verdict
    published pass rates use.
    """

    status: ExecutionStatus
    multipl_e_status: ExecutionStatus = Field(
        default=None,
        validate_default=True,
        description="MultiPL-E's verdict (exit code and output patterns) without the "
        "end-of-tests check; equals status unless that check failed the run.",
    )
    compile: StepResult | None = None
    run: StepResult | None = None
    message: str | None = Field(
        default=None,
        description="Why the sandbox could not run the program, or why it did not pass.",
    )
    stderr_error: str | None = Field(
        default=None, description="The first line of a passed run's stderr that reads as an error."
    )
    program: str | None = Field(
        default=None, description="The source that ran, when it was assembled from code and tests."
    )

    @field_validator("multipl_e_status", mode="before")
    @classmethod
    def _same_verdict_unless_told(cls, value: object, info: ValidationInfo) -> object:
        return info.data.get("status") if value is None else value

    @property
    def passed(self) -> bool:
        """True when the program ran and its tests passed under the language's pass rule."""
        return self.status == ExecutionStatus.PASSED

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed_with_errors(self) -> bool:
        """Passed, but stderr carries an error (a quality flag: not a clean pass)."""
        return self.passed and self.stderr_error is not None
