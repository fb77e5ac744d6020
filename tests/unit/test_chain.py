"""The chain policy, rule by rule (DESIGN.md §6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ew.chain import (
    ACK_ONLY,
    ESCALATE,
    FIRST_ALERT,
    REMINDER,
    RENEW,
    SNOOZE,
    Ack,
    Chain,
    Ping,
    current_item,
    decide,
    split_chain,
)
from ew.items import Item
from ew.rules import ChainRules, Rules

EXPIRY = date(2026, 6, 30)
ADMIN = "admin@example.com"
RULES = Rules(
    default=ChainRules(first_alert_days=60, reminder_days=14, escalate_days=7, escalate_to=None),
    categories={
        "insurance": ChainRules(
            first_alert_days=90, reminder_days=7, escalate_days=14, escalate_to="U0ESCALATE"
        )
    },
    closed=frozenset(),
)


def item(**kw: object) -> Item:
    base: dict[str, object] = dict(
        item_id="IT-1", item="Office lease", expiry_date=EXPIRY, owner="U0OWNER01", row=2
    )
    base.update(kw)
    return Item(**base)


def ping(move: str, sent_on: date, index: int = 0, expiry: date = EXPIRY) -> Ping:
    return Ping("IT-1", expiry, index, move, sent_on, "U0OWNER01")


def ack(action: str, on: date, **kw: object) -> Ack:
    at = datetime(on.year, on.month, on.day, 10, 0, tzinfo=UTC)
    return Ack("IT-1", EXPIRY, action, at, by="U0OWNER01", **kw)


def days_before(n: int) -> date:
    return EXPIRY - timedelta(days=n)


def chain(*records: Ping | Ack) -> Chain:
    return Chain(
        pings=tuple(r for r in records if isinstance(r, Ping)),
        acks=tuple(r for r in records if isinstance(r, Ack)),
    )


# Rule 1: retired items and renewed cycles are silent.


def test_retired_item_is_never_alerted_even_when_expired() -> None:
    assert decide(item(status="retired"), RULES, Chain(), EXPIRY + timedelta(days=3), ADMIN) is None


def test_renew_recorded_for_this_cycle_stops_everything() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ack(RENEW, days_before(2), new_expiry=EXPIRY))
    assert decide(item(), RULES, c, days_before(1), ADMIN) is None


# Rule 2: the first alert.


def test_no_alert_before_the_first_alert_window() -> None:
    assert decide(item(), RULES, Chain(), days_before(61), ADMIN) is None


def test_first_alert_on_the_day_the_window_opens() -> None:
    move = decide(item(), RULES, Chain(), days_before(60), ADMIN)
    assert move is not None
    assert (move.move, move.recipient, move.days_left, move.chain_index) == (FIRST_ALERT, "U0OWNER01", 60, 0)


def test_first_alert_counts_to_the_notice_date_when_set() -> None:
    notice = date(2026, 5, 31)
    move = decide(item(notice_date=notice), RULES, Chain(), notice - timedelta(days=60), ADMIN)
    assert move is not None and move.move == FIRST_ALERT and move.anchor == notice and move.days_left == 60
    assert decide(item(notice_date=notice), RULES, Chain(), notice - timedelta(days=61), ADMIN) is None


def test_per_item_first_alert_days_wins_over_the_category() -> None:
    assert decide(item(first_alert_days=30), RULES, Chain(), days_before(31), ADMIN) is None
    move = decide(item(first_alert_days=30), RULES, Chain(), days_before(30), ADMIN)
    assert move is not None and move.move == FIRST_ALERT


def test_category_rules_apply_case_insensitively() -> None:
    move = decide(item(category="Insurance"), RULES, Chain(), days_before(90), ADMIN)
    assert move is not None and move.move == FIRST_ALERT


def test_an_item_added_late_gets_a_first_alert_before_any_escalation() -> None:
    move = decide(item(), RULES, Chain(), days_before(3), ADMIN)
    assert move is not None and move.move == FIRST_ALERT and move.recipient == "U0OWNER01"


def test_a_deferred_first_alert_already_counts_as_a_ping() -> None:
    # Scheduled for Monday, not yet delivered on Sunday's tick: no second first alert.
    c = chain(ping(FIRST_ALERT, days_before(57)))
    assert decide(item(), RULES, c, days_before(58), ADMIN) is None


# Rule 3: escalation.


def test_escalates_to_the_category_escalation_owner() -> None:
    c = chain(ping(FIRST_ALERT, days_before(90)))
    move = decide(item(category="insurance"), RULES, c, days_before(14), ADMIN)
    assert move is not None
    assert (move.move, move.recipient, move.escalated_from) == (ESCALATE, "U0ESCALATE", "U0OWNER01")
    assert move.chain_index == 1


def test_escalates_to_the_admin_when_the_rules_name_nobody() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)))
    move = decide(item(), RULES, c, days_before(7), ADMIN)
    assert move is not None and move.move == ESCALATE and move.recipient == ADMIN


def test_owner_acks_before_the_first_escalation_do_not_stop_it() -> None:
    c = chain(
        ping(FIRST_ALERT, days_before(60)),
        ack(ACK_ONLY, days_before(59)),
        ack(SNOOZE, days_before(20), snooze_until=days_before(1)),
    )
    move = decide(item(), RULES, c, days_before(7), ADMIN)
    assert move is not None and move.move == ESCALATE


def test_no_second_escalation_within_the_reminder_interval() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ping(ESCALATE, days_before(7), 1))
    assert decide(item(), RULES, c, days_before(1), ADMIN) is None


def test_expired_items_keep_escalating_on_the_reminder_cadence() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ping(ESCALATE, days_before(7), 1))
    move = decide(item(), RULES, c, EXPIRY + timedelta(days=7), ADMIN)
    assert move is not None and move.move == ESCALATE and move.days_left == -7 and move.chain_index == 2


def test_ack_only_after_the_escalation_stops_further_escalations() -> None:
    c = chain(
        ping(FIRST_ALERT, days_before(60)),
        ping(ESCALATE, days_before(7), 1),
        ack(ACK_ONLY, days_before(6)),
    )
    assert decide(item(), RULES, c, EXPIRY + timedelta(days=30), ADMIN) is None


def test_a_running_snooze_after_the_escalation_holds_it_and_it_resumes_when_it_runs_out() -> None:
    c = chain(
        ping(FIRST_ALERT, days_before(60)),
        ping(ESCALATE, days_before(7), 1),
        ack(SNOOZE, days_before(6), snooze_until=EXPIRY + timedelta(days=10)),
    )
    assert decide(item(), RULES, c, EXPIRY + timedelta(days=9), ADMIN) is None
    move = decide(item(), RULES, c, EXPIRY + timedelta(days=10), ADMIN)
    assert move is not None and move.move == ESCALATE


# Rule 4: reminders.


def test_reminder_after_the_interval_with_no_answer() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)))
    assert decide(item(), RULES, c, days_before(47), ADMIN) is None
    move = decide(item(), RULES, c, days_before(46), ADMIN)
    assert move is not None and (move.move, move.recipient, move.chain_index) == (REMINDER, "U0OWNER01", 1)


def test_reminder_interval_counts_from_the_latest_ping() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ping(REMINDER, days_before(46), 1))
    assert decide(item(), RULES, c, days_before(33), ADMIN) is None
    move = decide(item(), RULES, c, days_before(32), ADMIN)
    assert move is not None and move.move == REMINDER and move.chain_index == 2


def test_ack_only_stops_reminders_until_the_escalation_point() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ack(ACK_ONLY, days_before(59)))
    assert decide(item(), RULES, c, days_before(20), ADMIN) is None
    move = decide(item(), RULES, c, days_before(7), ADMIN)
    assert move is not None and move.move == ESCALATE


def test_running_snooze_holds_reminders_and_they_fire_the_tick_after_it_runs_out() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)), ack(SNOOZE, days_before(59), snooze_until=days_before(20)))
    assert decide(item(), RULES, c, days_before(21), ADMIN) is None
    move = decide(item(), RULES, c, days_before(20), ADMIN)
    assert move is not None and move.move == REMINDER


# Rule 5 and chain bookkeeping.


def test_healthy_item_inside_the_interval_gets_nothing() -> None:
    c = chain(ping(FIRST_ALERT, days_before(60)))
    assert decide(item(), RULES, c, days_before(50), ADMIN) is None


def test_a_recorded_renew_is_trusted_over_a_stale_sheet() -> None:
    new_expiry = date(2027, 6, 30)
    renew = Ack("IT-1", EXPIRY, RENEW, datetime(2026, 6, 1, tzinfo=UTC), new_expiry=new_expiry)
    stale_sheet = item(notice_date=date(2026, 5, 31))
    seen = current_item(stale_sheet, [renew])
    assert seen.expiry_date == new_expiry
    assert seen.notice_date == date(2027, 5, 31)
    # The renewed item's new cycle has no pings and is far from its window: silence.
    fresh, archived = split_chain(seen, [ping(FIRST_ALERT, days_before(60))], [renew])
    assert fresh == Chain() and len(archived) == 1
    assert decide(seen, RULES, fresh, date(2026, 6, 2), ADMIN) is None


def test_a_sheet_edit_moving_the_expiry_later_closes_the_chain_and_can_alert_at_once() -> None:
    later = EXPIRY + timedelta(days=30)
    old_pings = [ping(FIRST_ALERT, days_before(60)), ping(ESCALATE, days_before(7), 1)]
    edited = item(expiry_date=later)
    fresh, archived = split_chain(edited, old_pings, [])
    assert archived == old_pings
    move = decide(edited, RULES, fresh, days_before(5), ADMIN)
    assert move is not None and move.move == FIRST_ALERT and move.chain_index == 0 and move.days_left == 35
