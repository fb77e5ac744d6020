"""The voice doc (DESIGN.md §5): sections per message kind, safe placeholders, built-in defaults."""

from __future__ import annotations

import pytest

from ew.voice import DEFAULT_TEMPLATES, KINDS, PLACEHOLDERS, Voice, parse_voice, placeholders_for
from opskit.placeholders import template_problems
from opskit.problems import DocumentError

VALUES = {
    "item": "Van insurance",
    "category": "insurance",
    "expiry_date": "2026-06-30",
    "days_left": 30,
    "owner": "U012AB3CD",
    "notes": "Policy 123",
    "renewal_link": "https://example.com/renew",
    "escalated_from": "Sam",
}

DOC = """\
# our voice
[First_Alert]

Hi {owner}! {item} runs out on {expiry_date}.

Notes: {notes} {{not a placeholder}}

[email_subject]
Heads-up: {item}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(DocumentError) as raised:
        parse_voice(text)
    return [str(p) for p in raised.value.problems]


def test_sections_become_templates_with_blank_edges_trimmed():
    voice = parse_voice(DOC)
    assert dict(voice.templates) == {
        "first_alert": (
            "Hi {owner}! {item} runs out on {expiry_date}.\n\nNotes: {notes} {{not a placeholder}}"
        ),
        "email_subject": "Heads-up: {item}",
    }
    assert voice.render("first_alert", VALUES) == (
        "Hi U012AB3CD! Van insurance runs out on 2026-06-30.\n\nNotes: Policy 123 {not a placeholder}"
    )
    assert voice.render("email_subject", VALUES) == "Heads-up: Van insurance"


def test_missing_sections_use_the_defaults():
    voice = parse_voice(DOC)
    assert voice.render("reminder", VALUES) == Voice().render("reminder", VALUES)
    assert parse_voice("") == Voice({})


def test_default_wording():
    voice = Voice()
    assert voice.render("first_alert", VALUES) == (
        "Van insurance (insurance) expires on 2026-06-30, in 30 days.\n"
        "Now is a good time to start the renewal. Choose Renew once it's done, "
        "Snooze to be reminded later, or Ack only if it's in hand."
    )
    assert voice.render("escalate", VALUES) == (
        "Van insurance (insurance) still hasn't been renewed, and its expiry date is 2026-06-30.\n"
        "It was with Sam, so it has been passed to you to make sure it doesn't lapse. "
        "Please renew it, or check in with Sam."
    )
    assert voice.render("email_subject", VALUES) == "Renewal needed: Van insurance (expires 2026-06-30)"


def test_every_kind_has_a_safe_default():
    assert set(DEFAULT_TEMPLATES) == set(KINDS)
    for kind, template in DEFAULT_TEMPLATES.items():
        assert template_problems(template, placeholders_for(kind)) == [], kind
        assert Voice().render(kind, VALUES)
    assert "{escalated_from}" in DEFAULT_TEMPLATES["escalate"]
    assert "\n" not in DEFAULT_TEMPLATES["email_subject"]


def test_missing_values_render_empty_and_extra_values_are_ignored():
    voice = Voice({"reminder": "{item}|{notes}|{renewal_link}"})
    assert voice.render("reminder", {"item": "Lease", "notes": None, "secret": "x"}) == "Lease||"


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown message kind 'nudge'"):
        Voice().render("nudge", VALUES)


def test_rendering_never_reaches_object_internals():
    with pytest.raises(ValueError, match="not allowed"):
        Voice({"reminder": "{item.__init__.__globals__}"}).render("reminder", VALUES)


def test_unsafe_and_unknown_placeholders_name_their_line():
    text = "[reminder]\nStill due: {item}\n\n{item.__init__.__globals__}\n{expiry} {days_left:>5}\n"
    allowed = ", ".join(f"{{{name}}}" for name in sorted(PLACEHOLDERS))
    assert problems_of(text) == [
        "voice.txt: line 4: placeholder {item.__init__.__globals__} is not allowed: "
        "use a plain name like {item}, without . or [ ]",
        f"voice.txt: line 5: unknown placeholder {{expiry}}: use one of {allowed}",
        "voice.txt: line 5: placeholder {days_left:>5} is not allowed: write just {days_left}",
    ]


def test_unknown_sections():
    assert problems_of("[first alert]\nhi\n[reminders]\nhi\n[greeting]\nhi") == [
        "voice.txt: line 1: unknown section [first alert]: did you mean [first_alert]?",
        "voice.txt: line 3: unknown section [reminders]: did you mean [reminder]?",
        "voice.txt: line 5: unknown section [greeting]: use one of "
        "[first_alert], [reminder], [escalate], [digest], [email_subject]",
    ]


def test_text_outside_sections_is_reported_once():
    assert problems_of("\nDear team,\nplease read\n[reminder]\nhi") == [
        "voice.txt: line 2: text outside any section: put it under a header like [first_alert]"
    ]


def test_empty_sections():
    assert problems_of("[reminder]\n\n# just a comment\n\n[escalate]\nok {escalated_from}\n[digest]") == [
        "voice.txt: line 1: section [reminder] is empty: write the message under it, "
        "or delete the header to use the built-in one",
        "voice.txt: line 7: section [digest] is empty: write the message under it, "
        "or delete the header to use the built-in one",
    ]


def test_email_subject_must_be_one_line():
    assert problems_of("[email_subject]\nRenewal:\n{item}\n") == [
        "voice.txt: line 3: [email_subject] must be a single line: an email subject cannot hold a line break"
    ]


def test_every_problem_is_reported_together():
    text = "intro\n[reminder]\n{expiry\n[reminder]\nx\n[bogus\n[escalate]\n"
    assert problems_of(text) == [
        "voice.txt: line 1: text outside any section: put it under a header like [first_alert]",
        'voice.txt: line 3: a "{" or "}" has no partner: placeholders look like {item}; '
        "write {{ or }} for a literal brace",
        "voice.txt: line 4: section [reminder] appears twice (lines 2 and 4): "
        "keep one and move everything under it",
        'voice.txt: line 6: section header "[bogus" is missing its closing "]"',
        "voice.txt: line 7: section [escalate] is empty: write the message under it, "
        "or delete the header to use the built-in one",
    ]


def test_windows_line_endings_and_bom():
    voice = parse_voice("\ufeff[reminder]\r\nHi {owner}\r\nbye\r\n")
    assert voice.templates["reminder"] == "Hi {owner}\nbye"
