"""docs/reference/cli.md: every command, argument and option of the `framegate` Typer app.

Typer builds its command tree from a click of its own, so the tree is read through the
attributes its commands and parameters expose (`commands`, `params`, `param_type_name`,
`type_descriptor`), not through click's classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from docs.gen.markdown import banner, code, table
from streams.cli import app

PAGE = "reference/cli.md"


def _group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    if _group(command):
        for name in sorted(command.commands):
            yield from _commands(command.commands[name], f"{path} {name}")


def _help(command: Any) -> str:
    return (command.help or command.short_help or "").strip()


def _kind(param: Any) -> str:
    choices = param.type_descriptor.choices
    if choices:
        return " \\| ".join(str(getattr(c, "value", c)) for c in choices)
    if getattr(param, "is_flag", False):
        return "flag"
    annotation = param.type_descriptor.annotation
    return str(getattr(annotation, "__name__", annotation)).lower()


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None or (getattr(param, "is_flag", False) and value is False):
        return ""
    if isinstance(value, list | tuple):
        return code(" ".join(map(str, value))) if value else ""
    return code(getattr(value, "value", value))


def _params(command: Any) -> list[list[str]]:
    rows = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = code(param.name.upper())
            helptext = getattr(param, "help", None) or ""
        else:
            names = [*param.opts, *param.secondary_opts]
            name = " / ".join(code(n) for n in names)
            helptext = param.help or ""
        rows.append([name, _kind(param), _default(param), helptext])
    return rows


def render() -> str:
    root = typer.main.get_command(app)
    lines = [
        "# Command line",
        "",
        banner("the Typer app in streams/cli.py"),
        "",
        "Every `framegate` command, its arguments and options. Settings not given as options come "
        "from `FRAMEGATE_*` variables ([settings](settings.md)). Exit codes: 0 ok, 1 failed, "
        "2 usage, 3 Kafka/ClickHouse unreachable, 4 refused "
        "([errors and exit codes](../operators/services.md#errors-and-exit-codes)).",
    ]
    for path, command in _commands(root, "framegate"):
        if _group(command) and path != "framegate":
            lines += ["", f"## `{path}`", "", _help(command)]
            continue
        lines += ["", f"## `{path}`" if path != "framegate" else "## `framegate`", ""]
        lines += [_help(command)]
        rows = _params(command)
        if command.context_settings.get("ignore_unknown_options"):
            lines += ["", "Every further argument is passed on unchanged."]
        if rows:
            lines += ["", *table(["argument / option", "type", "default", "meaning"], rows)]
    return "\n".join(lines) + "\n"
