"""The docs pages made from the code: `make docs-gen` (= `python -m docs.gen`) writes them and
`tests/docs/` fails when one is stale.

Why here and not in `streams` or `bench`: the metrics page needs every service's registry, and
`streams` never imports `gpu_consumers`; these are build tools of the site, not product
commands, and they sit beside the pages they write. MkDocs skips this folder (`exclude_docs`).
"""
