"""Every code block a reader would copy is run by a test or says why not (docs/reference/
writing-docs.md), and the blocks that need no broker are checked here: request bodies, command
lines, the Makefile targets, a scenario file, the schema export."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer

from schemas import DecisionOutcome, SourceRecord
from streams.admission.decide import decide
from streams.admission.parsing import parse
from streams.cli import app
from streams.simulate.scenario import load_scenario
from tests.admission_states import state as healthy_state
from tests.docs.blocks import BY_RULE, ROOT, Block, all_blocks, blocks
from tests.factories import T0

_NEEDS = {"docker", "gpu"}


def _unmarked(block: Block) -> bool:
    if block.language == "mermaid" or BY_RULE.get((block.path.name, block.language)):
        return False
    if block.marker is None:
        return True
    if block.marker == "shown" or block.test_id:
        return False
    needs = block.marker.removeprefix("needs ").split(",")
    return not block.marker.startswith("needs ") or not {n.strip() for n in needs} <= _NEEDS


def test_every_block_is_run_by_a_test_or_says_why_not() -> None:
    assert len(all_blocks()) > 30
    bad = [f"{b.where} ({b.marker or 'no marker'})" for b in all_blocks() if _unmarked(b)]
    assert not bad, "blocks without a valid `<!-- docs: ... -->` marker:\n" + "\n".join(bad)


def test_every_test_id_is_used_by_a_test() -> None:
    ids = {b.test_id for b in all_blocks() if b.test_id}
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py")
                        if p.name != "blocks.py")
    unused = sorted(i for i in ids if f'"{i}"' not in sources)
    assert not unused, f"docs test ids no test reads: {unused}"
    for path in BY_RULE.values():
        assert (ROOT / path).exists()


def request_bodies() -> list[dict[str, Any]]:
    """Every request in the docs: the ```json blocks, the curl `-d` bodies, the kcat payload."""
    found = [json.loads(b.text) for b in blocks("request-body")]
    for test_id in ("http-request", "kcat"):
        for b in blocks(test_id):
            found += [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", b.text)]
            found += [json.loads(body) for body in re.findall(r"echo '[\w-]+:(\{.*?\})'", b.text)]
    return found


def test_the_docs_show_requests() -> None:
    assert len(request_bodies()) >= 4


@pytest.mark.parametrize("body", request_bodies(), ids=lambda b: str(b.get("task_id")))
def test_every_request_in_the_docs_is_accepted_before_any_gpu(body: dict[str, Any]) -> None:
    source = SourceRecord(topic="tasks.requested", partition=0, offset=0)
    parsed = parse(json.dumps(body).encode(), source, T0)
    assert not hasattr(parsed, "decision"), getattr(parsed, "decision", None)
    config = healthy_state().config
    state = healthy_state(config=type(config)(critical_producers=frozenset({"render-farm", "ops"})))
    decision = decide(state, parsed, T0, source).decision  # type: ignore[arg-type]
    assert decision.outcome is DecisionOutcome.accepted, decision.detail


def command_lines(block: Block) -> list[list[str]]:
    """The `framegate` command lines of a block, continuation lines joined, comments dropped."""
    joined = block.text.replace("\\\n", " ")
    lines = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(words)
    return lines


def parse_command_line(words: list[str]) -> None:
    """Parse as `framegate` would, without running: a group by its subcommand, a command's
    arguments and options by its own parser (types, choices, required values)."""
    assert Path(words[0]).name == "framegate", words
    args = words[1:]
    if len(args) >= 2 and args[0] == "lane" and args[1] in ("anisora", "phr00t", "shared"):
        args = ["lane", "run", *args[1:]]  # the documented alias `framegate lane <lane>`
    command: Any = typer.main.get_command(app)
    while isinstance(getattr(command, "commands", None), dict):
        args = [a for a in args if a != "--debug"]
        if getattr(command, "invoke_without_command", False) and (
            not args or args[0] not in command.commands
        ):
            break  # a group that is a command too (`framegate gateway`)
        assert args and args[0] in command.commands, (words, sorted(command.commands))
        command, args = command.commands[args[0]], args[1:]
    command.make_context(command.name, list(args))


def test_every_documented_command_line_parses() -> None:
    lines = [words for b in blocks("cli-syntax") for words in command_lines(b)]
    assert len(lines) >= 15
    for words in lines:
        parse_command_line(words)


def test_a_wrong_command_line_would_fail() -> None:
    with pytest.raises(Exception, match="bored"):
        parse_command_line(["framegate", "lane", "degrade", "anisora", "--reason", "bored"])
    with pytest.raises(AssertionError):
        parse_command_line(["framegate", "no-such-command"])


def test_the_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for b in blocks("make-targets"):
        for words in command_lines(b):
            assert words[0] == "make" and re.search(rf"^{words[1]}:", makefile, re.M), words


def test_the_scenario_file_loads(tmp_path: Path) -> None:
    for b in blocks("scenario-toml"):
        path = tmp_path / "night.toml"
        path.write_text(b.text)
        scenario = load_scenario(path)
        assert scenario.name == tomllib.loads(b.text)["name"]


def test_the_schema_export_runs_as_written(tmp_path: Path) -> None:
    (words,) = command_lines(blocks("schemas-export")[0])
    run = subprocess.run([sys.executable, "-m", "streams.cli", *words[1:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    written = {p.name for p in (tmp_path / words[-1]).iterdir()}
    assert {"GenerationRequest.schema.json", "framegate.asyncapi.json"} <= written
