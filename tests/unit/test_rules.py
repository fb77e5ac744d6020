"""The rules doc (DESIGN.md §5): parsing, inheritance, closed days and plain-words problems."""

from __future__ import annotations

from datetime import date

import pytest

from ew.rules import BUILTIN_DEFAULT, ChainRules, Rules, parse_rules
from opskit.problems import DocumentError

DESIGN_EXAMPLE = """\
# lines starting with # are comments
[default]
first alert: 60 days before
reminder: every 14 days
escalate: 7 days before
escalate to: ops@example.com

[insurance]
first alert: 90 days before
reminder: every 7 days
escalate: 14 days before

closed: 2026-12-24, 2026-12-31
"""


def problems_of(text: str, **kwargs: str) -> list[str]:
    with pytest.raises(DocumentError) as raised:
        parse_rules(text, **kwargs)
    return [str(p) for p in raised.value.problems]


def test_design_example():
    rules = parse_rules(DESIGN_EXAMPLE)
    assert rules == Rules(
        default=ChainRules(60, 14, 7, "ops@example.com"),
        categories={"insurance": ChainRules(90, 7, 14, "ops@example.com")},
        closed=frozenset({date(2026, 12, 24), date(2026, 12, 31)}),
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "\ufeff"])
def test_empty_doc_means_builtin_defaults(text):
    rules = parse_rules(text)
    assert rules.default == BUILTIN_DEFAULT == ChainRules(60, 14, 7, None)
    assert dict(rules.categories) == {}
    assert rules.closed == frozenset()


def test_default_section_inherits_missing_keys_from_builtin():
    rules = parse_rules("[default]\nreminder: every 3 days")
    assert rules.default == ChainRules(60, 3, 7, None)


def test_categories_inherit_from_default_section():
    rules = parse_rules(
        "[default]\nfirst alert: 30 days before\nescalate to: U012AB3CD\n[permits]\nescalate: 2 days before"
    )
    assert rules.categories["permits"] == ChainRules(30, 14, 2, "U012AB3CD")


def test_category_without_default_section_inherits_builtin():
    rules = parse_rules("[Domains]\nfirst alert: 4 weeks before")
    assert rules.default == BUILTIN_DEFAULT
    assert rules.for_category("domains") == ChainRules(28, 14, 7, None)


def test_for_category_is_case_insensitive_and_falls_back_to_default():
    rules = parse_rules(DESIGN_EXAMPLE)
    insurance = ChainRules(90, 7, 14, "ops@example.com")
    assert rules.for_category("Insurance") == insurance
    assert rules.for_category("  INSURANCE ") == insurance
    assert rules.for_category("visas") == rules.default
    assert rules.for_category("") == rules.default
    assert rules.for_category("default") == rules.default


def test_keys_and_values_are_case_and_space_insensitive():
    text = "[DEFAULT]\n  First   ALERT :  8 Weeks   Before\nREMINDER: Every 2 Weeks\nEscalate: 1 day before\n"
    assert parse_rules(text).default == ChainRules(56, 14, 1, None)


@pytest.mark.parametrize(
    ("value", "days"),
    [("every 1 day", 1), ("every day", 1), ("every week", 7), ("every 3 weeks", 21), ("every 10days", 10)],
)
def test_reminder_spellings(value, days):
    assert parse_rules(f"[default]\nreminder: {value}").default.reminder_days == days


@pytest.mark.parametrize("owner", ["U012AB3CD", "W0123456", "ops@example.com", "first.last+x@shop.co.uk"])
def test_escalate_to_accepts_slack_ids_and_emails(owner):
    assert parse_rules(f"[default]\nescalate to: {owner}").default.escalate_to == owner


def test_closed_dates_anywhere_on_several_lines_in_any_style():
    text = (
        "closed: 2026-12-24\n"
        "[default]\n"
        "closed: 24 Dec 2026, 25 Dec 2026,\n"  # a trailing comma is harmless
        "[insurance]\n"
        "Closed: December 31, 2026, 1 Jan 2027\n"
    )
    rules = parse_rules(text)
    assert rules.closed == frozenset(
        {date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31), date(2027, 1, 1)}
    )
    assert rules.for_category("insurance") == rules.default  # closed: is not a category setting


def test_closed_numeric_dates_need_the_configured_order():
    assert parse_rules("closed: 01/03/2026", date_order="dmy").closed == {date(2026, 3, 1)}
    assert problems_of("closed: 01/03/2026") == [
        'rules.txt: line 1: closed: "01/03/2026" is ambiguous: set the date order (day-month-year or '
        "month-day-year) or write it as 2026-03-01 or 2026-01-03"
    ]


