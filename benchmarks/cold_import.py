"""One cold `import app` of a built handler, as Lambda does it: the child process that
tests/packaging/test_built_handlers.py and benchmarks/handler_imports.py run under python3.13.

    python3.13 -I -S -B benchmarks/cold_import.py --path .aws-sam/build/DispatchFunction \
        --path <layer>/python --path <runtime-provided> [--module app] [--handler handler]

-I -S: nothing from the environment, the user's or the interpreter's site-packages: sys.path is the
standard library and the --path entries only, in that order (Lambda's: the function's code, then
/opt/python, then the runtime's own boto3). -B: nothing is written, so a .pyc that Python finds invalid
is compiled again on every import, as on Lambda's read-only /opt; this script records every module
compiled from source, which is how the caller sees whether the layer's .pyc were used.

Prints one JSON object: import_ms (wall) and import_cpu_ms (this process's CPU time), whether the
handler is there, the modules compiled from source, the native extensions loaded and any module loaded
from outside the given paths and the standard library.

Standard library only: it runs outside the project's environment.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import sys
import sysconfig
import time
from typing import Any

_compiled: list[str] = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code


def _recording_source_to_code(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
    # Called only when no valid .pyc was found for `path` (importlib's SourceLoader.get_code).
    _compiled.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", action="append", required=True, help="a sys.path entry, in order")
    parser.add_argument("--module", default="app")
    parser.add_argument("--handler", default="handler")
    args = parser.parse_args()

    paths = [os.path.abspath(p) for p in args.path]
    stdlib = {os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
    sys.path[:0] = paths
    importlib.machinery.SourceFileLoader.source_to_code = _recording_source_to_code  # type: ignore[method-assign]
    # Lambda's environment, as far as an import can see it: no credentials, a region.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", "us-east-1")

    before = set(sys.modules)
    start, start_cpu = time.perf_counter(), time.process_time()
    module = __import__(args.module)
    import_ms = (time.perf_counter() - start) * 1000
    import_cpu_ms = (time.process_time() - start_cpu) * 1000  # steadier than wall time on a busy machine

    outside, native = [], []
    for name in sorted(set(sys.modules) - before):
        file = getattr(sys.modules[name], "__file__", None)
        if not file or sys.modules[name] is sys.modules["__main__"]:  # multiprocessing's __mp_main__
            continue
        file = os.path.abspath(file)
        if file.endswith((".so", ".pyd")):
            native.append(file)
        if not any(file.startswith(root + os.sep) for root in [*paths, *stdlib]):
            outside.append(file)
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "import_ms": round(import_ms, 2),
                "import_cpu_ms": round(import_cpu_ms, 2),
                "modules": len(set(sys.modules) - before),
                "handler_callable": callable(getattr(module, args.handler, None)),
                "compiled_from_source": sorted(_compiled),
                "native": native,
                "outside": outside,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
