"""Cold `import app` of each built handler from the built layer, with and without the layer's .pyc.

    make bench-imports                                   # builds first; 9 runs per handler and variant
    uv run python benchmarks/handler_imports.py --python python3.13 --runs 15

Lambda cannot write .pyc under /opt (the layer is read-only), so a layer without them compiles every
module it imports on every cold start; layers/shared/Makefile (step 12) ships them. This measures what
that saves, per handler: fresh python3.13 processes (`-I -S -B`, see cold_import.py) import the handler
with only its built folder (.aws-sam/build/<Function>), the layer and the runtime's boto3 on sys.path.

Two copies of the built layer, both re-zipped and unpacked as Lambda does (new mtimes): as built, and
with every __pycache__ removed. boto3, botocore and s3transfer (the runtime's, here uv.lock's versions
from the project's environment) are copied and compiled once for python3.13, so both variants differ
in the layer's .pyc only. Runs alternate between the variants (with, without, with, ...) after one
untimed warm-up each, so the page cache and the machine's load treat them alike. The time is measured
inside the child around `import app` (interpreter start-up excluded), as wall time and as the child's
CPU time, which a busy machine disturbs much less (waiting for a core is not counted). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COLD_IMPORT = ROOT / "benchmarks" / "cold_import.py"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def rezip(layer: Path, into: Path, keep_pyc: bool) -> Path:
    """The layer zipped and unpacked under `into` (Lambda's /opt), with or without its .pyc."""
    archive = into / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(layer.rglob("*")):
            if path.is_file() and (keep_pyc or "__pycache__" not in path.parts):
                zf.write(path, Path("python") / path.relative_to(layer))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(into)
    archive.unlink()
    return into / "python"


def runtime_provided(python: str, into: Path) -> Path:
    """boto3, botocore and s3transfer from this environment, compiled for `python` (the runtime's own
    are compiled too), so that both variants pay the same for them."""
    into.mkdir()
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec and spec.submodule_search_locations, f"{name} is not installed (make setup)"
        source = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    # Without a pycache prefix (the Makefile exports one for the tests): the .pyc must land beside the
    # sources, where the cold child (python -I) looks for them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(into)],
        check=True,
        env=env,
    )
    return into


def cold_import(python: str, code: Path, layer: Path, runtime: Path) -> dict[str, Any]:
    args = [python, "-I", "-S", "-B", str(COLD_IMPORT)]
    for path in (code, layer, runtime):
        args += ["--path", str(path)]
    result = subprocess.run(args, capture_output=True, text=True, cwd=code, check=False, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"{code.name}: import failed\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _spread(times: list[float]) -> str:
    return f"{statistics.median(times):.0f} ms ({min(times):.0f}-{max(times):.0f})"


def functions(build: Path) -> list[str]:
    return sorted(p.name for p in build.iterdir() if (p / "app.py").is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3.13", help="the Lambda runtime's Python (3.13)")
    parser.add_argument("--build", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--runs", type=int, default=9, help="timed runs per handler and variant")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    layer = args.build / "SharedLayer" / "python"
    if not layer.is_dir():
        print(f"no built layer at {layer}: run `make build` first", file=sys.stderr)
        return 2
    python = shutil.which(args.python) or args.python
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
    if not version.startswith("3.13."):
        print(f"{python} is Python {version}, not the runtime's 3.13", file=sys.stderr)
        return 2

    results: dict[str, dict[str, list[float]]] = {}
    cpu: dict[str, dict[str, list[float]]] = {}
    compiled: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="ew-imports-") as tmp:
        work = Path(tmp)
        variants = {
            "with .pyc": rezip(layer, Path(tempfile.mkdtemp(dir=work)), keep_pyc=True),
            "without .pyc": rezip(layer, Path(tempfile.mkdtemp(dir=work)), keep_pyc=False),
        }
        runtime = runtime_provided(python, work / "runtime")
        for function in functions(args.build):
            code = args.build / function
            results[function] = {variant: [] for variant in variants}
            cpu[function] = {variant: [] for variant in variants}
            compiled[function] = {}
            for variant, copy in variants.items():  # warm-up: page cache
                report = cold_import(python, code, copy, runtime)
                compiled[function][variant] = sum(
                    1 for p in report["compiled_from_source"] if p.startswith(str(copy))
                )
            for _ in range(args.runs):
                for variant, copy in variants.items():
                    report = cold_import(python, code, copy, runtime)
                    results[function][variant].append(report["import_ms"])
                    cpu[function][variant].append(report["import_cpu_ms"])
            print(f"  {function}: done", file=sys.stderr, flush=True)

    print(f"Python {version}, {args.runs} runs per handler and variant, {os.cpu_count()} CPUs\n")
    print("| handler | layer | CPU median (min-max) | wall median (min-max) | layer modules compiled |")
    print("|---|---|---:|---:|---:|")
    for function, by_variant in results.items():
        for variant, times in by_variant.items():
            print(
                f"| {function} | {variant} | {_spread(cpu[function][variant])} | {_spread(times)} "
                f"| {compiled[function][variant]} |"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"python": version, "times_ms": results, "compiled": compiled}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
