"""The benchmarks' figures, recorded for the generated performance page (docs/performance.md).

Each benchmark calls `record(name, value, unit, target)` next to the line that prints the figure;
one JSON line per figure is appended to `.framegate/bench/records.jsonl` with the date, the
machine and the command that produced it. `make bench` starts a fresh file, runs every
benchmark and renders the page from it (`python -m docs.gen performance`).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / ".framegate" / "bench" / "records.jsonl"


def machine() -> str:
    """`<cpu model>, <n> cores, <m> GiB, <os>`: enough to tell two machines apart."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        pass
    return f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}"


def record(
    name: str, value: float, unit: str, target: str | None = None, records: Path = RECORDS
) -> None:
    """Append one figure. `target` is what the figure should meet, in words (`<= 10 s`)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_name = str(script.relative_to(ROOT))
    except ValueError:
        script_name = script.name
    row = {
        "script": script_name,
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "command": shlex.join(["python", script_name, *sys.argv[1:]]),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    records.parent.mkdir(parents=True, exist_ok=True)
    with records.open("a") as out:
        out.write(json.dumps(row) + "\n")
