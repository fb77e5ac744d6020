"""`ew serve`: the example's alert emails with links you can click in your own browser.

The local runner's ack-handler is served on http://127.0.0.1:PORT as its Function URL would be; the
alerts go by email (Slack is made to fail), and their signed links are printed pointing at it.
"""

from __future__ import annotations

import argparse
import email
import re
import threading
import time
from datetime import datetime
from datetime import time as clock_time
from email import policy
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ew_local.cloud import ACTION_URL, LocalCloud
from ew_local.url_server import FunctionUrlServer


def run_serve(args: argparse.Namespace, out: TextIO, stop: threading.Event | None = None) -> int:
    """Serves until Ctrl-C (or until `stop` is set, for tests)."""
    example = Path(args.example)
    tz = ZoneInfo(args.timezone)
    with LocalCloud({"timezone": args.timezone, "admin": "ops@acme.example"}) as cloud:
        cloud.mirror(*((example / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))
        cloud.without_slack()  # no bot token: every alert goes by email, with its signed links
        cloud.tick(datetime.combine(args.date, clock_time(8, 0), tz))
        with FunctionUrlServer(cloud, port=args.port, quiet=False) as server:
            print(f"ack-handler's Function URL is served at {server.url}/ (Ctrl-C to stop)\n", file=out)
            for sent in cloud.sent_emails():
                message = email.message_from_string(sent["raw_data"], policy=policy.default)
                body = message.get_body(preferencelist=("plain",))
                text = body.get_content() if body else ""
                print(f"--- {message['Subject'].strip()} (to {message['To']})", file=out)
                for label, url in re.findall(r"^(Renew|Snooze|Ack only): (\S+)", text, re.M):
                    print(f"  {label + ':':<10} {url.replace(ACTION_URL.rstrip('/'), server.url)}", file=out)
            out.flush()
            try:
                while not (stop and stop.is_set()):
                    time.sleep(0.2)
            except KeyboardInterrupt:
                print("\nstopped.", file=out)
    return 0
