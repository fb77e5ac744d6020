"""`ew demo`: the main job on the bundled example, end to end through the real handlers.

drive-sync mirrors the sheet and docs from the Google stand-in into the in-process AWS stand-in (and
keeps a mistyped rules doc out), daily-tick runs, its events go to dispatch, and every Slack card and
email is shown as the owner would see it, then the pings recorded.
"""

from __future__ import annotations

import argparse
import email
import json
from datetime import date, datetime, time, timedelta
from email import policy
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ew.audit import AuditLog
from ew_local.cloud import NAMES, RULES_DOC_ID, LocalCloud
from ew_local.docs import load_docs
from ew_local.fake_slack import render_card
from ew_local.report import DIGEST_CHANNEL, show_digest
from ew_local.slack_payloads import button_click, modal_submission

# Who the example's email owners are in Slack: users.lookupByEmail finds them, so they get DMs.
EXAMPLE_SLACK_USERS = {"ops@acme.example": "U04OPS0001"}
CLICK_ITEM, CLICK_USER = "ACME-002", "U04FIN0001"  # the public liability insurance, and its owner
CALENDAR_ID, INTAKE_CHANNEL, APPROVER = "team@acme.example", "C04INTAKE1", "U04BOSS001"


def _rule(out: TextIO, title: str) -> None:
    print(f"\n== {title} ==", file=out)


def _show_deliveries(
    cloud: LocalCloud, outcomes: list[dict[str, Any]], seen: dict[str, int], tz: ZoneInfo, out: TextIO
) -> None:
    """Print what reached people since the last call: new Slack DMs, then new emails."""
    for params in cloud.slack.messages()[seen["slack"] :]:
        print(f"\n--- Slack DM to {params.get('channel')} ---", file=out)
        print(render_card(params), file=out)
    for sent in cloud.sent_emails()[seen["email"] :]:
        message = email.message_from_string(sent["raw_data"], policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n--- Email to {message['To']} ---", file=out)
        print(f"Subject: {message['Subject'].strip()}", file=out)  # a folded header unfolds with a space
        print(body.get_content().rstrip() if body else "", file=out)
    seen["slack"] = len(cloud.slack.messages())
    seen["email"] = len(cloud.sent_emails())
    for outcome in outcomes:
        if outcome["status"] == "scheduled":
            when = datetime.fromisoformat(outcome["send_at"]).astimezone(tz)
            print(
                f"\n--- {outcome['item_id']} {outcome['move']} for {outcome['recipient']} waits until "
                f"{when:%a %d %b %H:%M %Z} ({outcome['reason']}) ---",
                file=out,
            )


def _renew_click(cloud: LocalCloud, out: TextIO) -> None:
    """Renew on the first alert's card: the modal, its submission, the message, the audit, the sheet."""
    record = cloud.store.get(CLICK_ITEM, 0)
    if record is None or not record.message_ref or record.channel != "slack":
        print(f"{CLICK_ITEM} got no Slack card today: nothing to click.", file=out)
        return
    channel, ts = record.message_ref.split("/")
    posted = cloud.slack.message(channel, ts)
    assert posted is not None
    message = {"channel": channel, "ts": ts, "text": posted["text"], "blocks": posted["blocks"]}
    before = _sheet_row(cloud, CLICK_ITEM)

    answer = cloud.slack_click(button_click(message, "renew", CLICK_USER))
    view = cloud.slack.calls("views.open")[-1].params["view"]
    picked = view["blocks"][1]["element"]["initial_date"]
    print(f"click answered {answer['statusCode']}; the Renew modal opened, prefilled with {picked}", file=out)
    answer = cloud.slack_click(modal_submission(view, picked, CLICK_USER))
    print(f"modal submitted: answered {answer['statusCode']} {answer['body']}", file=out)

    updated = cloud.slack.message(channel, ts)
    assert updated is not None
    print("\n--- the card now reads ---", file=out)
    print(render_card(updated), file=out)
    print("\n--- ew-audit ---", file=out)
    for entry in AuditLog(cloud.dynamodb, NAMES["EW_AUDIT_TABLE"]).for_item(CLICK_ITEM):
        change = f"{json.dumps(entry.before)} -> {json.dumps(entry.after)}"
        print(f"  {entry.ts[:19]}  {entry.action:<12} by {entry.by_user}: {change}", file=out)
    print("\n--- the registry sheet row (Google Sheets stand-in) ---", file=out)
    after = _sheet_row(cloud, CLICK_ITEM)
    for column in ("expiry_date", "last_renewed"):
        print(f"  {column}: {before.get(column, '')} -> {after.get(column, '')}", file=out)


def _drive_sync(cloud: LocalCloud, example: Path, out: TextIO) -> None:
    """The example's sheet and docs go into the Google stand-in; the real drive-sync reads them."""
    cloud.publish(
        (example / "registry.csv").read_bytes(),
        (example / "rules.txt").read_text(encoding="utf-8"),
        (example / "voice.txt").read_text(encoding="utf-8"),
    )
    written = _listed(cloud.drive_sync()["written"])
    print(f"drive-sync read the sheet and both docs through the Google APIs and wrote {written}.", file=out)


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:-1]) + f" and {keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "nothing")


