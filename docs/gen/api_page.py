"""docs/reference/python-api.md: one mkdocstrings block per module of the `schemas` package."""

from __future__ import annotations

import pkgutil

import schemas
from docs.gen.markdown import banner

PAGE = "reference/python-api.md"


def modules() -> list[str]:
    return sorted(f"schemas.{m.name}" for m in pkgutil.iter_modules(schemas.__path__)
                  if not m.name.startswith("_"))


def render() -> str:
    lines = [
        "# Python API: `schemas`",
        "",
        banner("the modules of schemas/"),
        "",
        "The contracts both halves import: pydantic models of every wire message, enums, the fixed "
        "policies, topic names, the settings, and the mechanisms both halves need (the broker "
        "profile, the log-tail reader). Rendered from the docstrings by mkdocstrings.",
    ]
    for module in modules():
        lines += ["", f"## `{module}`", "", f"::: {module}", "    options:",
                  "      show_root_heading: false", "      heading_level: 3"]
    return "\n".join(lines) + "\n"