def test_bad_closed_dates():
    assert problems_of("closed: 2026-13-01, soon\nclosed:\n", source="rules-doc") == [
        'rules-doc: line 1: closed: "2026-13-01" is not a real date',
        'rules-doc: line 1: closed: "soon" is not a date: write it like 2026-03-01 or 1 Mar 2026',
        'rules-doc: line 2: closed: expected dates like "2026-12-24, 2026-12-31", found nothing',
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("reminder: fortnightly", 'reminder: expected "every N days", found "fortnightly"'),
        ("first alert: 60", 'first alert: expected "N days before", found "60"'),
        ("escalate: 7 days after", 'escalate: expected "N days before", found "7 days after"'),
        ("escalate: -1 days before", 'escalate: expected "N days before", found "-1 days before"'),
        ("reminder: every 0 days", 'reminder: expected every 1 day or more, found "every 0 days"'),
        (
            "first alert: 3651 days before",
            'first alert: expected at most 3650 days, found "3651 days before"',
        ),
        (
            "first alert: 600 weeks before",
            'first alert: expected at most 3650 days, found "600 weeks before"',
        ),
        (
            "escalate to: bob",
            'escalate to: expected a Slack user ID like U012AB3CD or an email address, found "bob"',
        ),
        (
            "escalate to: u012ab3cd",
            'escalate to: expected a Slack user ID like U012AB3CD or an email address, found "u012ab3cd"',
        ),
        (
            "escalate to:",
            'escalate to: expected a Slack user ID like U012AB3CD or an email address, found ""',
        ),
        ("remind: every 7 days", 'unknown setting "remind": did you mean "reminder"?'),
        ("first_alert: 60 days before", 'unknown setting "first_alert": did you mean "first alert"?'),
        (
            "colour: blue",
            'unknown setting "colour": use one of first alert, reminder, escalate, escalate to, closed',
        ),
        ("first alert 60 days", "expected 'name: value', found \"first alert 60 days\""),
    ],
)
def test_bad_lines(line, message):
    assert problems_of(f"[default]\n{line}\n") == [f"rules.txt: line 2: {message}"]


def test_range_limits_are_inclusive():
    rules = parse_rules("[default]\nfirst alert: 3650 days before\nescalate: 0 days before")
    assert rules.default == ChainRules(3650, 14, 0, None)


def test_settings_outside_a_section():
    assert problems_of("reminder: every 7 days\n[default]\n") == [
        'rules.txt: line 1: "reminder" is outside any section: put it under [default] or a [category]'
    ]


def test_a_setting_given_twice_in_one_section():
    assert problems_of("[default]\nreminder: every 7 days\n\nreminder: every 9 days") == [
        "rules.txt: line 4: reminder is already set on line 2 in [default]: keep one"
    ]


def test_escalate_must_stay_under_first_alert_after_inheritance():
    text = "[default]\nfirst alert: 30 days before\n\n[permits]\nescalate: 30 days before\n"
    assert problems_of(text) == [
        "rules.txt: line 4: [permits]: escalate (30 days before) must be closer to the expiry "
        "than first alert (30 days before)"
    ]


def test_a_bad_default_is_reported_once_not_for_every_category():
    text = (
        "[default]\nescalate: 90 days before\n"
        "[insurance]\nreminder: every 7 days\n"
        "[visas]\nfirst alert: 1 day before"
    )
    assert problems_of(text) == [
        "rules.txt: line 1: [default]: escalate (90 days before) must be closer to the expiry "
        "than first alert (60 days before)",
        "rules.txt: line 5: [visas]: escalate (90 days before) must be closer to the expiry "
        "than first alert (1 day before)",
    ]


def test_every_problem_is_reported_together_in_line_order():
    text = (
        "first alert: 30 days before\n"  # 1: outside a section
        "[default]\n"  # 2
        "reminder: fortnightly\n"  # 3
        "escalte: 7 days before\n"  # 4
        "[insurance\n"  # 5: broken header; its lines are not checked
        "nonsense\n"  # 6
        "[visas]\n"  # 7
        "escalate: 70 days before\n"  # 8
        "closed: someday\n"  # 9
        "[Visas]\n"  # 10
    )
    assert problems_of(text) == [
        'rules.txt: line 1: "first alert" is outside any section: put it under [default] or a [category]',
        'rules.txt: line 3: reminder: expected "every N days", found "fortnightly"',
        'rules.txt: line 4: unknown setting "escalte": did you mean "escalate"?',
        'rules.txt: line 5: section header "[insurance" is missing its closing "]"',
        "rules.txt: line 7: [visas]: escalate (70 days before) must be closer to the expiry "
        "than first alert (60 days before)",
        'rules.txt: line 9: closed: "someday" is not a date: write it like 2026-03-01 or 1 Mar 2026',
        "rules.txt: line 10: section [visas] appears twice (lines 7 and 10): "
        "keep one and move everything under it",
    ]


def test_windows_line_endings():
    assert parse_rules(DESIGN_EXAMPLE.replace("\n", "\r\n")) == parse_rules(DESIGN_EXAMPLE)