def _broken_rules(cloud: LocalCloud, rules: str, out: TextIO) -> None:
    """A typo in the rules doc is kept out (the last good rules stay in force) and the admin hears of
    it once; put right, it is in force again and the admin hears that too."""
    broken = rules.replace("days before", "days befor", 1) if "days before" in rules else rules + "\nx: y\n"
    cloud.google.add_doc(RULES_DOC_ID, broken)
    seen = len(cloud.slack.messages())
    report = cloud.drive_sync()
    cloud.drive_sync()  # 15 minutes later: still broken, and nobody is told twice
    print("\nSomeone mistypes the rules doc. drive-sync, twice:", file=out)
    print(f"kept out: {_listed(report['kept_out'])}; the last good rules stay in force.", file=out)
    _show_admin(cloud, seen, out)
    cloud.google.add_doc(RULES_DOC_ID, rules)
    seen = len(cloud.slack.messages())
    report = cloud.drive_sync()
    print(f"\nPut right. drive-sync wrote {_listed(report['written'])}: that version is in force already.",
          file=out)  # fmt: skip
    _show_admin(cloud, seen, out)


def _show_admin(cloud: LocalCloud, seen: int, out: TextIO) -> None:
    for params in cloud.slack.messages()[seen:]:
        print(f"\n--- Slack DM to {params.get('channel')} (the admin) ---", file=out)
        print(render_card(params), file=out)


def _sheet_row(cloud: LocalCloud, item_id: str) -> dict[str, str]:
    header, *rows = cloud.sheet_rows()
    return next((dict(zip(header, row, strict=False)) for row in rows if row and row[0] == item_id), {})


def _show_pings(cloud: LocalCloud, out: TextIO) -> None:
    rows = []
    for item_id in sorted({p.item_id for p in cloud.store.load()[0]}):
        for record in cloud.store.chain_pings(item_id):
            p = record.ping
            rows.append((p.item_id, str(p.chain_index), p.move, p.recipient, record.channel,
                         p.sent_on.isoformat(), record.status))  # fmt: skip
    header = ("item_id", "#", "move", "recipient", "via", "ping_date", "status")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    example = Path(args.example)
    docs = load_docs(str(example / "registry.csv"), str(example / "rules.txt"), str(example / "voice.txt"))
    if docs.registry is None or docs.rules is None or docs.voice is None:
        for problem in docs.problems:
            print(problem, file=out)
        return 1
    tz = ZoneInfo(args.timezone)
    day: date = args.date
    settings = {"timezone": args.timezone, "holidays": args.holidays, "admin": args.admin,
                "calendar_ids": CALENDAR_ID, "intake_channel": INTAKE_CHANNEL}  # fmt: skip
    settings["digest_channel"] = DIGEST_CHANNEL

    with LocalCloud(settings, slack_users=EXAMPLE_SLACK_USERS) as cloud:
        _rule(out, f"1. drive-sync mirrors {example}/ from Google into the registry and rules buckets")
        _drive_sync(cloud, example, out)
        active = sum(1 for i in docs.registry.items if i.status == "active")
        print(f"registry.csv: {active} active items; rules.txt and voice.txt parse cleanly.", file=out)
        for problem in docs.problems:
            print(f"skipped: {problem}", file=out)
        _broken_rules(cloud, (example / "rules.txt").read_text(encoding="utf-8"), out)

        seen = {"slack": len(cloud.slack.messages()), "email": len(cloud.sent_emails())}
        now = datetime.combine(day, time(8, 0), tz)
        _rule(out, f"2. daily-tick at {now:%a %d %b %Y %H:%M %Z}, its events routed to dispatch")
        report, outcomes = cloud.tick(now)
        moves = ", ".join(f"{count} {move}" for move, count in report["moves"].items()) or "none"
        skipped = len(report["skipped"])
        print(f"tick: {report['items']} items, moves: {moves}; {skipped} rows skipped", file=out)
        _show_deliveries(cloud, outcomes, seen, tz, out)

        _rule(out, "3. The same tick again (EventBridge and Scheduler deliver at least once)")
        _, again = cloud.tick(now)
        print(f"{sum(1 for o in again if o['status'] != 'duplicate')} new messages.", file=out)

        _rule(out, f"4. {CLICK_USER} clicks Renew on {CLICK_ITEM}, through the real ack-handler")
        with cloud.at(now + timedelta(hours=2)):  # mid-morning, after the cards arrived
            _renew_click(cloud, out)

        saturday = day + timedelta(days=(5 - day.weekday()) % 7)
        sat_now = datetime.combine(saturday, time(8, 0), tz)
        _rule(out, f"5. {sat_now:%A %d %b}: moves wait for the next business minute")
        _, outcomes = cloud.tick(sat_now)
        _show_deliveries(cloud, outcomes, seen, tz, out)
        if not outcomes:
            print("nothing to send.", file=out)
        monday = saturday + timedelta(days=2)
        fired = cloud.fire_schedules(datetime.combine(monday, time(8, 0), tz))
        if fired:
            print(f"\n{monday:%A %d %b} 08:00: the one-off schedules fire into dispatch:", file=out)
            _show_deliveries(cloud, fired, seen, tz, out)

        _rule(out, "6. Pings recorded in ew-pings")
        _show_pings(cloud, out)

        calendar = example / "calendar.json"
        if calendar.is_file():
            _rule(out, f"7. calendar-sync: an event tagged #expires in {CALENDAR_ID} becomes a proposal")
            with cloud.at(datetime.combine(saturday, time(11, 0), tz)):
                _calendar_proposal(cloud, json.loads(calendar.read_text(encoding="utf-8")), out)
        sunday = saturday + timedelta(days=1)
        _rule(out, f"8. {sunday:%A %d %b} 18:00: the weekly digest, through the real digest handler")
        show_digest(cloud, sunday, tz, out)
        mails = sorted((example / "inbox").glob("*.eml"))
        if mails:
            _rule(out, "9. A forwarded contract: SES stores the mail, intake-parser proposes its row")
            with cloud.at(datetime.combine(monday, time(9, 0), tz)):
                _forwarded_contract(cloud, mails[0], out)
    return 0


