"""The weekly digest's figures and message (ew.digest): what the digest channel reads on a Sunday."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from ew.activity import SentPing
from ew.chain import Ack
from ew.digest import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    email_digest,
    slack_digest,
    week_figures,
)
from ew.items import Item, load_registry
from ew.voice import Voice, parse_voice
from opskit.problems import DocumentError

TZ = "Europe/London"
SUNDAY = date(2026, 11, 29)
SHEET = b"""item_id,item,category,expiry_date,owner,status
A-1,Office lease,contract,2026-12-02,U0LEASE001,
A-2,Van insurance,insurance,2026-12-15,sam@acme.example,
A-3,Domain,domain,2026-12-20,U0IT000001,
A-4,Certificate,certificate,2026-12-28,U0IT000001,
A-5,Permit,licence,2026-12-10,U0OPS00001,
A-6,Trademark,trademark,2027-06-01,U0LEGAL001,
A-7,Fire extinguisher service,maintenance,2026-11-20,U0OPS00001,
A-8,Old permit,licence,2026-10-01,U0OPS00001,
A-9,Printer lease,contract,2026-12-01,U0OPS00001,retired
A-10,Accounting software,subscription,2026-11-30,U0FIN00001,
A-11,Broken row,contract,31/11/2026,U0FIN00001,
"""


def ping(item_id: str, cycle: str, index: int, move: str, day: str, channel: str = "slack",
         status: str = "sent") -> SentPing:  # fmt: skip
    return SentPing(item_id, date.fromisoformat(cycle), index, move, date.fromisoformat(day), channel, status)


def ack(item_id: str, cycle: str, action: str, at: str, **values: date) -> Ack:
    return Ack(item_id, date.fromisoformat(cycle), action, datetime.fromisoformat(at), "U0SOMEONE1", **values)


PINGS = [
    ping("A-1", "2026-12-02", 0, "first_alert", "2026-11-10"),
    ping("A-1", "2026-12-02", 1, "escalate", "2026-11-25"),
    ping("A-2", "2026-12-15", 0, "first_alert", "2026-11-22", "email"),  # the Sunday before: last week
    ping("A-2", "2026-12-15", 1, "reminder", "2026-11-24", "email"),
    ping("A-3", "2026-12-20", 0, "first_alert", "2026-11-20"),
    ping("A-5", "2026-12-10", 0, "first_alert", "2026-11-30", status="scheduled"),  # waits for Monday
    ping("A-6", "2027-06-01", 3, "reminder", "2026-11-27"),
    ping("A-7", "2026-11-20", 4, "escalate", "2026-11-26", "email"),
    # A-10's chain was closed by a renewal on Wednesday: its pings are archived, and still count.
    ping("A-10", "2026-11-30", 0, "first_alert", "2026-11-02"),
    ping("A-10", "2026-11-30", 1, "reminder", "2026-11-23"),
]
ACKS = [
    ack("A-2", "2026-12-15", "snooze", "2026-11-24T10:00:00+00:00", snooze_until=date(2026, 12, 5)),
    ack("A-3", "2026-12-20", "ack_only", "2026-11-26T15:30:00+00:00"),
    ack("A-3", "2026-12-20", "ack_only", "2026-11-22T23:59:00+00:00"),  # last week: not counted
    ack("A-10", "2026-11-30", "renew", "2026-11-25T09:00:00+00:00", new_expiry=date(2027, 11, 30)),
]
EXTRA = ["drive-sync: the sheet's header has no owner column"]


def known_week() -> tuple[list[Item], list[str]]:
    registry = load_registry(SHEET)
    return registry.items, [str(p) for p in registry.problems]


def test_a_known_week_counts_pings_by_move_and_channel_archived_included_and_answers_by_action():
    items, problems = known_week()
    figures = week_figures(items, PINGS, ACKS, SUNDAY, TZ, [*problems, *EXTRA])
    assert (figures.start, figures.end) == (date(2026, 11, 23), SUNDAY)
    assert dict(figures.pings_by_move) == {"escalate": 2, "reminder": 3}
    assert dict(figures.pings_by_channel) == {"slack": 3, "email": 2}
    assert dict(figures.answers) == {"snooze": 1, "ack_only": 1, "renew": 1}


def test_the_digest_lists_what_expires_soonest_first_with_where_each_stands():
    items, problems = known_week()
    text, blocks = slack_digest(
        week_figures(items, PINGS, ACKS, SUNDAY, TZ, [*problems, *EXTRA]), Voice(), TZ
    )
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Weekly digest: 23-29 Nov 2026"},
    }
    assert sections[0] == (
        "*Pings sent:* 5 (3 reminders, 2 escalations; 3 by Slack, 2 by email)\n"
        "*Answers:* 3 (1 renewed, 1 snoozed, 1 ack only)"
    )
    # The renewed item, the retired one and the one far off are not listed; the
    # Slack owners are mentions, which Slack shows by name.
    assert sections[1] == (
        "*Expiring in the next 30 days* (5)\n"
        "• *Office lease* · <@U0LEASE001> · 2 Dec 2026 (in 3 days) · waiting, escalated\n"
        "• *Permit* · <@U0OPS00001> · 10 Dec 2026 (in 11 days) · first alert on 30 Nov 2026\n"
        "• *Van insurance* · sam@acme.example · 15 Dec 2026 (in 16 days) · snoozed until 5 Dec 2026\n"
        "• *Domain* · <@U0IT000001> · 20 Dec 2026 (in 21 days) · answered\n"
        "• *Certificate* · <@U0IT000001> · 28 Dec 2026 (in 29 days) · not alerted yet"
    )
    assert sections[2] == (
        "*Past expiry, not renewed* (2)\n"
        "• *Old permit* · <@U0OPS00001> · 1 Oct 2026 (59 days ago) · not alerted yet\n"
        "• *Fire extinguisher service* · <@U0OPS00001> · 20 Nov 2026 (9 days ago) · waiting, escalated"
    )
    # The row problems come from the registry exactly as the tick reports them, then drive-sync's.
    assert sections[3] == (
        "*Sheet problems* (2)\n"
        '• registry.csv: row 12, column expiry_date: "31/11/2026" is not a real date\n'
        "• drive-sync: the sheet's header has no owner column"
    )
    assert text == (
        "Weekly digest 23-29 Nov 2026: 5 pings, 3 answers, 5 expiring in 30 days, 2 past expiry, "
        "2 sheet problems"
    )


def test_a_quiet_week_says_none_rather_than_showing_empty_lists():
    _, blocks = slack_digest(week_figures([], [], [], SUNDAY, TZ), Voice(), TZ)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections == [
        "*Pings sent:* 0\n*Answers:* 0",
        "*Expiring in the next 30 days:* none",
        "*Past expiry, not renewed:* none",
        "*Sheet problems:* none",
    ]


def test_the_voice_docs_digest_line_is_used_and_sheet_text_cannot_become_markup():
    voice = parse_voice("[digest]\n{due}: {item} for {owner} ({category}), {state}\n")
    item = Item("X-1", "Lease <!channel> & co", date(2026, 12, 1), "U0LEASE001", 2)
    _, blocks = slack_digest(week_figures([item], [], [], SUNDAY, TZ), voice, TZ)
    assert blocks[3]["text"]["text"] == (
        "*Expiring in the next 30 days* (1)\n"
        "• in 2 days: Lease &lt;!channel&gt; &amp; co for <@U0LEASE001> (uncategorised), not alerted yet"
    )


def test_state_and_due_are_digest_placeholders_only():
    try:
        parse_voice("[reminder]\n{item} is {state}\n")
    except DocumentError as exc:
        assert "unknown placeholder {state}" in str(exc)
    else:
        raise AssertionError("{state} outside [digest] must be a parse error")


def test_the_email_version_reads_as_plain_text():
    items, problems = known_week()
    content = email_digest(week_figures(items, PINGS, ACKS, SUNDAY, TZ, problems), Voice(), TZ)
    assert content.subject == "Expiry Watcher weekly digest: 23-29 Nov 2026"
    assert "Pings sent: 5 (3 reminders, 2 escalations; 3 by Slack, 2 by email)" in content.text
    assert "- Office lease · U0LEASE001 · 2 Dec 2026 (in 3 days) · waiting, escalated" in content.text
    assert "*" not in content.text and "<@" not in content.text
    assert "<li>" not in content.html and "Office lease" in content.html


def test_a_week_across_months_and_years_is_labelled_plainly():
    _, blocks = slack_digest(week_figures([], [], [], date(2027, 1, 3), TZ), Voice(), TZ)
    assert blocks[0]["text"]["text"] == "Weekly digest: 28 Dec 2026 - 3 Jan 2027"
    _, blocks = slack_digest(week_figures([], [], [], date(2026, 12, 6), TZ), Voice(), TZ)
    assert blocks[0]["text"]["text"] == "Weekly digest: 30 Nov - 6 Dec 2026"


# -- a long sheet ----------------------------------------------------------------------------------


def test_a_2000_item_sheet_stays_within_slacks_limits_and_says_how_many_more():
    long_name = "Maintenance contract for the <north> & south buildings " * 6  # 330 characters
    items = [
        Item(f"L-{n:04d}", f"{long_name}#{n}", SUNDAY + timedelta(days=n % 31), f"U{n:09d}", n + 2)
        for n in range(2000)
    ]
    items += [
        Item(f"O-{n:04d}", f"Overdue {n}", SUNDAY - timedelta(days=1 + n), f"U{n:09d}", n) for n in range(400)
    ]
    problems = [
        f"registry.csv: row {n}, column owner: {'x' * 500} is not a Slack user ID" for n in range(2000)
    ]
    pings = [ping(f"L-{n:04d}", (SUNDAY + timedelta(days=n % 31)).isoformat(), 0, "first_alert", "2026-11-25")
             for n in range(2000)]  # fmt: skip
    figures = week_figures(items, pings, [], SUNDAY, TZ, problems)
    assert len(figures.upcoming) == 2000 and len(figures.overdue) == 400

    text, blocks = slack_digest(figures, Voice(), TZ)
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= 10
    assert len(text) <= 4000  # the notification stays short (Slack truncates at 40,000)
    assert len(json.dumps(blocks)) < 50_000
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Pings sent:* 2,000 (2,000 first alerts; 2,000 by Slack)" in shown
    assert "*Expiring in the next 30 days* (2,000)" in shown
    assert "…and 1,975 more expiring in the next 30 days: see the sheet" in shown
    assert "…and 385 more past expiry: see the sheet" in shown
    assert "…and 1,990 more problems: see the sheet" in shown
    # the most urgent first: due today, then the longest overdue
    assert "(today)" in shown.split("*Expiring in the next 30 days* (2,000)\n• ")[1].splitlines()[0]
    assert "Overdue 399" in shown.split("*Past expiry, not renewed* (400)\n• ")[1].splitlines()[0]

    email = email_digest(figures, Voice(), TZ)
    assert "…and 1,800 more expiring in the next 30 days: see the sheet" in email.text


def test_a_very_long_cell_is_cut_and_the_date_and_state_still_show():
    item = Item("X-1", "y" * 5000, SUNDAY + timedelta(days=3), "U0LEASE001", 2)
    _, blocks = slack_digest(week_figures([item], [], [], SUNDAY, TZ), Voice(), TZ)
    line = blocks[3]["text"]["text"].splitlines()[1]
    assert line == f"• *{'y' * 79}…* · <@U0LEASE001> · 2 Dec 2026 (in 3 days) · not alerted yet"


def test_a_wordy_digest_line_is_cut_not_the_message():
    voice = parse_voice("[digest]\n" + "Please look at this one. " * 40 + "{item}\n")
    item = Item("X-1", "Lease", SUNDAY + timedelta(days=3), "U0LEASE001", 2)
    _, blocks = slack_digest(week_figures([item], [], [], SUNDAY, TZ), voice, TZ)
    line = blocks[3]["text"]["text"].splitlines()[1]
    assert len(line) == 2 + 280 and line.endswith("…")


def test_acks_are_dated_in_the_configured_timezone():
    # 23:30 UTC on Sunday 22 Nov is already Monday 23 Nov in Auckland: inside the week there.
    late = [ack("A-3", "2026-12-20", "ack_only", "2026-11-22T23:30:00+00:00")]
    assert dict(week_figures([], [], late, SUNDAY, "Pacific/Auckland").answers) == {"ack_only": 1}
    assert dict(week_figures([], [], late, SUNDAY, "Europe/London").answers) == {}
    assert late[0].at.tzinfo is not None and late[0].at.astimezone(UTC).hour == 23
