"""The compiled modules decide exactly as their pure-Python sources (streams/compiled.py)."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams import compiled

ROOT = compiled.ROOT


def answers(tree: Path, out: Path) -> str:
    """`bench/simulate_answers.py`'s full answers, run with `tree` as the project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run([sys.executable, "bench/simulate_answers.py", "--json", str(out)], cwd=tree, env=env,
                   check=True, capture_output=True, timeout=300)
    return out.read_text()


def pure_copy(tmp_path: Path) -> Path:
    """The project's Python packages without any compiled extension."""
    tree = tmp_path / "pure"
    for package in ("schemas", "streams", "gpu_consumers", "bench"):
        shutil.copytree(ROOT / package, tree / package,
                        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    return tree


@pytest.mark.skipif(not compiled.built(), reason="no module is compiled here (no C compiler at install)")
def test_the_compiled_modules_give_the_pure_python_answers(tmp_path: Path) -> None:
    tree = pure_copy(tmp_path)
    assert compiled.built(tree) == []
    run = subprocess.run([sys.executable, "-c", "import importlib; print(importlib.import_module('streams.admission.core.decide').__file__)"],
                         cwd=tree, check=True, capture_output=True, text=True)
    assert run.stdout.strip().endswith(".py")  # the copy runs its sources, not the project's extensions
    assert answers(tree, tmp_path / "pure.json") == answers(ROOT, tmp_path / "compiled.json")


@pytest.mark.skipif(not compiled.built(), reason="no module is compiled here (no C compiler at install)")
def test_the_compiled_modules_import_from_any_directory(tmp_path: Path) -> None:
    """Each module's shim imports the group's shared library from inside a package, so the
    installed project runs compiled wherever it is started, not only from its root."""
    assert compiled.group_built()
    modules = [s.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for s in compiled.SOURCES]
    code = "import importlib, sys\nfor m in sys.argv[1:]: print(importlib.import_module(m).__file__)"
    run = subprocess.run([sys.executable, "-c", code, *modules], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    files = run.stdout.split()
    assert len(files) == len(modules) and not [f for f in files if f.endswith(".py")]


def test_an_extension_older_than_its_source_is_stale(tmp_path: Path) -> None:
    source = compiled.SOURCES[0]
    (tmp_path / source).parent.mkdir(parents=True)
    (tmp_path / source).write_text("x = 1\n")
    assert compiled.built(tmp_path) == [] and compiled.stale(tmp_path) == []
    py = tmp_path / source
    ext = py.with_name(py.stem + importlib.machinery.EXTENSION_SUFFIXES[0])
    ext.write_bytes(b"")
    os.utime(ext, (1_000_000_000, 1_000_000_000))
    assert compiled.built(tmp_path) == [source] and compiled.stale(tmp_path) == [source]
    os.utime(ext, None)
    os.utime(tmp_path / source, (1_000_000_000, 1_000_000_000))
    assert compiled.stale(tmp_path) == []


def written_inits() -> list[tuple[str, ast.ClassDef]]:
    """Every dataclass of the compiled modules declared `init=False` (its `__init__` written)."""
    found = []
    for source in compiled.SOURCES:
        for node in ast.walk(ast.parse((ROOT / source).read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(d, ast.Call) and any(k.arg == "init" and isinstance(k.value, ast.Constant)
                                                    and k.value.value is False for k in d.keywords)
                    for d in node.decorator_list):
                found.append((source, node))
    return found


def test_each_written_init_takes_its_fields_in_order_with_their_defaults() -> None:
    """The fields are stated twice (declared, and taken by `__init__`): they must not drift."""
    classes = written_inits()
    assert {node.name for _, node in classes} >= {"Verdict", "RequestFacts", "TaskRecord", "Arrival"}
    for source, node in classes:
        declared = [(s.target.id, ast.unparse(s.annotation), ast.unparse(s.value) if s.value else None)
                    for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        init = next(s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__")
        params = init.args.args[1:]
        defaults = [None] * (len(params) - len(init.args.defaults)) + [ast.unparse(d) for d in init.args.defaults]
        taken = [(a.arg, ast.unparse(a.annotation) if a.annotation else "", d) for a, d in zip(params, defaults, strict=True)]
        where = f"{source}: {node.name}"
        assert taken == [(n, a, d if not (d or "").startswith("field(") else _field_default(d)) for n, a, d in declared], where
        assigned = [t.attr for s in init.body if isinstance(s, ast.Assign) for t in s.targets
                    if isinstance(t, ast.Attribute)]
        assert assigned == [n for n, _, _ in declared], where


def _field_default(text: str) -> str:
    """`field(default=X, ...)` -> `X`."""
    call = ast.parse(text, mode="eval").body
    assert isinstance(call, ast.Call)
    return next(ast.unparse(k.value) for k in call.keywords if k.arg == "default")
