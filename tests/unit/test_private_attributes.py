"""No code of the product, the benches or the tests reaches into another object's private names.

The project's rule: no private attribute (`obj._name`) of Faust, aiokafka or any other library.
The types behind a name are not known without running the code, so the scan is stricter than
the rule: every `x._name` (read or write) where `x` is not `self`/`cls`, every
`getattr`/`setattr`/`hasattr`/`delattr` with a literal private name, every private name imported
from a library, and every private method defined in a subclass of a Faust, mode or aiokafka
class (an override of its internals) is reported, minus the allow-lists below.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREES = ("schemas", "streams", "gpu_consumers", "bench", "tests")
LIBRARIES = ("faust", "aiokafka", "mode")

#: Names that start with an underscore but are the documented public API of the standard library.
PUBLIC_UNDERSCORED = {
    ("os", "_exit"),
    ("sys", "_getframe"),
}
#: namedtuple's documented methods and fields (underscored so that they cannot clash with fields).
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_field_defaults", "_make"}

def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def library_names(tree: ast.Module) -> set[str]:
    """Names a module binds to a library (`import aiokafka`, `from faust import App`, ...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def findings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    from_library = library_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if node.attr in NAMEDTUPLE_API:
                continue
            if isinstance(base, ast.Name) and (base.id, node.attr) in PUBLIC_UNDERSCORED:
                continue
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and private(name.value):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            for alias in node.names:
                if private(alias.name) or any(private(part) for part in node.module.split(".")):
                    yield node.lineno, f"from {node.module} import {alias.name}"
        elif isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b).split(".")[0] for b in node.bases}
            if bases & (from_library | set(LIBRARIES)):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and private(item.name):
                        yield item.lineno, f"{node.name}.{item.name} overrides a library internal"


def test_no_private_names_of_other_objects() -> None:
    found = []
    for tree in TREES:
        for path in sorted((REPO / tree).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            found += [f"{rel}:{line}: {what}" for line, what in findings(path)]
    assert not found, "private names of other objects (use a public API):\n" + "\n".join(found)


def test_the_scan_catches_each_kind(tmp_path: Path) -> None:
    # made-up objects and names: any object's private name is reported, whatever its type
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "import aiokafka\n"
        "from faust.transport import drivers\n"
        "from mode.utils import _private_helper\n"
        "widget._hidden_wait = 10\n"
        "offset = box.part._hidden_offsets[key]\n"
        "x = getattr(widget, '_secret')\n"
        "class Thread(drivers.aiokafka.AIOKafkaConsumerThread):\n"
        "    def _hidden_hook(self, transport): return self._inner\n"
        "class Mine(aiokafka.AIOKafkaConsumer):\n"
        "    def _helper(self): ...\n"
        "os._exit(0)\n"
        "parsed._replace(path='/')\n"
        "self._mine = 1\n"
    )
    assert [what for _, what in sorted(findings(sample))] == [
        "from mode.utils import _private_helper",
        "widget._hidden_wait",
        "box.part._hidden_offsets",
        "getattr(widget, '_secret')",
        "Thread._hidden_hook overrides a library internal",
        "Mine._helper overrides a library internal",
    ]
