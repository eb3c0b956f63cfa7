"""Every command that needs Kafka or ClickHouse, run against a closed port or a refusing server:
one line on stderr saying what, where and which setting, and the documented exit code.

Each command runs as its own process (`python -m streams.cli`), as an operator runs it, so
what is asserted includes anything printed while the interpreter shuts down.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli_failures import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE

ROOT = Path(__file__).parents[3]


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A port bound on loopback but not listening: every connect is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def framegate(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def closed_env(port: int, tmp_path: Path) -> dict[str, str]:
    return {
        "FRAMEGATE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "FRAMEGATE_CLICKHOUSE_DSN": f"http://default:secret@127.0.0.1:{port}/framegate",
        "FRAMEGATE_STARTUP_TIMEOUT_S": "5",
        "FRAMEGATE_DATA_DIR": str(tmp_path),
        "FRAMEGATE_AUDIT_METRICS_PORT": "0",
    }


KAFKA_COMMANDS = [
    ["topics", "create"],
    ["lane", "degrade", "anisora", "--reason", "manual"],
    ["lane", "restore", "phr00t"],
    ["simulate", "--from-kafka"],
]
CLICKHOUSE_COMMANDS = [["audit", "migrate"], ["report"], ["simulate"], ["audit-sink"]]


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("args", KAFKA_COMMANDS, ids=" ".join)
def test_kafka_unreachable(args: list[str], closed_port: int, tmp_path: Path) -> None:
    result = framegate(*args, env=closed_env(closed_port, tmp_path))
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert one_line(result.stderr) == (
        f"framegate: cannot reach Kafka at 127.0.0.1:{closed_port} (FRAMEGATE_KAFKA_BOOTSTRAP): "
        "no broker answered at any bootstrap address"
    )
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", CLICKHOUSE_COMMANDS, ids=" ".join)
def test_clickhouse_unreachable(args: list[str], closed_port: int, tmp_path: Path) -> None:
    result = framegate(*args, env=closed_env(closed_port, tmp_path))
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"framegate: cannot reach ClickHouse at http://default:***@127.0.0.1:{closed_port}/framegate "
        "(FRAMEGATE_CLICKHOUSE_DSN): [Errno 111] Connection refused"
    )
    if args != ["audit-sink"]:  # a service keeps its client's logs; the one-shot commands don't
        one_line(result.stderr)
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_debug_shows_the_traceback(closed_port: int, tmp_path: Path) -> None:
    result = framegate("--debug", "topics", "create", env=closed_env(closed_port, tmp_path))
    assert result.returncode not in (0, EXIT_UNREACHABLE)
    assert "Traceback" in result.stderr or "KafkaConnectionError" in result.stderr


class _RefusingClickHouse(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_clickhouse_refusing(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingClickHouse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = closed_env(port, tmp_path)
        result = framegate("audit", "migrate", env=env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert result.returncode == EXIT_REFUSED, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(
        f"framegate: ClickHouse at http://default:***@127.0.0.1:{port}/framegate "
        "(FRAMEGATE_CLICKHOUSE_DSN) refused the request: "
    ), line
    assert "516" in line


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["lane", "degrade", "shared", "--reason", "manual"], "Invalid value for 'lane'"),
        (["lane", "degrade", "anisora", "--reason", "bored"], "Invalid value for '--reason'"),
        (["lane", "degrade", "anisora"], "Missing option '--reason'"),
        (["lane", "restore", "nope"], "Invalid value for 'lane'"),
        (["gateway", "keys", "add", "bad id!"], "Invalid value for 'key_id'"),
        (["gateway", "keys", "revoke", "../etc"], "Invalid value for 'key_id'"),
    ],
)
def test_bad_arguments_are_refused_before_any_io(
    args: list[str], complaint: str, closed_port: int, tmp_path: Path
) -> None:
    # with a closed port, any I/O would have answered 3: 2 proves the check came first
    result = framegate(*args, env=closed_env(closed_port, tmp_path))
    assert result.returncode == EXIT_USAGE, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and complaint in errors[0], result.stderr
    assert not (tmp_path / "gateway").exists()


def test_version() -> None:
    result = framegate("--version", env={})
    assert result.returncode == 0
    assert result.stdout.startswith("framegate ")


def test_a_broker_refusal_is_exit_4() -> None:
    from aiokafka.errors import TopicAuthorizationFailedError

    from schemas.settings import Settings
    from streams.cli_failures import ServiceRefused, classify

    failure = classify(TopicAuthorizationFailedError(), Settings(kafka_bootstrap="kafka:9092"))
    assert isinstance(failure, ServiceRefused) and failure.exit_code == EXIT_REFUSED
    assert failure.line().startswith(
        "Kafka at kafka:9092 (FRAMEGATE_KAFKA_BOOTSTRAP) refused the request: "
        "TopicAuthorizationFailedError"
    )
    assert classify(KeyError("a bug"), Settings()) is None
