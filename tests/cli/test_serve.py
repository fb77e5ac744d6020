"""`ew serve`: the example's email links, clickable in a browser against the local runner."""

from __future__ import annotations

import argparse
import io
import re
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

from ew_local.serve import run_serve


class Output(io.StringIO):
    """A stdout the test can read while the command is still running."""


def test_serve_prints_working_local_links(example_dir: Path) -> None:
    out = Output()
    args = argparse.Namespace(
        example=str(example_dir), date=date(2026, 11, 23), timezone="Europe/London", port=0
    )
    stop = threading.Event()
    runner = threading.Thread(target=run_serve, args=(args, out, stop), daemon=True)
    runner.start()
    try:
        check_links(out)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()


def check_links(out: Output) -> None:
    deadline = time.monotonic() + 30
    link = None
    while link is None and time.monotonic() < deadline:
        found = re.search(r"Ack only:\s+(http://127\.0\.0\.1:\d+/email\?t=\S+)", out.getvalue())
        link = found.group(1) if found else None
        time.sleep(0.1)
    assert link, out.getvalue()
    assert (
        "--- [Acme renewals] Office lease - 14 Harbour St: 38 days left (to dana@acme.example)"
        in out.getvalue()
    )
    with urllib.request.urlopen(link, timeout=10) as page:
        html = page.read().decode()
    assert page.status == 200
    assert "<h1>Acknowledge: Office lease - 14 Harbour St?</h1>" in html
