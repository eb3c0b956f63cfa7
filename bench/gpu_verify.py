"""The GPU half of framegate, verified in one command (see docs/gpu-verification.md).

    python bench/gpu_verify.py --out gpu-report                    # CUDA: <= 8 min on one H100
    python bench/gpu_verify.py --device cpu --quick --out /tmp/gv  # same code paths, tiny, < 60 s

Checks (bench/gpu_checks.py), each over the lane worker's own code and without Kafka:
a CUDA OOM caught, cleaned up and retried one elastic step lower; 200 jobs with memory flat
after each cleanup; the shared lane's resident models, evictions and fit check; the `gpu`-marked
and lane unit tests in a pytest subprocess; the job runner's throughput against a bare pipeline
loop and its busy fraction. Prints a table and writes it to `--out` as `gpu-verification.md`
and `gpu-verification.json` after every check, so a run cut short keeps what it measured. Exit
status 0 only when no check failed.

This module imports only the standard library until the preflight has found every package the
checks need; the checks themselves import no Kafka, ClickHouse or service module.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.gpu_report import Check, Figure, Report, to_json, to_markdown, to_text  # noqa: E402

#: Import name -> the wheel that provides it (what `make gpu-wheels` fetches where it is missing).
NEEDED = {
    "torch": "torch", "numpy": "numpy", "safetensors": "safetensors", "transformers": "transformers",
    "accelerate": "accelerate", "diffusers": "diffusers", "pydantic": "pydantic",
    "pydantic_settings": "pydantic-settings", "PIL": "pillow", "imageio_ffmpeg": "imageio-ffmpeg",
    "ftfy": "ftfy", "psutil": "psutil", "httpx": "httpx", "pytest": "pytest", "hypothesis": "hypothesis",
}
#: Never loaded by the kit's process: the Kafka, ClickHouse and service side of the project.
FORBIDDEN = ("aiokafka", "kafka", "faust", "mode", "confluent_kafka", "clickhouse_connect", "chdb", "streams",
             "prometheus_client", "fastapi", "uvicorn", "testcontainers")
OUT_NAME = "gpu-verification"


def missing_packages() -> list[str]:
    return [f"{module} (wheel {wheel})" for module, wheel in NEEDED.items() if importlib.util.find_spec(module) is None]


def forbidden_loaded() -> list[str]:
    return sorted({name.split(".")[0] for name in sys.modules} & set(FORBIDDEN))


def environment(device: str) -> dict[str, Figure]:
    import diffusers
    import pydantic
    import torch
    import transformers

    env: dict[str, Figure] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "python": platform.python_version(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "diffusers": diffusers.__version__,
        "transformers": transformers.__version__, "pydantic": pydantic.__version__, "host_cpus": os.cpu_count(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1))
        try:
            import pynvml

            pynvml.nvmlInit()
            env["driver"] = str(pynvml.nvmlSystemGetDriverVersion())
        except Exception as exc:  # no NVML: the memory rows say they fell back to mem_get_info
            env["driver"] = f"unknown (NVML: {type(exc).__name__})"
    return env


def write(report: Report, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{OUT_NAME}.json").write_text(to_json(report))
    (out / f"{OUT_NAME}.md").write_text(to_markdown(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--quick", action="store_true", help="CPU only: tiny models, fewer jobs (< 60 s)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the .md and .json table")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="checks not started by then are skipped (their rows say so)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    missing = missing_packages()
    if missing:
        print("missing packages (install the wheels of `make gpu-wheels`, see docs/gpu-verification.md):\n  "
              + "\n  ".join(missing), file=sys.stderr)
        return 2
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.quick and device == "cuda":
        parser.error("--quick is for CPU runs; the CUDA run is already sized for 8 minutes")
    from bench.gpu_checks import CHECKS, make_env

    report = Report(device, args.quick, datetime.now(UTC).isoformat(timespec="seconds"), environment(device))
    with tempfile.TemporaryDirectory(prefix="gpu-verify-") as work_name:
        env = make_env(device, args.quick, Path(work_name), args.out.resolve())
        args.out.mkdir(parents=True, exist_ok=True)
        for check in CHECKS:
            name = check.__name__.removeprefix("check_")
            t0 = time.perf_counter()
            if t0 - started > args.budget_s:
                result = Check(name, name, "skip", f"not started: past the {args.budget_s:.0f} s budget")
            else:
                print(f"[{t0 - started:6.1f} s] {name} ...", flush=True)
                try:
                    result = check(env)
                except Exception as exc:  # one broken check must not cost the others their run
                    result = Check(name, name, "fail", "raised", detail=f"{type(exc).__name__}: {exc}")
                    traceback.print_exc()
                result.seconds = round(time.perf_counter() - t0, 2)
            report.checks.append(result)
            report.seconds = time.perf_counter() - started
            report.forbidden_modules = forbidden_loaded()
            write(report, args.out)
    report.seconds = time.perf_counter() - started
    write(report, args.out)
    print(to_text(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
