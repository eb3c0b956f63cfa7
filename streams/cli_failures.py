"""How `framegate` commands report a Kafka or ClickHouse they cannot use: one line, one exit code.

Exit codes (also in README "Operators"):

- 2: usage: a bad argument or option, checked before any I/O
- 3: unreachable: nothing answered at the configured address (refused connection, timeout, DNS)
- 4: refused: the server answered but refused the operation (authentication, authorisation,
  a protocol or server error)

Settings that cannot be used (a Kafka security group that does not hold together, a CA or
password file that is missing) are a usage error too (2), reported before any connection.

The translation happens once, at the entry point, from the exception types of the client
libraries; `--debug` re-raises instead so the traceback is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from pydantic import ValidationError

from schemas.errors import FramegateError, KafkaSecurityError, PromptKeyError
from schemas.settings import Settings, settings_error_line

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4

KAFKA_SETTING = "FRAMEGATE_KAFKA_BOOTSTRAP"
CLICKHOUSE_SETTING = "FRAMEGATE_CLICKHOUSE_DSN"
_MAX_DETAIL = 200


@dataclass(frozen=True)
class Service:
    """What a command talks to, where, and the setting that says where."""

    what: str
    where: str
    setting: str


class ServiceFailure(FramegateError):
    exit_code = EXIT_UNREACHABLE

    def __init__(self, service: Service, detail: str) -> None:
        self.service = service
        self.detail = _first_line(detail)
        super().__init__(self.line())

    def line(self) -> str:
        s = self.service
        return f"cannot reach {s.what} at {s.where} ({s.setting}): {self.detail}"


class ServiceUnreachable(ServiceFailure):
    exit_code = EXIT_UNREACHABLE


class ServiceRefused(ServiceFailure):
    exit_code = EXIT_REFUSED

    def line(self) -> str:
        s = self.service
        return f"{s.what} at {s.where} ({s.setting}) refused the request: {self.detail}"


class Misconfigured(ServiceFailure):
    """Settings no client can be built from; the line names the setting, never its value."""

    exit_code = EXIT_USAGE

    def __init__(self, detail: str) -> None:
        super().__init__(Service("settings", "environment", "FRAMEGATE_*"), detail)

    def line(self) -> str:
        return f"invalid settings: {self.detail}"


def misconfiguration(exc: BaseException) -> Misconfigured | None:
    """The failure for unusable settings (raised before any I/O), else None."""
    if isinstance(exc, KafkaSecurityError | PromptKeyError):
        return Misconfigured(str(exc))
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return Misconfigured(settings_error_line(exc))
    return None


def _first_line(text: str) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "\u2026"


def _root_cause(exc: BaseException) -> str:
    """The operating system's reason when there is one ("[Errno 111] Connection refused"),
    rather than the layers of client-library wrapping around it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError) and seen.errno:
            return f"[Errno {seen.errno}] {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def redacted_dsn(dsn: str) -> str:
    """The DSN without its password, fit to print."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    netloc = f"{parsed.username or ''}:***@{parsed.hostname or ''}"
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    return parsed._replace(netloc=netloc).geturl()


def kafka(bootstrap: str) -> Service:
    return Service("Kafka", bootstrap, KAFKA_SETTING)


def clickhouse(dsn: str) -> Service:
    return Service("ClickHouse", redacted_dsn(dsn), CLICKHOUSE_SETTING)


def kafka_failure(exc: BaseException, service: Service) -> ServiceFailure | None:
    """The failure for an aiokafka exception (or a bare timeout waiting on Kafka), else None."""
    from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    detail = _root_cause(exc)
    if isinstance(exc, KafkaConnectionError) and detail == str(exc):
        # aiokafka keeps no OS-level cause; its message lists resolved socket tuples
        detail = "no broker answered at any bootstrap address"
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | TimeoutError):
        return ServiceUnreachable(service, detail)
    if isinstance(exc, KafkaError):
        return ServiceRefused(service, f"{type(exc).__name__}: {detail}")
    return None


def clickhouse_failure(exc: BaseException, dsn: str) -> ServiceFailure | None:
    """The failure for a clickhouse-connect exception, else None."""
    from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

    if isinstance(exc, OperationalError):
        return ServiceUnreachable(clickhouse(dsn), _root_cause(exc))
    if isinstance(exc, ClickHouseError):
        return ServiceRefused(clickhouse(dsn), _root_cause(exc))
    return None


def classify(
    exc: BaseException, settings: Settings, kafka_service: Service | None = None
) -> ServiceFailure | None:
    """The one-line failure for a client-library exception; None for anything else (a bug).

    A bare `TimeoutError` is Kafka's: ClickHouse timeouts arrive as `OperationalError`.
    """
    if isinstance(exc, ServiceFailure):
        return exc
    return misconfiguration(exc) or kafka_failure(exc, kafka_service or kafka(settings.kafka_bootstrap)) or (
        clickhouse_failure(exc, settings.resolved_clickhouse_dsn)
    )
