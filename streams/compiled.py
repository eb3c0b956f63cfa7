"""The admission core and the simulator's event loop compiled with mypyc: which modules, and how.

The same typed sources run either way and decide the same (tests/unit/test_compiled.py runs the
simulator's digests both ways). Compiled, each module is a C extension beside its `.py` file,
which Python imports in its place; `clean` removes them and the pure-Python modules run again.
A dataclass whose instances are made per request has a written `__init__` (`init=False`): mypyc
compiles the methods in a class body, not the ones `dataclasses` generates at import. Enum
members read per request are module constants (`_PENDING = TaskStatus.pending`): reading one
from its class goes through the enum metaclass's attribute hook every time.

`make install` builds them (`python -m streams.compiled ensure`: when any is missing or stale)
where a C compiler is found. An extension older than its source would run code that is no longer there: `stale` names them,
and the test suite refuses to start while there are any.

Usage: python -m streams.compiled [status|ensure|build|clean]
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Compiled together (one mypyc group): calls between them are native calls.
SOURCES = (
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "streams/admission/core").glob("*.py")),
    "streams/simulate/answers.py",
    "streams/simulate/core.py",
    "streams/simulate/engine.py",
    "streams/simulate/history.py",
    "streams/simulate/service_times.py",
    "streams/simulate/synthetic.py",
    "streams/simulate/workers.py",
)
#: The extension every compiled module's shim imports: inside a package, so it is found wherever
#: the project is imported from (a name at the top level would be found only from the project root).
GROUP = "streams.compiled_group"
#: Where mypyc writes its C sources and objects (ignored by git).
BUILD_DIR = ROOT / ".framegate" / "mypyc"


def extension(source: str, root: Path = ROOT) -> Path | None:
    """The built extension of `source` (a path from `root`), if there is one."""
    py = root / source
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        built = py.with_name(py.stem + suffix)
        if built.exists():
            return built
    return None


def built(root: Path = ROOT) -> list[str]:
    return [s for s in SOURCES if extension(s, root) is not None]


def group_built(root: Path = ROOT) -> bool:
    """The shared library every shim imports is in its package."""
    return extension(GROUP.replace(".", "/") + "__mypyc.py", root) is not None


def stale(root: Path = ROOT) -> list[str]:
    """Sources changed after their extension was built."""
    out = []
    for source in SOURCES:
        ext = extension(source, root)
        if ext is not None and (root / source).stat().st_mtime > ext.stat().st_mtime:
            out.append(source)
    return out


def _extensions() -> list[Path]:
    found: list[Path] = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        found += ROOT.glob(f"*__mypyc{suffix}")  # a group library named at the top level (mypyc's default)
        for package in ("schemas", "streams"):
            found += (ROOT / package).rglob(f"*{suffix}")
    return sorted(set(found))


def clean() -> int:
    """Remove every extension built from the project's sources; the number removed."""
    removed = _extensions()
    for path in removed:
        path.unlink()
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    return len(removed)


def compiler() -> str | None:
    """The C compiler extensions are built with, when one is on PATH."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


def missing_tool() -> str | None:
    """What building needs and this environment lacks: a C compiler, mypyc (the `dev` extra's
    mypy; not a runtime dependency), setuptools."""
    if compiler() is None:
        return "no C compiler found"
    for module in ("mypyc.build", "setuptools"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return f"{module.split('.')[0]} is not installed"
    return None


def build() -> None:
    """Compile `SOURCES` in place (a fresh build: no extension of an older layout survives)."""
    from mypyc.build import mypycify
    from setuptools import setup

    clean()
    BUILD_DIR.mkdir(parents=True)
    os.chdir(ROOT)  # `--inplace` puts each extension beside its source, from the working directory
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as temp:
        setup(
            name="framegate-compiled",
            ext_modules=mypycify(list(SOURCES), opt_level="3", target_dir=str(BUILD_DIR / "c"), group_name=GROUP),
            script_args=["--quiet", "build_ext", "--inplace", "--build-temp", temp, "--build-lib", temp],
        )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "ensure":  # what `make install` runs: build unless every module is built and current
        if len(built()) == len(SOURCES) and not stale() and group_built():
            return 0
        command = "build"
    if command == "build":
        missing = missing_tool()
        if missing is not None:
            print(f"streams.compiled: {missing}; the pure-Python modules run (same answers)")
            return 0
        build()
        print(f"streams.compiled: {len(built())} of {len(SOURCES)} modules compiled")
        return 0
    if command == "clean":
        print(f"streams.compiled: {clean()} extensions removed; the pure-Python modules run")
        return 0
    if command == "status":
        done, old = built(), stale()
        print(f"{len(done)} of {len(SOURCES)} modules compiled"
              + (f"; stale (rebuild: make install): {', '.join(old)}" if old else ""))
        return 1 if old else 0
    print(__doc__.rsplit("Usage: ", 1)[1].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
