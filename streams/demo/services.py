"""framegate services as child processes: started with their own settings, stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from streams.local_stack.processes import terminate


@dataclass
class Service:
    """One `framegate <args>` child process, logging to `log_path`."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    #: Set by `stop()`: a process that was told to stop has not "exited unexpectedly".
    stopped: bool = field(default=False, init=False)
    #: Set by `pause()` until `resume()`.
    paused: bool = field(default=False, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stopped = False
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *self.args],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """SIGSTOP: the process holds still (a GPU busy elsewhere) until `resume`."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused and self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        self.resume()  # a stopped process would not see the SIGTERM
        self.stopped = True
        terminate(proc, timeout_s)
        if self._log:
            self._log.close()
            self._log = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crashed host would: no flush, no goodbye to the group."""
        proc = self.process
        if proc is None:
            return
        self.stopped = True
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def run_command(args: list[str], env: dict[str, str], timeout_s: float = 120.0) -> str:
    """Run a short `framegate` command to completion; raises with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"framegate {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout
