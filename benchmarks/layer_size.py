"""How big is the built shared layer, unzipped? (DESIGN.md §11: under 50 MB.)

    sam build && python benchmarks/layer_size.py [.aws-sam/build/SharedLayer] [--limit-mb 50]

Prints the total (the sum of file sizes, which is what Lambda counts against its unzipped limits) and
the ten biggest top-level packages, then exits 1 when the total is over the limit, 2 when there is no
built layer. MB here are Lambda's: 1 MB = 1024 * 1024 bytes (its "250 MB" limit is 262,144,000 bytes).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

MB = 1024 * 1024
DEFAULT_LAYER = Path(".aws-sam/build/SharedLayer")
DEFAULT_LIMIT_MB = 50.0
TOP = 10
METADATA = "(*.dist-info metadata)"


def package_of(relative: Path) -> str:
    """The top-level import name a file under python/ belongs to: `lxml/etree.so` -> lxml,
    `typing_extensions.py` -> typing_extensions, `_cffi_backend.cpython-313-...so` -> _cffi_backend."""
    top = relative.parts[0]
    if top.endswith((".dist-info", ".egg-info")):
        return METADATA
    if len(relative.parts) == 1:
        return top.split(".", 1)[0]
    return top


def measure(layer: Path) -> tuple[int, dict[str, int]]:
    """(total bytes, bytes per top-level package) of the layer's files; symlinks are not followed."""
    root = layer / "python" if (layer / "python").is_dir() else layer
    per_package: dict[str, int] = defaultdict(int)
    total = 0
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        per_package[package_of(path.relative_to(root))] += size
    return total, dict(per_package)


def report(total: int, per_package: dict[str, int], limit_mb: float, top: int = TOP) -> str:
    lines = [f"unzipped size: {total / MB:.1f} MB ({total:,} bytes); limit {limit_mb:g} MB"]
    lines.append(f"biggest {min(top, len(per_package))} packages:")
    biggest = sorted(per_package.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    width = max((len(name) for name, _ in biggest), default=0)
    lines += [f"  {name:<{width}}  {size / MB:6.2f} MB" for name, size in biggest]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", nargs="?", type=Path, default=DEFAULT_LAYER, help="the built layer dir")
    parser.add_argument("--limit-mb", type=float, default=DEFAULT_LIMIT_MB)
    args = parser.parse_args(argv)
    if not args.layer.is_dir():
        print(f"no built layer at {args.layer}: run `sam build` first", file=sys.stderr)
        return 2
    total, per_package = measure(args.layer)
    if total == 0:
        print(f"the layer at {args.layer} is empty: run `sam build` first", file=sys.stderr)
        return 2
    print(report(total, per_package, args.limit_mb))
    if total > args.limit_mb * MB:
        print(
            f"over the limit by {(total - args.limit_mb * MB) / MB:.1f} MB: prune more in "
            "layers/shared/Makefile",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
