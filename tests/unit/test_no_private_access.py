"""No test or product module reaches into another object's private attributes (`obj._name`).

Private names are the one thing a class or library may change without notice (a Faust or
aiokafka upgrade, a refactor of our own): a test that reads them asserts the implementation,
and product code that reads them breaks on the next upgrade. Code reads `x._name` only for
`self`/`cls`; tests go through a public seam or through behaviour.

Checked on the token stream (names joined by `.`), so strings, docstrings and comments that
mention a private name do not count.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("schemas", "streams", "gpu_consumers", "bench", "tests")

#: `owner._name` pairs that are public API despite the underscore.
PUBLIC = {("os", "_exit"), ("sys", "_getframe")}
#: namedtuple's documented methods (the underscore only keeps them apart from field names).
NAMEDTUPLE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}

#: Files allowed to, each with the reason; delete an entry once its file is clean.
ALLOWED = {
    "tests/integration/admission/intake_skip_app.py": "being removed by the Faust rewrite",
    "tests/unit/admission/test_faust_transport.py": "being removed by the Faust rewrite",
    "streams/admission/faust_transport.py": "being removed by the Faust rewrite",
}


def private_reads(source: str) -> list[tuple[int, str]]:
    """(line, `owner._name`) for every attribute read of a private name on another object."""
    found: list[tuple[int, str]] = []
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    for owner, dot, name in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if owner.type != tokenize.NAME or dot.string != "." or name.type != tokenize.NAME:
            continue
        attr = name.string
        if not attr.startswith("_") or attr.startswith("__") or attr in NAMEDTUPLE:
            continue
        if owner.string in ("self", "cls") or (owner.string, attr) in PUBLIC:
            continue
        found.append((name.start[0], f"{owner.string}.{attr}"))
    return found


def test_the_checker_finds_what_it_must_and_only_that() -> None:
    source = (
        "self._ok = 1\ncls._ok\nos._exit(0)\nnt._replace(a=1)\nx.__class__\n"
        "'sink._due in a string'\n# ledger._apply in a comment\n"
        "sink._due(1)\nledger._consumer.seek()\nself.sink._batcher\n"
    )
    assert private_reads(source) == [(8, "sink._due"), (9, "ledger._consumer"), (10, "sink._batcher")]


def test_no_module_reads_a_private_attribute_of_another_object() -> None:
    offenders = []
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            offenders += [f"{rel}:{line}: {what}" for line, what in private_reads(path.read_text())]
    assert not offenders, "private attributes read outside their class:\n" + "\n".join(offenders)


def test_every_allowed_file_still_exists() -> None:
    assert [rel for rel in ALLOWED if not (ROOT / rel).exists()] == []
