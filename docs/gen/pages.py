"""Every page made from the code, rendered in memory: `make docs-gen` writes them, the test
compares them with the files."""

from __future__ import annotations

from pathlib import Path

from docs.gen import api_page, cli_page, metrics_page, schema_files, settings_page

DOCS = Path(__file__).resolve().parents[1]


def generated() -> dict[str, str]:
    """path under docs/ -> content."""
    pages = {
        settings_page.PAGE: settings_page.render(),
        cli_page.PAGE: cli_page.render(),
        metrics_page.PAGE: metrics_page.render(),
        api_page.PAGE: api_page.render(),
    }
    pages.update(schema_files.render())
    return pages


def stale(docs: Path = DOCS) -> list[str]:
    """Pages whose file under `docs` differs from what the code renders now (or is missing)."""
    return [path for path, text in generated().items()
            if not (docs / path).exists() or (docs / path).read_text() != text]
