"""docs/reference/settings.md: every field of `schemas.settings.Settings`, by section."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from docs.gen.markdown import banner, code, table
from schemas.settings import Settings

PAGE = "reference/settings.md"
_SECTION = re.compile(r"#\s*---\s*(.+?)\s*-*\s*$")
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "pattern": "matches"}


def _sections(source: str) -> list[tuple[int, str]]:
    """(line, title) of each `# --- title ---` comment of the class, in order."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _SECTION.match(line.strip())
        if match:
            found.append((number, match.group(1)))
    return found


def _annotations(source: str) -> dict[str, tuple[int, str]]:
    """field -> (line, annotation as written)."""
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef))
    return {
        node.target.id: (node.lineno, ast.unparse(node.annotation))
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return code(str(value))
    if isinstance(value, str | bool | int | float | list):
        return code(json.dumps(value) if isinstance(value, list | bool) else value)
    return code(repr(value))


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, sign in _BOUNDS.items():
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def title(section: str) -> str:
    """`gpu lanes (gpu_consumers)` -> `GPU lanes`; the heading's anchor is its slug."""
    head = section.split("(")[0].strip().replace("gpu", "GPU")
    return head[:1].upper() + head[1:]


def render() -> str:
    source = inspect.getsource(Settings)
    sections = _sections(source)
    fields = _annotations(source)
    prefix = Settings.model_config.get("env_prefix", "")
    lines = [
        "# Settings",
        "",
        banner("schemas/settings.py"),
        "",
        "One settings object, `schemas.settings.Settings`, read from environment variables "
        f"(prefix `{prefix}`) and a `.env` file in the working directory. List values are JSON "
        "(`FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS='[\"ops\"]'`). How to set them: "
        "[configuration](../operators/configuration.md).",
    ]
    grouped: dict[str, list[list[str]]] = {}
    for name, info in Settings.model_fields.items():
        line, annotation = fields[name]
        section = next((t for n, t in reversed(sections) if n < line), "general")
        description = info.description or ""
        bounds = _bounds(info)
        grouped.setdefault(section, []).append([
            code(name),
            code(f"{prefix}{name.upper()}"),
            code(annotation),
            _default(info),
            description + (f" ({bounds})" if bounds else ""),
        ])
    for section, rows in grouped.items():
        lines += ["", f"## {title(section)}", ""]
        lines += table(["setting", "environment variable", "type", "default", "meaning"], rows)
    return "\n".join(lines) + "\n"
