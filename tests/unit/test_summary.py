"""The monthly summary's figures, the check of a model's paragraph, and the email (ew.summary)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from ew.activity import SentPing
from ew.chain import Ack
from ew.items import load_registry
from ew.summary import (
    MonthFigures,
    invented_numbers,
    month_figures,
    narrative_problem,
    narrative_prompt,
    numbers_in,
    plain_paragraph,
    report_month,
    summary_email,
)

TZ = "Europe/London"
NOVEMBER = date(2026, 11, 1)
SHEET = b"""item_id,item,expiry_date,owner,status
A-1,Office lease,2027-11-30,U0LEASE001,
A-2,Van insurance,2026-11-20,sam@acme.example,
A-3,Domain,2026-11-28,U0IT000001,
A-4,Fire extinguisher service,2026-11-04,U0OPS00001,
A-5,Printer lease,2026-11-10,U0OPS00001,retired
A-6,Trademark,2026-12-02,U0LEGAL001,
"""


def ping(item_id: str, cycle: str, index: int, move: str, day: str, status: str = "sent") -> SentPing:
    return SentPing(item_id, date.fromisoformat(cycle), index, move, date.fromisoformat(day), "slack", status)


def ack(item_id: str, cycle: str, action: str, at: str, **values: date) -> Ack:
    return Ack(item_id, date.fromisoformat(cycle), action, datetime.fromisoformat(at), "U0SOMEONE1", **values)


PINGS = [
    # A-1 was renewed in November, from an alert in October: its archived chain still counts
    ping("A-1", "2026-11-30", 0, "first_alert", "2026-10-01"),
    ping("A-1", "2026-11-30", 1, "reminder", "2026-11-02"),
    # A-2 renewed 10 days after its first alert
    ping("A-2", "2026-11-20", 0, "first_alert", "2026-11-05"),
    ping("A-3", "2026-11-28", 0, "first_alert", "2026-11-03"),
    ping("A-3", "2026-11-28", 1, "escalate", "2026-11-21"),
    ping("A-4", "2026-11-04", 5, "escalate", "2026-11-02"),
    ping("A-6", "2026-12-02", 0, "first_alert", "2026-10-31"),  # October's
    ping("A-6", "2026-12-02", 1, "reminder", "2026-12-01"),  # December's
    ping("A-6", "2026-12-02", 2, "reminder", "2026-11-30", status="scheduled"),  # never delivered
]
ACKS = [
    ack("A-1", "2026-11-30", "renew", "2026-11-09T10:00:00+00:00", new_expiry=date(2027, 11, 30)),
    ack("A-2", "2026-11-20", "renew", "2026-11-15T10:00:00+00:00", new_expiry=date(2027, 11, 20)),
    ack("A-3", "2026-11-28", "snooze", "2026-11-10T10:00:00+00:00", snooze_until=date(2026, 11, 17)),
    ack("A-3", "2026-11-28", "ack_only", "2026-11-22T10:00:00+00:00"),
    ack("A-6", "2026-12-02", "ack_only", "2026-10-31T23:30:00+00:00"),  # October (GMT)
    ack("A-4", "2026-11-04", "renew", "2026-12-01T09:00:00+00:00", new_expiry=date(2027, 11, 4)),  # too late
]


def november() -> MonthFigures:
    return month_figures(load_registry(SHEET).items, PINGS, ACKS, NOVEMBER, TZ)


def test_last_months_figures():
    figures = november()
    assert dict(figures.alerts_by_move) == {"reminder": 1, "first_alert": 2, "escalate": 2}
    assert (figures.renewals, figures.snoozes, figures.ack_only) == (2, 1, 1)
    # A-4 was renewed only in December, A-3 never: both expired in November without renewal. A-2 was
    # renewed before its expiry; A-5 is retired.
    assert [i.item_id for i in figures.expired] == ["A-4", "A-3"]
    assert figures.days_to_renewal == [39, 10]  # 1 Oct -> 9 Nov; A-2: 5 Nov -> 15 Nov
    assert figures.median_days_to_renewal == Decimal("24.5")


def test_the_month_reported_is_the_one_before():
    assert report_month(date(2026, 12, 7)) == NOVEMBER
    assert report_month(date(2027, 1, 4)) == date(2026, 12, 1)


def test_the_plain_paragraph_and_the_email():
    figures = november()
    assert plain_paragraph(figures) == (
        "In November 2026 the watcher sent 5 alerts (2 first alerts, 1 reminder, 2 escalations). "
        "Owners renewed 2 items, snoozed 1 and answered 1 with ack only. 2 items expired without "
        "renewal. The median time from first alert to renewal was 24.5 days."
    )
    content = summary_email(figures, plain_paragraph(figures), written_by_model=False)
    assert content.subject == "Expiry Watcher: November 2026 summary"
    assert "- Median days from first alert to renewal: 24.5 (2 renewals measured)" in content.text
    assert "- Fire extinguisher service (A-4, expired 4 Nov 2026)" in content.text
    assert "written by Claude" not in content.text
    assert "<p>In November 2026 the watcher sent 5 alerts" in content.html


def test_the_prompt_carries_the_figures_and_nothing_else():
    assert narrative_prompt(november()) == (
        "Month: November 2026\nFigures:\n- alerts sent: 5\n- first alerts: 2\n- reminders: 1\n"
        "- escalations: 2\n- renewals: 2\n- snoozes: 1\n- ack-only answers: 1\n"
        "- items that expired without renewal: 2\n- median days from first alert to renewal: 24.5\n"
        "- renewals measured for that median: 2"
    )


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("12 alerts, 1,234 pings and 24.5 days.", [("12", 12), ("1,234", 1234), ("24.5", Decimal("24.5"))]),
        (
            "Twenty-one reminders and one hundred and five alerts",
            [("twenty one", 21), ("one hundred and five", 105)],
        ),
        ("a dozen renewals, a hundred alerts", [("dozen", 12), ("hundred", 100)]),
        ("40% of alerts, 12 per cent", [("40%", None), ("12 per cent", None)]),
        ("half of them doubled", [("half", None), ("doubled", None)]),
        ("on 2026-11-30", [("2026", 2026), ("11", 11), ("30", 30)]),
        ("first alerts in Q4 for van VN21", []),
    ],
)
def test_numbers_are_found_however_they_are_written(text, numbers):
    assert numbers_in(text) == [(written, None if v is None else Decimal(v)) for written, v in numbers]


def test_a_paragraph_with_only_the_figures_passes():
    text = (
        "In November 2026 the watcher sent 5 alerts, two of them escalations. Owners renewed 2 items "
        "after a median of 24.5 days; 2 items expired without renewal."
    )
    assert invented_numbers(text, november()) == []
    assert narrative_problem(text, november()) is None


@pytest.mark.parametrize(
    ("text", "invented"),
    [
        ("The watcher sent 6 alerts in November 2026.", ["6"]),
        ("Renewals rose by forty percent.", ["forty", "percent"]),
        ("40% of alerts were answered.", ["40%"]),
        ("Half the owners answered.", ["half"]),
        ("Owners renewed 2 items on 30 November.", ["30"]),
        ("The watcher sent seventeen alerts in 2025.", ["seventeen", "2025"]),
    ],
)
def test_an_invented_number_is_caught(text, invented):
    assert invented_numbers(text, november()) == invented
    assert narrative_problem(text, november()) == "numbers that are not among the figures: " + ", ".join(
        invented
    )


def test_a_paragraph_far_too_long_is_refused():
    assert narrative_problem("Fine. " * 400, november()) == "the paragraph is 2,400 characters long"
