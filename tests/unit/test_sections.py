"""Splitting person-written sectioned docs (opskit.sections)."""

from __future__ import annotations

import pytest

from opskit.problems import DocumentError, Problem
from opskit.sections import Line, Section, key_values, normalize_name, sort_by_line, split_sections


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_sections_lines_comments_and_blank_lines():
    text = "# a comment\n[Default]\nfirst alert: 60\n\n   # indented comment\n[ Home  Office ]\nnote\n"
    sections = split_sections(text, "doc.txt")
    assert sections == [
        Section("default", 2, [Line(3, "first alert: 60"), Line(4, "")]),
        Section("home office", 6, [Line(7, "note")]),
    ]
    assert sections[0].content == [Line(3, "first alert: 60")]
    assert Line(4, "  ").blank and not Line(3, "x").blank


def test_lines_before_any_header_form_an_unnamed_section():
    sections = split_sections("closed: 2026-12-24\n[a]\nx", "doc.txt")
    assert sections[0] == Section(None, 0, [Line(1, "closed: 2026-12-24")])
    assert sections[1].name == "a"


def test_only_blank_lines_or_comments_before_the_first_header_give_no_unnamed_section():
    assert [s.name for s in split_sections("\n# hi\n\n[a]\n", "doc.txt")] == ["a"]
    assert split_sections("", "doc.txt") == []


def test_windows_line_endings_and_bom():
    sections = split_sections("\ufeff[a]\r\nkey: value\r\n", "doc.txt")
    assert sections == [Section("a", 1, [Line(2, "key: value")])]


def test_malformed_headers_are_all_reported_together():
    text = "[insurance\nx: 1\n[]\n[ ]\n[ok] \n[[b]]\n[ok2]\n"
    with pytest.raises(DocumentError) as raised:
        split_sections(text, "rules.txt")
    assert messages(raised.value.problems) == [
        'rules.txt: line 1: section header "[insurance" is missing its closing "]"',
        'rules.txt: line 3: section header "[]" has no name: write it like [insurance]',
        'rules.txt: line 4: section header "[ ]" has no name: write it like [insurance]',
        'rules.txt: line 6: expected a section header like [insurance], found "[[b]]"',
    ]


def test_a_line_that_starts_with_a_tag_is_text_not_a_header():
    sections = split_sections("[email_subject]\n[Acme renewals] {item} is due\n", "voice.txt")
    assert sections == [Section("email_subject", 1, [Line(2, "[Acme renewals] {item} is due")])]


def test_problems_can_be_collected_instead_of_raised():
    problems: list[Problem] = []
    sections = split_sections("[a\nx: 1\n[b]\ny: 2", "doc.txt", problems)
    # lines under a broken header are left out so they do not add confusing follow-on problems
    assert sections == [Section("b", 3, [Line(4, "y: 2")])]
    assert messages(problems) == ['doc.txt: line 1: section header "[a" is missing its closing "]"']


def test_duplicate_sections_name_both_lines():
    with pytest.raises(DocumentError) as raised:
        split_sections("[Insurance]\na: 1\n\n[insurance]\nb: 2", "rules.txt")
    assert messages(raised.value.problems) == [
        "rules.txt: line 4: section [insurance] appears twice (lines 1 and 4): "
        "keep one and move everything under it"
    ]


def test_key_values_normalises_keys_and_reports_lines_without_a_colon():
    text = "[default]\n  First   Alert :  60 days before \n\nescalate to: a@b.com\nfirst alert 60 days\n: 5"
    (section,) = split_sections(text, "rules.txt")
    pairs, problems = key_values(section, "rules.txt")
    assert [(line.number, key, value) for line, key, value in pairs] == [
        (2, "first alert", "60 days before"),
        (4, "escalate to", "a@b.com"),
    ]
    assert messages(problems) == [
        "rules.txt: line 5: expected 'name: value', found \"first alert 60 days\"",
        "rules.txt: line 6: expected 'name: value', found \": 5\"",
    ]


def test_value_keeps_later_colons():
    (section,) = split_sections("[a]\nlink: https://example.com/x", "doc.txt")
    pairs, _ = key_values(section, "doc.txt")
    assert pairs[0][1:] == ("link", "https://example.com/x")


def test_normalize_name_and_sort_by_line():
    assert normalize_name("  First \t Alert ") == "first alert"
    problems = [Problem("d", "line 10", "b"), Problem("d", "line 2", "a"), Problem("d", "header", "h")]
    assert [p.where for p in sort_by_line(problems)] == ["header", "line 2", "line 10"]
