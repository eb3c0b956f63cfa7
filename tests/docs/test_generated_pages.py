"""The pages made from the code are current (`make docs-gen`), and every alert's runbook_url
opens a runbook section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from markdown.extensions.toc import slugify

from docs.gen import cli_page, settings_page
from docs.gen.pages import generated, stale
from schemas.settings import Settings
from tests.docs.blocks import ROOT


def test_no_generated_page_is_stale() -> None:
    assert stale() == [], "run `make docs-gen` and commit the pages"


def test_the_reference_names_every_setting_and_command() -> None:
    settings = settings_page.render()
    for name in Settings.model_fields:
        assert f"`FRAMEGATE_{name.upper()}`" in settings, name
    cli = cli_page.render()
    for command in ("framegate simulate", "framegate lane degrade", "framegate gateway keys add"):
        assert f"## `{command}`" in cli, command
    assert "`--search`" in cli and "`--what-if-queue-policy`" in cli


def test_a_changed_or_missing_page_is_reported_stale(tmp_path: Path) -> None:
    pages = generated()
    for path, text in pages.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert stale(tmp_path) == []
    edited, removed = list(pages)[:2]
    (tmp_path / edited).write_text(pages[edited] + "\nedited by hand\n")
    (tmp_path / removed).unlink()
    assert stale(tmp_path) == [edited, removed]


def _anchors(page: Path) -> set[str]:
    text = page.read_text()
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {slugify(h, "-") for h in headings} | set(re.findall(r'id="([^"]+)"', text))


def test_every_alert_has_a_runbook_that_resolves() -> None:
    rules = yaml.safe_load((ROOT / "compose" / "alerts.yml").read_text())
    alerts = [r for group in rules["groups"] for r in group["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        url = rule.get("annotations", {}).get("runbook_url")
        assert url, f"{rule['alert']} has no runbook_url"
        path, _, anchor = url.partition("#")
        page = ROOT / path
        assert page.is_file(), url
        assert anchor == slugify(rule["alert"], "-"), url
        assert anchor in _anchors(page), f"{url}: no such section"
