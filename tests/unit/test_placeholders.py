"""Safe placeholder templates (opskit.placeholders)."""

from __future__ import annotations

import pytest

from opskit.placeholders import render_template, template_problems

ALLOWED = ("item", "category", "days_left")
CHOICES = "{category}, {days_left}, {item}"


def test_a_good_template_has_no_problems():
    assert template_problems("{item} ({category}) in {days_left} days {{literal}}", ALLOWED) == []
    assert template_problems("no placeholders at all", ALLOWED) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{expiry}", f"unknown placeholder {{expiry}}: use one of {CHOICES}"),
        ("{0}", f"unknown placeholder {{0}}: use one of {CHOICES}"),
        ("{ item }", f"unknown placeholder {{ item }}: use one of {CHOICES}"),
        ("{}", "empty placeholder {}: put a name inside, like {item}"),
        (
            "{item.__class__}",
            "placeholder {item.__class__} is not allowed: use a plain name like {item}, without . or [ ]",
        ),
        ("{item[0]}", "placeholder {item[0]} is not allowed: use a plain name like {item}, without . or [ ]"),
        (
            "{x.y}",
            "placeholder {x.y} is not allowed: use a plain name like {item}, without . or [ ]",
        ),
        ("{item!r}", "placeholder {item!r} is not allowed: write just {item}"),
        ("{days_left:>5}", "placeholder {days_left:>5} is not allowed: write just {days_left}"),
        ("{item!r:>3}", "placeholder {item!r:>3} is not allowed: write just {item}"),
        ("{item!rx}", '"!" is not allowed in a placeholder: write just a name, like {item}'),
    ],
)
def test_each_kind_of_problem(text, message):
    assert template_problems(text, ALLOWED) == [message]


@pytest.mark.parametrize("text", ["{item", "item}", "a } b", "{item} and {", "{a[}"])
def test_unbalanced_braces(text):
    assert template_problems(text, ALLOWED) == [
        'a "{" or "}" has no partner: placeholders look like {item}; write {{ or }} for a literal brace'
    ]


def test_several_problems_are_all_reported_and_repeats_once():
    assert template_problems("{expiry} {item.x} {expiry} {", ALLOWED) == [
        f"unknown placeholder {{expiry}}: use one of {CHOICES}",
        "placeholder {item.x} is not allowed: use a plain name like {item}, without . or [ ]",
        'a "{" or "}" has no partner: placeholders look like {item}; write {{ or }} for a literal brace',
    ]


def test_render_substitutes_plain_names_only():
    values = {"item": "Van insurance", "category": None, "days_left": 30, "unused": "x"}
    assert render_template("{item} ({category}) in {days_left} days {{ok}}", values) == (
        "Van insurance () in 30 days {ok}"
    )


def test_render_never_evaluates_attribute_access():
    class Secret:
        def __str__(self) -> str:
            return "item"

    with pytest.raises(ValueError, match="is not allowed"):
        render_template("{item.__init__.__globals__}", {"item": Secret()})
    with pytest.raises(ValueError, match="is not allowed"):
        render_template("{item.__class__}", {"item": Secret()})
    with pytest.raises(ValueError, match="is not allowed"):
        render_template("{item!r}", {"item": Secret()})


def test_render_rejects_unknown_names_and_broken_braces():
    with pytest.raises(ValueError, match=r"unknown placeholder \{owner\}"):
        render_template("{owner}", {"item": "x"})
    with pytest.raises(ValueError, match="has no partner"):
        render_template("{item", {"item": "x"})


def test_values_are_inserted_verbatim_not_reinterpreted():
    # a value that looks like a template stays text: substitution is one pass
    assert render_template("{item}", {"item": "{item.__class__} {{x}}"}) == "{item.__class__} {{x}}"
