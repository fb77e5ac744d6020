"""`ew serve`: the whole product in your browser, without Slack or AWS (DESIGN.md §10).

The example's sheet runs on the local runner (moto + the local Slack and Google stand-ins) and one
page on http://127.0.0.1:PORT/ shows the workspace: the Slack cards the handlers sent, whose buttons
and modals go through the real ack-handler; a clock whose "Next day" runs the next morning's tick; the
sheet; the audit trail; the email outbox, whose signed links open ack-handler's confirmation pages
on the same port; and a Forward box, where a dropped file is mailed to the inbound address and the real
intake-parser posts its proposal in #intake. With --no-slack every alert goes by email, as when no bot
token is configured.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path
from typing import TextIO

from ew_local.cloud import LocalCloud
from ew_local.demo import EXAMPLE_SLACK_USERS
from ew_local.workspace.server import WorkspaceServer
from ew_local.workspace.session import Workspace

# The example's channels (Parameter Store's digest_channel and intake_channel) as the page names them.
CHANNELS = {"C04DIGEST1": "digest", "C04INTAKE1": "intake"}


def run_serve(args: argparse.Namespace, out: TextIO, stop: threading.Event | None = None) -> int:
    """Serves until Ctrl-C (or until `stop` is set, for tests)."""
    example = Path(args.example)
    settings = {"timezone": args.timezone, "admin": args.admin, "digest_channel": "C04DIGEST1",
                "intake_channel": "C04INTAKE1"}  # fmt: skip
    if args.holidays:
        settings["holidays"] = args.holidays
    with (
        LocalCloud(settings, slack_users=EXAMPLE_SLACK_USERS) as cloud,
        Workspace(cloud, args.date, args.timezone, CHANNELS) as workspace,
    ):
        cloud.mirror(*((example / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))
        if args.no_slack:
            cloud.without_slack()  # no bot token: every alert goes by email, with its signed links
        workspace.first_tick()
        with WorkspaceServer(workspace, port=args.port, quiet=False) as server:
            print(f"Open {server.url}/ in your browser: the local workspace (Ctrl-C to stop).", file=out)
            print(
                f"ack-handler's Function URL is served there too: {server.url}/email, /slack/actions\n",
                file=out,
            )
            for sent in reversed(workspace.outbox()):
                print(f"--- {sent.subject} (to {sent.to})", file=out)
                for label, path in re.findall(r"^(Renew|Snooze|Ack only): (\S+)", sent.text, re.M):
                    print(f"  {label + ':':<10} {server.url}{path}", file=out)
            out.flush()
            try:
                while not (stop and stop.is_set()):
                    time.sleep(0.2)
            except KeyboardInterrupt:
                print("\nstopped.", file=out)
    return 0
