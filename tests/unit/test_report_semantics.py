"""What the weekly digest and the monthly summary say must match what the chain does (DESIGN.md §6):
an item is not "answered" while escalations go on, a ping is in exactly one digest, and a renewal typed
into the sheet is a renewal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ew.activity import SentPing
from ew.chain import Ack
from ew.digest import week_figures
from ew.items import load_registry

TZ = "Europe/London"
SUNDAY = date(2026, 11, 29)
SHEET = b"""item_id,item,category,expiry_date,owner,status
A-1,Office lease,contract,2026-12-02,U0LEASE001,
A-2,Domain,domain,2026-12-20,U0IT000001,
"""


def ping(item_id: str, cycle: str, index: int, move: str, day: str) -> SentPing:
    return SentPing(item_id, date.fromisoformat(cycle), index, move, date.fromisoformat(day), "slack", "sent")


def ack(item_id: str, cycle: str, action: str, at: str) -> Ack:
    return Ack(item_id, date.fromisoformat(cycle), action, datetime.fromisoformat(at), "U0SOMEONE1")


def states(pings: list[SentPing], acks: list[Ack]) -> dict[str, str]:
    figures = week_figures(load_registry(SHEET).items, pings, acks, SUNDAY, TZ)
    return {s.item.item_id: s.state for s in figures.upcoming}


# Both items escalated after their first alert: A-1 on 25 Nov, A-2 on 20 Nov.
ESCALATED = [
    ping("A-1", "2026-12-02", 0, "first_alert", "2026-11-10"),
    ping("A-1", "2026-12-02", 1, "escalate", "2026-11-25"),
    ping("A-2", "2026-12-20", 0, "first_alert", "2026-11-10"),
    ping("A-2", "2026-12-20", 1, "escalate", "2026-11-20"),
]


def test_an_ack_only_before_the_escalation_is_not_answered_while_escalations_go_on():
    # A-1: the owner tapped Ack only after the first alert; escalation is the safety net for "not
    # renewed" (DESIGN.md §6 rule 3), so it went out anyway and goes on: the item is not settled.
    # the escalation owner tapped Ack only after the escalation: that stops it.
    acks = [
        ack("A-1", "2026-12-02", "ack_only", "2026-11-11T09:00:00+00:00"),
        ack("A-2", "2026-12-20", "ack_only", "2026-11-20T15:00:00+00:00"),
    ]
    assert states(ESCALATED, acks) == {"A-1": "acknowledged, still escalating", "A-2": "answered"}


def test_a_snooze_before_the_escalation_does_not_read_as_stopping_it():
    # the owner snoozed to 10 Dec after the first alert; escalation went out on 25 Nov anyway and
    # goes on (DESIGN.md §6 rule 3): the snooze stops the reminders only. A-2: the escalation owner
    # snoozed after the escalation: that stops it while it runs.
    acks = [
        Ack("A-1", date(2026, 12, 2), "snooze", datetime.fromisoformat("2026-11-11T09:00:00+00:00"),
            "U0LEASE001", snooze_until=date(2026, 12, 10)),
        Ack("A-2", date(2026, 12, 20), "snooze", datetime.fromisoformat("2026-11-21T09:00:00+00:00"),
            "U0IT000001", snooze_until=date(2026, 12, 5)),
    ]  # fmt: skip
    assert states(ESCALATED, acks) == {
        "A-1": "snoozed until 10 Dec 2026, still escalating",
        "A-2": "snoozed until 5 Dec 2026",
    }


def test_an_ack_only_with_no_escalation_yet_stays_answered():
    pings = [ping("A-2", "2026-12-20", 0, "first_alert", "2026-11-20")]
    acks = [ack("A-2", "2026-12-20", "ack_only", "2026-11-21T09:00:00+00:00")]
    assert states(pings, acks)["A-2"] == "answered"


def test_a_ping_sent_on_sunday_evening_after_the_digest_is_in_the_next_digest():
    # The 18:00 digest of 29 Nov has gone out; an escalation goes out at 19:30 (the anchor is too
    # close to wait for Monday). It is counted once: by the next digest, not by neither.
    london = ZoneInfo(TZ)
    evening = datetime(2026, 11, 29, 19, 30, tzinfo=london)
    late = SentPing("A-1", date(2026, 12, 2), 1, "escalate", SUNDAY, "slack", "sent", evening)
    items = load_registry(SHEET).items
    digests = [datetime.combine(SUNDAY + timedelta(days=7 * n), time(18), london) for n in (0, 1)]
    counted = [
        dict(week_figures(items, [late], [], run.date(), TZ, until=run).pings_by_move) for run in digests
    ]
    assert counted == [{}, {"escalate": 1}]
