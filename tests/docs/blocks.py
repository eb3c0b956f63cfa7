"""The fenced code blocks of the docs and the README, with the marker comment before each.

Convention (docs/reference/writing-docs.md): the line right before a fence is
`<!-- docs: test ID -->` (a test runs it), `<!-- docs: needs docker -->` / `needs gpu` /
`needs docker, gpu` (the tests cannot), or `<!-- docs: shown -->` (not something to run).
Mermaid diagrams need none; the analyst guide's `sql` blocks are all queries, run by
tests/integration/audit/test_audit_panels_report.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
_MARKER = re.compile(r"<!--\s*docs:\s*(.*?)\s*-->")
#: Blocks run by a test that owns them by language and file, not by marker.
BY_RULE = {("analyst-guide.md", "sql"): "tests/integration/audit/test_audit_panels_report.py"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    marker: str | None
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def test_id(self) -> str | None:
        if self.marker and self.marker.startswith("test "):
            return self.marker.removeprefix("test ").strip()
        return None


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i].strip())
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.fullmatch(before)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence))
        found.append(Block(path, i + 1, language, marker.group(1) if marker else None,
                           "\n".join(lines[i + 1:end]) + "\n"))
        i = end + 1
    return found


@cache
def all_blocks() -> tuple[Block, ...]:
    return tuple(b for page in pages() for b in _blocks(page))


def blocks(test_id: str) -> list[Block]:
    found = [b for b in all_blocks() if b.test_id == test_id]
    assert found, f"no docs block is marked `docs: test {test_id}`"
    return found


def block(test_id: str) -> Block:
    found = blocks(test_id)
    assert len(found) == 1, [b.where for b in found]
    return found[0]
