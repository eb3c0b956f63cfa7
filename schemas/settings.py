"""The one settings object: every address, directory, topic prefix and timeout.

Read from `FRAMEGATE_*` environment variables (and `.env` if present); nothing else in
framegate reads `os.environ` for configuration.
"""

from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import admission_defaults
from schemas.broker_profile import BROKER_PROFILES, BrokerProfile
from schemas.errors import PromptKeyError
from schemas.kafka_security import KafkaSecurity
from schemas.topics import DEFAULT_PREFIX, Topics


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRAMEGATE_", env_file=".env", extra="ignore", frozen=True,
        env_nested_delimiter="__",
    )

    # --- local stack / addresses ----------------------------------------------------------
    data_dir: Path = Field(default=Path(".framegate"), description="Root of local state.")
    kafka_bootstrap: str = Field(default="127.0.0.1:19092", description="host:port[,host:port]")
    broker_port: int = Field(
        default=19092, ge=1, le=65535, description="Port of `framegate broker`."
    )
    broker_profile: Literal["tansu", "kafka"] = "tansu"
    kafka_security: KafkaSecurity = Field(
        default_factory=KafkaSecurity,
        description="TLS and SASL of every Kafka client: FRAMEGATE_KAFKA_SECURITY__PROTOCOL, "
        "__SASL_MECHANISM, __USERNAME, __PASSWORD_FILE (or __PASSWORD), __CA_FILE, __CERT_FILE, "
        "__KEY_FILE, __CHECK_HOSTNAME (see docs/security.md).",
    )
    topic_prefix: str = DEFAULT_PREFIX
    clickhouse_dsn: str | None = Field(
        default=None,
        description="`chdb:///abs/dir` (embedded) or `http(s)://user:pass@host:port/db`; "
        "default: chDB under data_dir/clickhouse.",
    )
    bind_host: str = Field(default="127.0.0.1", description="Address every HTTP server binds to.")

    # --- timeouts -------------------------------------------------------------------------
    startup_timeout_s: float = Field(default=30.0, gt=0)

    # --- gpu lanes (gpu_consumers) ---------------------------------------------------------
    model_dir: Path = Field(
        default=Path(".framegate/models"),
        description="Diffusers-format model directories: `<model_dir>/anisora`, `<model_dir>/phr00t`.",
    )
    artifact_dir: Path = Field(default=Path(".framegate/artifacts"), description="Where mp4s go.")
    lane_worker_id: str | None = Field(default=None, description="Default: <lane>-<host>-<pid>.")
    lane_device: Literal["auto", "cpu", "cuda"] = "auto"
    lane_torch_threads: int = Field(default=1, ge=1, description="torch intra-op threads on CPU.")
    lane_heartbeat_interval_s: float = Field(default=2.0, gt=0)
    lane_metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Prometheus port on bind_host; None: off."
    )
    lane_memory_reserve_gib: float = Field(
        default=2.0, ge=0, description="Free memory kept in reserve above a model's need."
    )
    lane_need_gib_anisora: float = Field(default=0.0, ge=0, description="Memory to load anisora.")
    lane_need_gib_phr00t: float = Field(default=0.0, ge=0, description="Memory to load phr00t.")
    lane_model_budget_gib: float | None = Field(
        default=None, gt=0,
        description="Memory the models a worker holds may take together (needs + reserve); the shared "
        "lane keeps every model that fits and evicts least-recently-used only when a load would not "
        "fit. None: what is free for models when the worker starts (CUDA free memory; host memory on CPU).",
    )
    lane_encode_overlap: bool = Field(
        default=True,
        description="Encode and write a job's mp4 while the next job's pipeline runs (one encode in "
        "flight); False: one job at a time, end to end (the benchmarks' baseline).",
    )
    lane_max_load_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive load failures before the lane reports unavailable.",
    )
    lane_gpu_session_quota: int = Field(default=1, ge=1, description="Concurrent jobs per worker.")
    lane_shared_fallback_enabled: bool = True
    lane_max_sequence_length: int = Field(default=512, ge=8, le=512)
    lane_done_catchup_timeout_s: float = Field(
        default=10.0, gt=0,
        description="Max wait to read events.task up to its end after a partition assignment.",
    )
    lane_ledger_fetch_wait_ms: int = Field(
        default=250, ge=1, le=5_000,
        description="Fetch wait of the task ledger's follower: its catch-up is once per assignment, so "
        "it need not poll every 10 ms (each empty poll costs the job thread GIL and CPU time).",
    )
    lane_shutdown_grace_s: float = Field(
        default=20.0, gt=0, le=25,
        description="After SIGTERM: how long a running job may still finish (and the last commit and "
        "client shutdown take); a job still running then is abandoned uncommitted and redelivered.",
    )
    lane_ledger_window_h: float = Field(
        default=24.0, gt=0, le=24 * 90,
        description="How far back the task ledger reads events.task at start (offsets-for-times): a "
        "redelivered item whose terminal event is older than this runs again.",
    )
    # Test/demo seams (real code paths, off by default): slow each denoising step, or raise a
    # CUDA OOM at the pipeline boundary for tasks whose id starts with a prefix.
    lane_step_delay_s: float = Field(default=0.0, ge=0, le=60)
    lane_fault_oom_task_prefix: str | None = None
    lane_fault_oom_attempts: int = Field(
        default=1, ge=1, description="How many attempts of a matching task raise the injected OOM."
    )

    # --- gateway (streams/gateway) -------------------------------------------------------
    gateway_port: int = Field(default=8080, ge=1, le=65535, description="HTTP port on bind_host.")
    gateway_keys_file: Path | None = Field(
        default=None,
        description="JSON file of hashed API keys (`framegate gateway keys add`); "
        "default: data_dir/gateway/keys.json. Missing or empty: every request gets 401.",
    )
    gateway_decision_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Bounded wait for the admission decision."
    )
    gateway_publish_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Bounded wait for the broker to take a request."
    )
    gateway_retry_after_s: int = Field(
        default=5, ge=1, le=3600, description="Retry-After of the gateway's own 503s."
    )
    gateway_max_inflight: int = Field(
        default=1000, ge=1, description="Requests waiting for a decision at once; beyond: 503."
    )
    gateway_tracked_tasks: int = Field(
        default=100_000, ge=1, description="Task statuses kept in memory for GET /v1/tasks/{id}."
    )
    gateway_max_request_head_bytes: int = Field(
        default=16_384, ge=1024, le=1_048_576,
        description="Largest request line, and largest request line plus headers, the gateway "
        "reads; beyond: 414 (request line) or 431 (headers) as problem+json.",
    )

    # --- admission (streams/admission) -----------------------------------------------------
    admission_app_id: str | None = Field(
        default=None, description="Faust app id = consumer group; default: <topic_prefix>admission."
    )
    admission_web_port: int = Field(default=6066, ge=1, le=65535, description="/metrics on bind_host.")
    admission_heartbeat_stale_s: float = Field(
        default=admission_defaults.HEARTBEAT_STALE_S, gt=0, description="Older heartbeats are unknown signals: admission fails closed."
    )
    admission_critical_producers: list[str] = Field(
        default_factory=list, description="Producer identities allowed to submit `critical` (JSON list)."
    )
    admission_cold_start_s: float = Field(default=admission_defaults.COLD_START_S, ge=0, description="Time-to-ready of a cold lane.")
    admission_default_service_s: float = Field(
        default=admission_defaults.DEFAULT_SERVICE_S, ge=0, description="Service time before any `done` was observed; 0: unknown."
    )
    admission_service_window: int = Field(default=admission_defaults.SERVICE_WINDOW, ge=1, le=10_000, description="`done` events averaged.")
    admission_retry_after_s: int = Field(default=admission_defaults.RETRY_AFTER_S, ge=1, le=3600)
    admission_rebuild_timeout_s: float = Field(default=60.0, gt=0, description="Bound on start-up replay.")
    admission_dedup_retention_h: float = Field(
        default=admission_defaults.DEDUP_RETENTION_H, gt=0,
        description="Hours a decided task id is remembered (by decision log time): a re-send within "
        "them gets the same answer, after them it is decided afresh.",
    )
    admission_snapshots: bool = Field(
        default=True,
        description="Load the newest state snapshot at start and write snapshots; false: fold every "
        "log from offset 0 and write none.",
    )
    admission_snapshot_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between snapshots (only when the state changed)."
    )
    admission_input_image_schemes: list[str] = Field(
        default_factory=lambda: ["file"],
        description="URI schemes of input_image the lane workers read (plain paths always); "
        "others are refused at admission with 422 validation_error.",
    )
    admission_shutdown_grace_s: float = Field(
        default=20.0, gt=0, le=300,
        description="Bound on a graceful stop (flush outputs, final snapshot); then the process exits.",
    )

    # --- audit (ClickHouse sink, dashboards, report) ----------------------------------------
    audit_database: str = Field(default="framegate", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    audit_group_id: str = Field(default="framegate-audit", description="Sink consumer group.")
    audit_batch_max_rows: int = Field(default=5000, ge=1, le=1_000_000)
    audit_batch_max_seconds: float = Field(default=1.0, gt=0, le=300)
    audit_batch_linger_s: float = Field(
        default=0.25, ge=0, le=300,
        description="Once the sink has read everything waiting (live traffic), a batch this old is "
        "flushed without waiting for audit_batch_max_seconds; shorter: lower lag, more inserts.",
    )
    audit_heartbeat_ttl_days: int = Field(default=14, ge=1, le=3650)
    audit_retry_initial_s: float = Field(default=0.5, gt=0)
    audit_retry_max_s: float = Field(default=30.0, gt=0)
    audit_metrics_port: int = Field(default=0, ge=0, le=65535, description="0: no /metrics server.")
    audit_report_dir: Path | None = Field(default=None, description="Default: data_dir/report.")
    audit_report_hours: float = Field(default=24.0, gt=0, description="Time range of the report.")
    audit_prompt_retention_days: int = Field(
        default=30, ge=1, le=3650,
        description="Days ClickHouse keeps request bodies (admission_decisions.request, with the "
        "prompts) and rejected payloads (audit_rejects.payload); a column TTL then empties them, "
        "the rest of each row stays.",
    )
    audit_prompt_storage: Literal["text", "hmac"] = Field(
        default="text",
        description="`hmac`: store HMAC-SHA256(key, prompt) instead of each prompt and negative "
        "prompt, and of each rejected payload (equal prompts still compare equal).",
    )
    audit_prompt_hmac_key: SecretStr | None = Field(
        default=None, description="Key of `hmac` prompt storage; prefer audit_prompt_hmac_key_file."
    )
    audit_prompt_hmac_key_file: Path | None = Field(
        default=None, description="File holding the key of `hmac` prompt storage (first line)."
    )

    @model_validator(mode="after")
    def _prompt_key_when_hashing(self) -> Self:
        if self.audit_prompt_storage == "hmac" and not (
            self.audit_prompt_hmac_key or self.audit_prompt_hmac_key_file
        ):
            raise ValueError("FRAMEGATE_AUDIT_PROMPT_STORAGE=hmac needs "
                             "FRAMEGATE_AUDIT_PROMPT_HMAC_KEY_FILE or FRAMEGATE_AUDIT_PROMPT_HMAC_KEY")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def broker(self) -> BrokerProfile:
        return BROKER_PROFILES[self.broker_profile].secured(self.kafka_security)

    @property
    def resolved_admission_app_id(self) -> str:
        return self.admission_app_id or f"{self.topic_prefix}admission"

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_clickhouse_dsn(self) -> str:
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{self.resolved_data_dir / 'clickhouse'}"

    @property
    def resolved_gateway_keys_file(self) -> Path:
        if self.gateway_keys_file is not None:
            return self.gateway_keys_file.expanduser().resolve()
        return self.resolved_data_dir / "gateway" / "keys.json"

    def resolved_prompt_hmac_key(self) -> bytes | None:
        """The key prompts are hashed with (`hmac` storage), else None (prompts kept as text)."""
        if self.audit_prompt_storage != "hmac":
            return None
        if self.audit_prompt_hmac_key_file is not None:
            path = self.audit_prompt_hmac_key_file.expanduser()
            try:
                key = (path.read_text(encoding="utf-8").splitlines() or [""])[0]
            except (OSError, UnicodeDecodeError) as exc:
                raise PromptKeyError(
                    f"FRAMEGATE_AUDIT_PROMPT_HMAC_KEY_FILE: cannot read {path}: "
                    f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
                ) from None
        else:
            assert self.audit_prompt_hmac_key is not None  # the validator saw one of the two
            key = self.audit_prompt_hmac_key.get_secret_value()
        if len(key) < 16:
            raise PromptKeyError("the prompt HMAC key must be at least 16 characters")
        return key.encode("utf-8")

    @property
    def resolved_report_dir(self) -> Path:
        return (self.audit_report_dir or self.resolved_data_dir / "report").expanduser().resolve()


def settings_error_line(exc: ValidationError) -> str:
    """One line for settings that do not validate: the setting and the reason, never the value
    (a value may be a password)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = "__".join(str(part) for part in first["loc"]).upper()
    reason = str(first["msg"]).removeprefix("Value error, ")
    return f"FRAMEGATE_{where}: {reason}" if where and not reason.startswith("FRAMEGATE_") else reason


def load_settings(**overrides: object) -> Settings:
    """Environment first, explicit overrides (CLI flags, tests) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
