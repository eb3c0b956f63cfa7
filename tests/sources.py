"""A module's source text read from its `.py` file: `inspect.getsource` cannot read a module
that runs compiled (streams/compiled.py), whose code object is not Python's."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_source(module: ModuleType) -> str:
    return (ROOT / (module.__name__.replace(".", "/") + ".py")).read_text()
