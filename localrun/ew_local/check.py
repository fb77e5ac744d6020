"""`ew check`: every problem in the sheet and docs, one per line; exit 1 if there is any."""

from __future__ import annotations

import argparse
from typing import TextIO

from ew_local.docs import load_docs


def run_check(args: argparse.Namespace, out: TextIO) -> int:
    docs = load_docs(args.sheet, args.rules, args.voice, args.date_order)
    for problem in docs.problems:
        print(problem, file=out)
    if docs.problems:
        count = len(docs.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found.", file=out)
        return 1
    assert docs.registry is not None
    retired = sum(1 for i in docs.registry.items if i.status == "retired")
    checked = ["sheet"] + [name for name, path in (("rules", args.rules), ("voice", args.voice)) if path]
    print(
        f"No problems in the {', '.join(checked)}: {len(docs.registry.items) - retired} active items"
        f", {retired} retired.",
        file=out,
    )
    return 0
