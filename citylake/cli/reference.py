"""``python -m citylake.cli.reference [--check]``: write the generated reference pages under
docs/reference/ (`make docs-reference`), or with ``--check`` exit 1 naming the stale ones.

The pages are rendered by citylake.pages.reference; this module, above it, hands it the command
line's parser and exit codes. No `citylake` subcommand: it needs no lake and no settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from citylake.config.registry import load_registry
from citylake.config.variables import REPO_ROOT, defaults
from citylake.pages import reference


def pages() -> dict[str, str]:
    """Every reference page, by its path under the repository, as the code renders it now."""
    from citylake.cli import build_parser, output

    with defaults():  # argument defaults as declared, not as this shell sets them
        parser = build_parser()
    codes = {name: value for name, value in vars(output).items() if name.startswith("EXIT_")}
    return reference.render_all(parser, codes, load_registry(REPO_ROOT / "schemas"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m citylake.cli.reference", description=__doc__)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the stale pages")
    args = p.parse_args(argv)
    rendered = pages()
    if args.check:
        stale = reference.stale(rendered, REPO_ROOT)
        for rel in stale:
            print(f"{rel} is stale: run `{reference.REGENERATE}`", file=sys.stderr)
        return 1 if stale else 0
    for rel in reference.write(rendered, REPO_ROOT):
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
