"""`ew serve`: the example in the local workspace, and its email links, clickable in a browser."""

from __future__ import annotations

import argparse
import io
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from ew_local.cli import build_parser
from ew_local.serve import run_serve


class Output(io.StringIO):
    """A stdout the test can read while the command is still running."""


@contextmanager
def serving(args: argparse.Namespace) -> Iterator[Output]:
    out = Output()
    stop = threading.Event()
    runner = threading.Thread(target=run_serve, args=(args, out, stop), daemon=True)
    runner.start()
    try:
        yield out
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()


def wait_for(out: Output, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(pattern, out.getvalue())
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(out.getvalue())


def test_the_defaults_are_the_example_on_its_demo_date_at_port_8765() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.date, args.port, args.timezone, args.no_slack) == (
        date(2026, 11, 23),
        8765,
        "Europe/London",
        False,
    )


def test_serve_opens_the_workspace_on_the_example(example_dir: Path) -> None:
    args = build_parser().parse_args(["serve", "--example", str(example_dir), "--port", "0"])
    with serving(args) as out:
        url = wait_for(out, r"Open (http://127\.0\.0\.1:\d+)/ in your browser").group(1)
        with urllib.request.urlopen(url + "/?c=D04FIN0001", timeout=30) as page:
            html = page.read().decode()
    assert '<span id="clock" title="simulated time">Mon 23 Nov 2026, 08:00 Europe/London</span>' in html
    assert "<b>Public liability insurance</b> (insurance) runs out on 15 Dec 2026, 22 days from now." in html
    assert "# digest" in html and "# intake" in html
    # People without a Slack user get email: their links are printed, pointing at the same server.
    assert (
        "--- [Acme renewals] Street trading permit: 25 days left (to sam.ortiz@acme.example)"
        in out.getvalue()
    )


def test_without_slack_every_alert_is_an_email_with_working_local_links(example_dir: Path) -> None:
    args = build_parser().parse_args(["serve", "--example", str(example_dir), "--port", "0", "--no-slack"])
    with serving(args) as out:
        link = wait_for(out, r"Ack only:\s+(http://127\.0\.0\.1:\d+/email\?t=\S+)").group(1)
        assert (
            "--- [Acme renewals] Office lease - 14 Harbour St: 38 days left (to dana@acme.example)"
            in out.getvalue()
        )
        with urllib.request.urlopen(link, timeout=10) as page:
            html = page.read().decode()
    assert page.status == 200
    assert "<h1>Acknowledge: Office lease - 14 Harbour St?</h1>" in html
