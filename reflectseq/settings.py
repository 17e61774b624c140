"""Runtime configuration, read from ``REFLECTSEQ_*`` environment variables (and a ``.env`` file).

Every default works embedded: a SQLite file in the per-user data directory and no message broker,
so ``reflectseq run`` needs no service on a fresh machine. A deployment points ``database_url`` at
Postgres and ``redis_url`` at Redis; nothing else changes.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "REFLECTSEQ_"
# bubblewrap cannot map a host uid of 2**31 or above into the sandbox's user namespace.
MAX_SANDBOX_UID = 2**31 - 1
# Warm sandboxes (reflectseq/sandbox/warm.py) take their uids from a range of their own above the
# slots': sandbox_uid_base + WARM_UID_OFFSET + i for i below WARM_UIDS, over all processes.
WARM_UID_OFFSET = 100_000
WARM_UIDS = 1024


def _default_data_dir() -> Path:
    return user_data_path("reflectseq", appauthor=False)


class Settings(BaseSettings):
    """All knobs of reflectseq. Field descriptions are the configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Directory for the embedded SQLite database, exports and model caches.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of the database. Empty means the embedded SQLite file "
            "`<data_dir>/reflectseq.db`. Postgres: `postgresql+psycopg://user:pw@host/db`."
        ),
    )
    database_echo: bool = Field(default=False, description="Log every SQL statement.")
    redis_url: str = Field(
        default="",
        description=(
            "Redis URL used as Celery broker, result store and shared rate limiter. Empty means "
            "embedded mode: no broker, sequences run in a local process pool."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of every reflectseq process."
    )
    log_json: bool = Field(default=False, description="Emit logs as one JSON object per line.")
    api_host: str = Field(default="127.0.0.1", description="Address `reflectseq serve` binds to.")
    api_port: int = Field(
        default=8000, ge=1, le=65535, description="Port `reflectseq serve` binds."
    )
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL the client commands (`submit`, `status`) talk to.",
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key the client commands send as `Authorization: Bearer`."
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Largest request body the API accepts (bytes); larger ones get 413.",
    )
    api_key_cache_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "How long an API process trusts a key it verified before checking the database again "
            "(seconds); a revoked key keeps working that long at most. 0 checks every request."
        ),
    )
    sequence_cache_mb: int = Field(
        default=64,
        ge=0,
        le=65536,
        description=(
            "Memory each API process gives to serialized finished sequences for "
            "`GET /v1/sequences/{id}` (MiB); 0 builds every response from the database."
        ),
    )
    sse_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the progress event stream re-reads a set's counts (seconds).",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Secret signing dashboard sessions and CSRF tokens. Empty means a random key kept in "
            "`<data_dir>/secret_key` (fine for one host; set it explicitly for several API hosts)."
        ),
    )
    review_overlap: int = Field(
        default=1,
        ge=1,
        le=10,
        description=(
            "How many reviewers judge each sequence in the dashboard; 2 or more lets the "
            "progress page measure agreement (Cohen's kappa) and shows a conflict view."
        ),
    )
    review_claim_minutes: float = Field(
        default=30.0,
        gt=0,
        le=7 * 24 * 60,
        description=(
            "How long taking a sequence from the review queue holds it for that reviewer; an "
            "undecided claim older than this is released for others (drafts are kept)."
        ),
    )
    review_session_hours: float = Field(
        default=12.0, gt=0, description="How long a dashboard login lasts without logging in again."
    )
    review_cookie_secure: bool = Field(
        default=False,
        description="Send the dashboard's cookies over HTTPS only (set it behind TLS).",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed dashboard logins for one username until it is locked (429 with Retry-After); "
            "each further failure doubles the lock."
        ),
    )
    login_max_failures_per_client: int = Field(
        default=20,
        ge=1,
        description="Failed dashboard logins from one client address (IPv6: its /64) until a lock.",
    )
    login_lockout_s: float = Field(
        default=30.0, gt=0, description="First lock after too many failed logins (seconds)."
    )
    login_lockout_max_s: float = Field(
        default=900.0,
        gt=0,
        description=(
            "Longest lock after failed logins (seconds); failures are forgotten after this long "
            "without one."
        ),
    )
    login_hash_concurrency: int = Field(
        default=2,
        ge=1,
        description=(
            "Password verifications at once per API process (argon2id takes 64 MiB each); a "
            "login finding them all busy for 2 s gets 503."
        ),
    )

    # --- LLM and reflection loop (workers/) ---
    llm_endpoints_file: Path | None = Field(
        default=None,
        description=(
            "TOML file declaring the LLM endpoints submissions may name (`[endpoints.NAME]`: "
            "base_url, api_key_env, models, limits, prices); see docs/endpoints.md."
        ),
    )
    llm_default_endpoint: str = Field(
        default="",
        description=(
            "Endpoint a submission without `endpoint` uses. Empty: `default` when the backend "
            "setting is `openai`, else `local` (the bundled model)."
        ),
    )
    llm_backend: Literal["local", "openai"] = Field(
        default="local",
        description=(
            "Which built-in endpoint is the default: the bundled offline model (`local`) or the "
            "`default` endpoint of the settings below (`openai`)."
        ),
    )
    llm_base_url: str = Field(
        default="",
        description="Base URL of the `default` endpoint (OpenAI-compatible; empty: OpenAI's).",
    )
    llm_api_key: SecretStr = Field(
        default=SecretStr(""), description="API key of the `default` endpoint (sent only there)."
    )
    llm_model: str = Field(default="", description="The model the `default` endpoint allows.")
    llm_extra_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every LLM request (JSON)."
    )
    llm_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Longest silence inside a streamed answer: no token for this long gives the request "
            "up, closes its stream (the server stops generating) and retries it."
        ),
    )
    llm_first_token_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Longest wait for the first token of an answer: the server's queue plus reading the "
            "prompt. A request that misses it is given up and retried like a silent one."
        ),
    )
    llm_max_retries: int = Field(
        default=6, ge=0, description="Retries of a transient LLM failure (429, 5xx, timeout)."
    )
    llm_backoff_base_s: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles per retry, with full jitter."
    )
    llm_backoff_max_s: float = Field(default=60.0, gt=0, description="Longest retry delay.")
    llm_requests_per_minute: int = Field(
        default=0, ge=0, description="Requests per minute over all workers (0: unlimited)."
    )
    llm_tokens_per_minute: int = Field(
        default=0, ge=0, description="Tokens per minute over all workers (0: unlimited)."
    )
    llm_max_concurrency: int = Field(
        default=0,
        ge=0,
        description=(
            "Requests in flight at once over all workers (0: unlimited). Below it each worker "
            "finds its own number by AIMD (docs/loop.md)."
        ),
    )
    llm_fail_fast_after: int = Field(
        default=3,
        ge=1,
        description=(
            "Consecutive calls that show the endpoint failing (bad key, unknown model, errors "
            "and timeouts still failing after the retries) after which every sequence of the run "
            "fails at once instead of trying each one. A request refused for what it asked "
            "(HTTP 400, a prompt too long) never counts."
        ),
    )
    llm_price_table: Path | None = Field(
        default=None,
        description=(
            'TOML file of prices per million tokens, `[models."NAME"] input = 0.15, output = '
            "0.6`; unknown models cost 0."
        ),
    )
    local_model: Literal["qwen2.5-coder-0.5b", "smollm2-135m"] = Field(
        default="qwen2.5-coder-0.5b", description="The bundled offline model (`local-llm` extra)."
    )
    local_threads: int = Field(
        default=0, ge=0, description="CPU threads of the local model (0: all cores)."
    )
    local_context_tokens: int = Field(
        default=8192, ge=512, description="Context window of the local model."
    )
    worker_concurrency: int = Field(
        default=64,
        ge=1,
        description=(
            "Sequences in flight at once in one worker process or `run` (threads: they mostly "
            "wait on the model; how many LLM requests each endpoint gets is found by AIMD)."
        ),
    )
    celery_queue: str = Field(default="reflectseq", description="Celery queue of loop tasks.")
    reaper_interval_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How often the reaper looks for abandoned sequences. One worker of the fleet runs "
            "it; when that worker dies, another takes over within two intervals."
        ),
    )
    stale_after_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "A running sequence without a heartbeat for this long belongs to a dead worker and "
            "is requeued. Worker processes heartbeat their sequences every quarter of this, "
            "also while waiting on a slow LLM call. A dead worker's sequences are requeued "
            "within this plus two reaper intervals."
        ),
    )
    broker_visibility_timeout_s: int = Field(
        default=3600, ge=1, description="Redis redelivers an unacknowledged task after this long."
    )

    # --- Sandbox (reflectseq/sandbox/) ---
    sandbox_backend: Literal["bwrap", "docker"] = Field(
        default="bwrap",
        description="Where programs run: bubblewrap on this host or per-language docker images.",
    )
    sandbox_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description=(
            "Executions at once on this host, over all processes (default: CPU count); with the "
            "docker backend, at once per worker process."
        ),
    )
    sandbox_memory_mb: int = Field(
        default=1024, ge=16, description="Memory budget of one execution unless it sets its own."
    )
    sandbox_scratch_mb: int = Field(
        default=256,
        ge=1,
        description=(
            "Size cap of each in-memory file system an execution may write (/work, /tmp, "
            "/dev/shm); what it writes there counts against its memory budget too."
        ),
    )
    sandbox_interactive_concurrency: int = Field(
        default=1,
        ge=1,
        description=(
            "Interactive executions (`/v1/execute`, dashboard re-runs) running at once over all "
            "callers; more are refused with 429, so the workers keep the other sandbox slots."
        ),
    )
    sandbox_interactive_runs_per_minute: int = Field(
        default=30,
        ge=1,
        description="Interactive executions one API key or dashboard user may start a minute.",
    )
    sandbox_capture_bytes: int = Field(
        default=65536, ge=1024, description="Output kept per stream (head and tail)."
    )
    sandbox_output_limit_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Output per stream after which the program is stopped (output_exceeded).",
    )
    sandbox_uid_base: int = Field(
        default=2_000_000_000,
        ge=1000,
        le=MAX_SANDBOX_UID,
        description=(
            "First host uid of the sandbox slots (one uid per concurrent execution, so that "
            "process limits of one execution never count another's); used when running as root. "
            f"The last slot's uid (base + concurrency - 1) must not exceed {MAX_SANDBOX_UID}."
        ),
    )
    sandbox_warm_starts: int = Field(
        default=1,
        ge=0,
        le=16,
        description=(
            "Sandboxes of each recent program shape (language, limits) that every worker process "
            "keeps started ahead of its next program; each runs one program and is replaced, so "
            "isolation is unchanged. They use the uids sandbox_uid_base + "
            f"{WARM_UID_OFFSET} to + {WARM_UID_OFFSET + WARM_UIDS - 1} and hold no execution "
            "slot while they wait. 0 turns warm starts off. Local backend only."
        ),
    )
    sandbox_lock_dir: Path | None = Field(
        default=None,
        description=(
            "Deprecated and ignored: execution slots are held host-wide by the uid they stand "
            "for (an abstract socket per uid), which no private /tmp or lock directory can split."
        ),
    )
    sandbox_cgroup_parent: Path = Field(
        default=Path("/sys/fs/cgroup/reflectseq-sandbox"),
        description=(
            "cgroup v2 directory under which each execution gets its own cgroup (memory.max, "
            "pids.max); where the host has no writable cgroup v2 hierarchy, a directory of this "
            "name below the worker's own cgroup v1 memory controller, if that one is writable."
        ),
    )
    sandbox_memory_enforcement: Literal["auto", "watchdog"] = Field(
        default="auto",
        description=(
            "What bounds an execution's memory: auto takes a cgroup v2, else the cgroup v1 memory "
            "controller, else a watchdog that samples the execution's processes and tmpfs; "
            "watchdog skips the cgroups (for hosts whose cgroup files do not enforce limits)."
        ),
    )

    @model_validator(mode="after")
    def _sandbox_uids_fit(self) -> Settings:
        last = self.sandbox_uid_base + self.sandbox_concurrency - 1
        if last > MAX_SANDBOX_UID:
            raise ValueError(
                f"sandbox_uid_base: the slot uids run up to {last} (sandbox_uid_base "
                f"{self.sandbox_uid_base} + sandbox_concurrency {self.sandbox_concurrency} - 1), "
                f"above {MAX_SANDBOX_UID}, which bubblewrap cannot map"
            )
        last_warm = self.sandbox_uid_base + WARM_UID_OFFSET + WARM_UIDS - 1
        if self.sandbox_warm_starts > 0 and last_warm > MAX_SANDBOX_UID:
            raise ValueError(
                f"sandbox_uid_base: the warm sandboxes' uids run up to {last_warm} "
                f"(sandbox_uid_base {self.sandbox_uid_base} + {WARM_UID_OFFSET + WARM_UIDS - 1}), "
                f"above {MAX_SANDBOX_UID}, which bubblewrap cannot map; lower the base or set "
                "sandbox_warm_starts to 0"
            )
        return self

    @model_validator(mode="after")
    def _fill_embedded_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'reflectseq.db'}"
        return self

    @property
    def embedded(self) -> bool:
        """True when no broker is configured and work runs in-process."""
        return not self.redis_url

    def ensure_data_dir(self) -> Path:
        """Create the data directory on first use (not at import: tests point it elsewhere)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()``."""
    return Settings()