def _forwarded_contract(cloud: LocalCloud, path: Path, out: TextIO) -> None:
    """The mail goes into the raw-mime bucket under inbound/ (as the SES rule writes it); S3's event
    runs the real intake-parser, whose card is approved like the calendar's."""
    before = len(cloud.slack.in_channel(INTAKE_CHANNEL))
    answer = cloud.forward_mail(path.read_bytes(), f"inbound/{path.stem}")
    (taken,) = answer["mails"]
    print(f"{path.name}: intake-parser {taken['outcome']} it (Message-ID {taken['message_id']}).", file=out)
    again = cloud.forward_mail(path.read_bytes(), f"inbound/{path.stem}-again")
    print(f"The same mail forwarded again: {again['mails'][0]['outcome']}, no second card.", file=out)
    if len(cloud.slack.in_channel(INTAKE_CHANNEL)) > before:
        _approve_latest_card(cloud, out)


def _calendar_proposal(cloud: LocalCloud, events: list[dict[str, Any]], out: TextIO) -> None:
    """The calendar's events go into the Google stand-in; calendar-sync proposes the tagged one in the
    intake channel; Approve (through the real ack-handler) appends it to the sheet; drive-sync mirrors it."""
    cloud.publish_calendar(CALENDAR_ID, events)
    report = cloud.calendar_sync()
    print(f"calendar-sync read {report['events']} events and proposed {len(report['proposed'])}.", file=out)
    cards = cloud.slack.in_channel(INTAKE_CHANNEL)
    if not cards:
        return
    _approve_latest_card(cloud, out)


def _approve_latest_card(cloud: LocalCloud, out: TextIO) -> None:
    """Show the newest card in the intake channel, approve it through the real ack-handler, and show
    the row it added and drive-sync mirroring it."""
    card = cloud.slack.in_channel(INTAKE_CHANNEL)[-1]
    print(f"\n--- Slack card in {INTAKE_CHANNEL} ---", file=out)
    print(render_card(card), file=out)
    message = {"channel": INTAKE_CHANNEL, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    answer = cloud.slack_click(button_click(message, "proposal_approve", APPROVER))
    print(f"\n{APPROVER} clicks Approve: answered {answer['statusCode']}", file=out)
    print("\n--- the card now reads ---", file=out)
    print(render_card(cloud.slack.in_channel(INTAKE_CHANNEL)[-1]), file=out)
    header, *rows = cloud.sheet_rows()
    added = dict(zip(header, rows[-1], strict=False))
    print("\n--- the registry sheet's new row (Google Sheets stand-in) ---", file=out)
    print("  " + ", ".join(f"{k}: {v}" for k, v in added.items() if v), file=out)
    written = _listed(cloud.drive_sync()["written"])
    print(f"\ndrive-sync, 15 minutes later, wrote {written}: the watcher now watches it too.", file=out)
