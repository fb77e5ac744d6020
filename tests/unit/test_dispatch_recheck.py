"""ew.dispatching.recheck: a deferred or late move against the item as the sheet shows it now."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from ew.chain import Move
from ew.dispatching import recheck
from ew.items import Item

ITEM = Item("A-2", "Van insurance", date(2027, 1, 1), "U04FIN0001", row=3)
ALERT = Move("A-2", "first_alert", "U04FIN0001", 34, date(2027, 1, 1), date(2027, 1, 1), 0)
ESCALATION = Move(
    "A-2", "escalate", "ops@acme.example", 5, date(2027, 1, 1), date(2027, 1, 1), 2, "U04FIN0001"
)


def test_nothing_is_sent_for_an_item_gone_retired_or_in_another_cycle() -> None:
    assert recheck(ITEM, ALERT, None) == "the item is no longer in the sheet"
    assert recheck(ITEM, ALERT, replace(ITEM, status="retired")) == "the item is retired in the sheet"
    assert "another expiry (2028-01-01)" in str(
        recheck(ITEM, ALERT, replace(ITEM, expiry_date=date(2028, 1, 1)))
    )


def test_a_new_owner_gets_the_owners_message_and_is_named_in_an_escalation() -> None:
    now = replace(ITEM, owner="U04NEWOWN1", notes="new broker")
    assert recheck(ITEM, ALERT, now) == (now, replace(ALERT, recipient="U04NEWOWN1"))
    # The escalation still goes to whom the rules say; it names the owner as the sheet does now.
    assert recheck(ITEM, ESCALATION, now) == (now, replace(ESCALATION, escalated_from="U04NEWOWN1"))


def test_a_moved_notice_date_counts_to_the_new_deadline() -> None:
    now = replace(ITEM, notice_date=date(2026, 12, 1))
    assert recheck(ITEM, ALERT, now) == (now, replace(ALERT, anchor=date(2026, 12, 1)))
