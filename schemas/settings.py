"""The one settings object: every address, directory, topic prefix and timeout.

Read from `FRAMEGATE_*` environment variables (and `.env` if present); nothing else in
framegate reads `os.environ` for configuration.
"""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.broker_profile import BROKER_PROFILES, BrokerProfile
from schemas.topics import DEFAULT_PREFIX, Topics


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRAMEGATE_", env_file=".env", extra="ignore", frozen=True
    )

    # --- local stack / addresses ----------------------------------------------------------
    data_dir: Path = Field(default=Path(".framegate"), description="Root of local state.")
    kafka_bootstrap: str = Field(default="127.0.0.1:19092", description="host:port[,host:port]")
    broker_port: int = Field(default=19092, ge=1, le=65535, description="Port of `framegate broker`.")
    broker_profile: Literal["tansu", "kafka"] = "tansu"
    topic_prefix: str = DEFAULT_PREFIX
    clickhouse_dsn: str | None = Field(
        default=None,
        description="`chdb:///abs/dir` (embedded) or `http(s)://user:pass@host:port/db`; "
        "default: chDB under data_dir/clickhouse.",
    )
    bind_host: str = Field(default="127.0.0.1", description="Address every HTTP server binds to.")

    # --- timeouts -------------------------------------------------------------------------
    startup_timeout_s: float = Field(default=30.0, gt=0)
    request_timeout_s: float = Field(default=30.0, gt=0)

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def broker(self) -> BrokerProfile:
        return BROKER_PROFILES[self.broker_profile]

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_clickhouse_dsn(self) -> str:
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{self.resolved_data_dir / 'clickhouse'}"


def load_settings(**overrides: object) -> Settings:
    """Environment first, explicit overrides (CLI flags, tests) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
