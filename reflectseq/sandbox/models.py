"""Request and result shapes of the sandbox (DESIGN.md section 3, "Sandbox").

They mirror SandboxFusion's ``run_code`` shape closely enough that results stay comparable with
common RL and evaluation tooling, with a richer status vocabulary.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from reflectseq.enums import ExecutionStatus

MAX_CODE_BYTES = 1_000_000


class ExecutionRequest(BaseModel):
    """What to run: source code in a language of the table, extra files, stdin and limits.

    Limits left unset take the language's defaults from the language table.
    """

    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=1, max_length=16)
    code: str = Field(max_length=MAX_CODE_BYTES)
    files: dict[str, str] = Field(
        default_factory=dict, description="Extra files (relative path -> text) beside the code."
    )
    stdin: str | None = None
    compile_timeout: float | None = Field(default=None, gt=0, le=600)
    run_timeout: float | None = Field(default=None, gt=0, le=600)
    memory_mb: int | None = Field(default=None, ge=16, le=65_536)


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
    """The verdict and the evidence. ``compile`` is absent for interpreted languages."""

    status: ExecutionStatus
    compile: StepResult | None = None
    run: StepResult | None = None
    message: str | None = Field(
        default=None, description="Why the sandbox itself could not run the program, if so."
    )

    @property
    def passed(self) -> bool:
        """True when the program ran and its tests passed under the language's pass rule."""
        return self.status == ExecutionStatus.PASSED
