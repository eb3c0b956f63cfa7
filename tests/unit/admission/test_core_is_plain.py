"""The decision core takes and returns plain data: no pydantic model and no `datetime` in it."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys

from pydantic import BaseModel

import streams.admission.core as core_package
from tests.sources import module_source

#: What the core may import: the contract's enums and fixed tables (plain values), the
#: derivation of event ids, and its own modules.
ALLOWED_FROM_SCHEMAS = {"schemas", "schemas.enums", "schemas.policy", "schemas.lane", "schemas.tasks",
                        "schemas.task_transitions",
                        "schemas.event_ids", "schemas.admission_defaults"}


def core_modules() -> list[str]:
    return [f"{core_package.__name__}.{m.name}" for m in pkgutil.iter_modules(core_package.__path__)]


def imported_names(module: str) -> set[str]:
    tree = ast.parse(module_source(sys.modules[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_imports_neither_pydantic_nor_datetime_nor_the_edge() -> None:
    for name in core_modules():
        importlib.import_module(name)
        for imported in imported_names(name):
            root = imported.split(".")[0]
            assert root not in {"pydantic", "datetime", "faust", "aiokafka"}, f"{name} imports {imported}"
            if root == "schemas":
                # `from schemas import X` must name an allowed module; `from schemas.enums import
                # X` takes anything from an allowed module.
                allowed = imported in ALLOWED_FROM_SCHEMAS or (
                    imported.rsplit(".", 1)[0] in ALLOWED_FROM_SCHEMAS - {"schemas"})
                assert allowed, f"{name} imports {imported}"
            if imported.startswith("streams."):
                assert imported.startswith("streams.admission.core"), f"{name} imports {imported}"


def test_no_core_object_is_a_pydantic_model() -> None:
    for name in core_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == name:
                assert not issubclass(value, BaseModel), f"{name}.{value.__name__} is a pydantic model"
