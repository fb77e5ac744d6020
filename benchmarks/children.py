"""What a benchmark's child process reports: its result is one JSON line after a mark, among whatever
else it prints (logs, warnings). Shared by the benchmarks that time fresh interpreters."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def marked_result(done: subprocess.CompletedProcess[str], mark: str, what: str) -> dict[str, Any]:
    """The JSON after `mark` on the child's last marked line; a failed or silent child ends the
    benchmark with its exit code and the end of its stderr."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(mark)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the {what} child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(mark))
    return result
