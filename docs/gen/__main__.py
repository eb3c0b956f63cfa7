"""`python -m docs.gen [--check]`: write (or check) the pages made from the code;
`python -m docs.gen performance [--records FILE]`: write docs/performance.md from bench records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docs.gen.pages import DOCS, generated, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.gen", description=__doc__)
    parser.add_argument("what", nargs="?", choices=["reference", "performance"], default="reference")
    parser.add_argument("--check", action="store_true", help="fail if a page is stale; write nothing")
    parser.add_argument("--records", type=Path, default=None, help="bench records (JSON lines)")
    args = parser.parse_args(argv)
    if args.what == "performance":
        from docs.gen import performance_page

        sys.path.insert(0, str(DOCS.parent / "bench"))
        from recorded_figures import RECORDS

        page = DOCS / performance_page.PAGE
        page.write_text(performance_page.render(performance_page.load(args.records or RECORDS)))
        print(f"wrote {page}")
        return 0
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: docs/{path} (run `make docs-gen`)")
        return 1 if old else 0
    for path, text in generated().items():
        target = DOCS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote docs/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
