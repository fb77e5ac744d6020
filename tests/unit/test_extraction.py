"""ew.extraction: the offline reader on a corpus of realistic documents (and their PDF, DOCX, XLSX and
mail variants), the rule that no proposed date is missing from the text, and the validation of a
Bedrock answer (botocore Stubber on a real bedrock-runtime client)."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterator
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from ew.extraction import (
    DEFAULT_MODEL_ID,
    JSON_KEYS,
    TOOL_NAME,
    AnswerRejected,
    BedrockModel,
    Source,
    check_answer,
    extract,
    extract_offline,
    read_source,
    source_from_mail,
    to_draft,
)
from ew.proposals import FIELDS, Proposal
from ew_local.sample_documents import docx_bytes, eml_bytes, text_pdf, xlsx_bytes
from opskit.date_mentions import dates_in, find_dates
from opskit.documents import read_mail

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
EXPECTED: dict[str, dict[str, Any]] = {
    name: value
    for name, value in json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}
SENDER = "Dana Whitfield <dana@acme.example>"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_the_corpus_is_big_enough_and_every_file_has_an_expectation() -> None:
    files = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert files == sorted(EXPECTED)
    assert sum(1 for e in EXPECTED.values() if e["expiry_date"]) >= 20


# -- the same document in every shape intake-parser meets ------------------------------------------


def _paragraphs(text: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _docx(text: str) -> bytes:
    blocks: list[Any] = []
    for line in text.splitlines():
        if " | " in line:
            if blocks and isinstance(blocks[-1], list):
                blocks[-1].append(line.split(" | "))
            else:
                blocks.append([line.split(" | ")])
        else:
            blocks.append(line)
    return docx_bytes(blocks)


def _xlsx(text: str) -> bytes:
    rows: list[list[Any]] = []
    for line in text.splitlines():
        cells: list[Any] = line.split(" | ") if " | " in line else line.split(": ", 1)
        rows.append([c.strip() for c in cells])
    return xlsx_bytes({"Document": rows})


def _html(text: str) -> str:
    parts = []
    for paragraph in _paragraphs(text):
        if all(" | " in line for line in paragraph):
            rows = "".join(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in line.split(" | ")) + "</tr>"
                for line in paragraph
            )
            parts.append(f"<table>{rows}</table>")
        else:
            parts.append("<p>" + "<br>\n".join(escape(line) for line in paragraph) + "</p>")
    return "<html><body>" + "\n".join(parts) + "</body></html>"


# pdf-grid: its tables drawn as PDFs draw them, each cell at a position and no "|" between them
VARIANTS = ("txt", "pdf", "pdf-grid", "docx", "xlsx", "eml-html", "eml-pdf")


def variant(name: str, shape: str) -> tuple[str, bytes]:
    text = fixture(name)
    stem = name.rsplit(".", 1)[0]
    if shape == "txt":
        return name, text.encode()
    if shape in ("pdf", "pdf-grid"):
        return f"{stem}.pdf", text_pdf(text, grid=shape == "pdf-grid")
    if shape == "docx":
        return f"{stem}.docx", _docx(text)
    if shape == "xlsx":
        return f"{stem}.xlsx", _xlsx(text)
    if shape == "eml-html":
        return f"{stem}.eml", eml_bytes(sender=SENDER, subject="FYI", html=_html(text))
    attachments = [(f"{stem}.pdf", text_pdf(text))]
    return f"{stem}.eml", eml_bytes(
        sender=SENDER, subject="Fwd: scan", text="Please add.", attachments=attachments
    )


@pytest.mark.parametrize("shape", VARIANTS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_right_expiry_date_in_every_shape(name: str, shape: str) -> None:
    expected = EXPECTED[name]
    filename, data = variant(name, shape)
    source = read_source(filename, data)
    assert source.readable, source.problems
    found = extract_offline(source, expected.get("date_order"))
    assert (found.expiry_date.isoformat() if found.expiry_date else None) == expected["expiry_date"]
    if found.expiry_date:
        assert found.expiry_date in dates_in(found.evidence, expected.get("date_order"))
    if shape != "txt":
        return
    for key in ("category", "notice_date", "renewal_term", "item"):
        if key in expected:
            value = getattr(found, key)
            value = value.isoformat() if isinstance(value, date) else (value or None)
            assert value == expected[key], key


def test_evidence_quotes_the_sentence_that_gives_the_date() -> None:
    quotes = {
        "cleaning-services-agreement.txt": "2.1 This Agreement shall commence on the 1st day of February 2026 and "
        'shall continue until the 31st day of January 2027 (the "Initial Term").',
        "public-liability-schedule.txt": "Period of Insurance: From 15 December 2025 to 14 December 2026 (both days inclusive)",
        "equipment-leases.txt": "Colour laser printer MFP-4400 | OfficeKit Leasing | 2023-12-01 | 2026-12-01 | 89.00",
        "employers-liability-renewal.txt": "Your current policy expires at midnight on 30 April 2027.",
        "insurance-renewal-confirmation.txt": "Your policy has been renewed and now expires on 1 March 2027.",
    }
    for name, quote in quotes.items():
        assert extract_offline(read_source(name, fixture(name).encode())).evidence == quote, name


def test_numeric_dates_need_a_date_order() -> None:
    source = read_source("gas.txt", fixture("gas-safety-record.txt").encode())
    without = extract_offline(source)
    assert without.expiry_date is None
    assert without.problems[-1] == (
        "no expiry date was found; the document has numeric dates like 01/03/2026, which are read only when "
        "the date order is set (day-month-year or month-day-year)"
    )
    assert extract_offline(source, "dmy").expiry_date == date(2027, 3, 11)
    assert extract_offline(source, "mdy").expiry_date == date(2027, 11, 3)  # read as the caller says
    assert find_dates("due 11/03/2027", "mdy")[0].date == date(2027, 11, 3)


@pytest.mark.parametrize(
    "written",
    ["2027-03-01", "2027-03-01T00:00:00Z", "1 Mar 2027", "1 March 2027", "1st March, 2027", "1st day of March 2027",
     "01-Mar-2027", "March 1, 2027", "Mar. 1st 2027", "MARCH 1 2027"],
)  # fmt: skip
def test_every_accepted_format(written: str) -> None:
    source = read_source("n.txt", f"Signed 3 February 2026.\nThis policy expires on {written}.\n".encode())
    assert extract_offline(source).expiry_date == date(2027, 3, 1)


# -- never a date that is not in the text ----------------------------------------------------------

_PHRASES = [
    "This policy expires on {d}.", "Valid until {d}", "Signed on {d}.", "Date of issue: {d}", "Renewal date: {d}",
    "The term ends on {d}.", "Policy period: {d} to {d}", "Cancel by {d} to avoid charges.", "Invoice dated {d}.",
    "Effective date: {d}", "Coverage period {d} - {d}", "Next inspection due: {d}", "Notice no later than {d}.",
    "Item | Start date | End date", "Lease | {d} | {d}", "expiry {d} (issued {d})", "Paid through {d}",
]  # fmt: skip
_FORMATS = ["%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%B %d, %Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%b %d %Y"]
_BOGUS = ["31 February 2027", "2027-13-01", "30/02/2027", "Feb 30, 2027", "00/00/2027", "2027-02-29"]


def _random_document(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 12)):
        phrase = rng.choice(_PHRASES)
        while "{d}" in phrase:
            if rng.random() < 0.15:
                written = rng.choice(_BOGUS)
            else:
                day = date(rng.randint(2020, 2030), rng.randint(1, 12), rng.randint(1, 28))
                written = day.strftime(rng.choice(_FORMATS))
            phrase = phrase.replace("{d}", written, 1)
        lines.append(phrase)
    return "\n".join(lines)


def _mutations(rng: random.Random) -> Iterator[str]:
    texts = [fixture(name) for name in sorted(EXPECTED)]
    for text in texts:
        lines = text.splitlines()
        for _ in range(4):
            mutated = lines[:]
            rng.shuffle(mutated)
            del mutated[: rng.randint(0, len(mutated) // 2)]
            mutated += rng.choice(texts).splitlines()[: rng.randint(0, 6)]
            yield "\n".join(mutated)
    for _ in range(300):
        yield _random_document(rng)


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def test_no_proposed_date_is_missing_from_the_text() -> None:
    rng = random.Random(20260105)
    checked = proposed = 0
    for text in _mutations(rng):
        for order in (None, "dmy", "mdy"):
            source = read_source("doc.txt", text.encode())
            found = extract_offline(source, order)
            written = dates_in(text, order)
            checked += 1
            for day in (found.expiry_date, found.notice_date):
                assert day is None or day in written, (day, text)
            if found.expiry_date:
                proposed += 1
                assert _normalised(found.evidence) in _normalised(text)
                assert found.expiry_date in dates_in(found.evidence, order)
            if found.notice_date and found.expiry_date:
                assert found.notice_date < found.expiry_date
    assert checked > 1000 and proposed > 300  # the check ran on real proposals, not only on empty ones


# -- Bedrock ---------------------------------------------------------------------------------------


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _tool_answer(answer: Any, name: str = TOOL_NAME) -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": answer}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 900, "outputTokens": 120, "totalTokens": 1020},
        "metrics": {"latencyMs": 850},
    }


WASTE = fixture("cleaning-services-agreement.txt")
GOOD = {
    "item": "Office cleaning contract",
    "category": "contract",
    "expiry_date": "2027-01-31",
    "notice_date": None,
    "renewal_term": "1 year",
    "owner_guess": "ops@acme.example",
    "counterparty": "SparkleClean Services Ltd",
    "evidence": "shall continue until the 31st day of January 2027",
    "status": "approved",  # not a field of the tool: dropped
}


def _mail_source(text: str = WASTE) -> Source:
    raw = eml_bytes(sender=SENDER, subject="Fwd: cleaning", text="See attached.",
                    attachments=[("cleaning.pdf", text_pdf(text))])  # fmt: skip
    return source_from_mail(read_mail(raw))


def test_a_good_answer_is_used(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    source = _mail_source()
    model = BedrockModel(client)
    expected = copy.deepcopy(model.request(source, "dmy"))
    stubber.add_response("converse", _tool_answer(GOOD), expected)
    found = extract(source, model=model, known_people=["ops@acme.example", "U04OPS0001"], date_order="dmy")
    assert expected["modelId"] == DEFAULT_MODEL_ID == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert expected["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL_NAME}}
    assert (found.method, found.item, found.category) == ("bedrock", "Office cleaning contract", "contract")
    assert (found.expiry_date, found.renewal_term, found.owner_guess) == (
        date(2027, 1, 31),
        "1 year",
        "ops@acme.example",
    )
    assert found.evidence == "shall continue until the 31st day of January 2027"
    assert found.evidence_in == "cleaning.pdf"
    assert found.problems == ()
    draft = to_draft(found, source)
    assert draft.fields["owner"] == "ops@acme.example"
    assert draft.source == "cleaning.pdf in an email from dana@acme.example «Fwd: cleaning», read by bedrock"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"expiry_date": "2027-02-01"}, "its expiry date 2027-02-01 is not written in the document"),
        ({"expiry_date": "next spring"}, 'its expiry date "next spring" is not a date'),
        ({"expiry_date": None}, "it found no expiry date"),
        ({"evidence": "The contract ends on 31 January 2027."}, "its evidence quote is not in the document"),
        ({"evidence": ""}, "it gave no evidence quote"),
        ({"expiry_date": 20270131}, "its expiry_date is not text"),
        ({"item": ["a", "list"]}, "its item is not text"),
    ],
)
def test_a_bad_answer_is_rejected_and_the_offline_reader_used(
    bedrock: tuple[Any, Stubber], change: dict[str, Any], reason: str
) -> None:
    client, stubber = bedrock
    stubber.add_response("converse", _tool_answer({**GOOD, **change}))
    source = _mail_source()
    found = extract(source, model=BedrockModel(client))
    assert found.method == "offline"
    assert found.expiry_date == date(2027, 1, 31)  # the offline reader's, from the text
    assert (
        found.problems[-1]
        == f"the model's answer was not used: {reason}; the offline reader's proposal is shown"
    )
    assert to_draft(found, source).source.endswith(", read offline")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_tool_answer(["not", "an", "object"]), "Bedrock's tool answer is not an object"),
        (_tool_answer(GOOD, name="some_other_tool"), "Bedrock gave no tool answer (stop reason: tool_use)"),
        (
            {
                "output": {
                    "message": {"role": "assistant", "content": [{"text": "The expiry is 31 Jan 2027."}]}
                },
                "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 1},
            },
            "Bedrock gave no tool answer (stop reason: end_turn)",
        ),
    ],
)
def test_a_malformed_tool_answer_falls_back(
    bedrock: tuple[Any, Stubber], response: dict[str, Any], reason: str
) -> None:
    client, stubber = bedrock
    stubber.add_response("converse", response)
    found = extract(_mail_source(), model=BedrockModel(client))
    assert found.method == "offline" and found.expiry_date == date(2027, 1, 31)
    assert found.problems[-1] == f"{reason}; the offline reader's proposal is shown"


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("ThrottlingException", 429, "Bedrock is throttling requests (too many at once)"),
        ("AccessDeniedException", 403, "Bedrock access is denied (model access or IAM permission missing)"),
        ("InternalServerException", 500, "Bedrock had an internal error"),
        ("SomethingNew", 400, "Bedrock refused the request (SomethingNew)"),
    ],
)
def test_bedrock_errors_fall_back_and_say_so(
    bedrock: tuple[Any, Stubber], code: str, status: int, reason: str
) -> None:
    client, stubber = bedrock
    stubber.add_client_error("converse", service_error_code=code, http_status_code=status)
    source = _mail_source()
    found = extract(source, model=BedrockModel(client))
    assert found.method == "offline" and found.expiry_date == date(2027, 1, 31)
    draft = to_draft(found, source)
    assert draft.problems == (f"{reason}; the offline reader's proposal is shown",)
    assert draft.fields["owner"] == "dana@acme.example"


def test_doubtful_fields_are_dropped_not_the_answer() -> None:
    source = _mail_source()
    answer = {**GOOD, "owner_guess": "stranger@evil.example", "renewal_term": "forever",
              "notice_date": "2026-12-01", "category": "Spaceship", "expiry_date": "31 January 2027"}  # fmt: skip
    found = check_answer(answer, source, known_people=["ops@acme.example"])
    assert found.expiry_date == date(2027, 1, 31)  # written as 2027-01-31 or 31 January 2027: the same day
    assert (found.owner_guess, found.renewal_term, found.notice_date, found.category) == ("", "", None, "")
    assert found.problems == (
        'the model\'s notice date "2026-12-01" is not written in the document; left blank',
        'the model\'s renewal term "forever" is not a term like 1 year; left blank',
    )
    assert to_draft(found, source).fields["owner"] == "dana@acme.example"  # the forwarder, not the stranger
    sender = check_answer({**GOOD, "owner_guess": "Dana@Acme.example"}, source)
    assert sender.owner_guess == "dana@acme.example"


def test_an_evidence_quote_without_the_date_is_replaced_by_the_line_that_has_it() -> None:
    found = check_answer({**GOOD, "evidence": "CLEANING SERVICES AGREEMENT"}, _mail_source())
    assert "31st day of January 2027" in found.evidence


def test_check_answer_refuses_non_objects() -> None:
    with pytest.raises(AnswerRejected, match="the answer is not an object"):
        check_answer("2027-01-31", _mail_source())


# -- the proposal ----------------------------------------------------------------------------------


def test_the_draft_has_the_proposal_fields_and_the_json_keys() -> None:
    source = _mail_source()
    draft = to_draft(extract(source), source)
    assert list(draft.fields) == list(FIELDS)
    assert draft.fields["owner"] == "dana@acme.example"  # the forwarder is the default owner
    assert (
        draft.fields["notes"]
        == "Counterparty: SparkleClean Services Ltd; Notice period: 30 days (set the notice date)"
    )
    assert tuple(draft.as_json()) == JSON_KEYS
    proposal = draft.proposal("p1")
    assert isinstance(proposal, Proposal)
    assert proposal.fields["expiry_date"] == "2027-01-31" and "renewal_link" not in proposal.fields
    assert proposal.source == draft.source and proposal.warnings == draft.problems == ()


def test_a_refused_mail_proposes_nothing() -> None:
    raw = eml_bytes(sender=SENDER, subject="Cheap", text="Expires on 1 March 2027",
                    headers={"X-SES-Spam-Verdict": "FAIL"})  # fmt: skip
    source = read_source("m.eml", raw)
    draft = to_draft(extract(source), source)
    assert draft.refused == "the mail was not read: the mail server marked it as spam"
    assert draft.problems[0] == draft.refused and not draft.found and not draft.readable


def test_unreadable_attachments_are_problems_of_the_proposal() -> None:
    raw = eml_bytes(sender=SENDER, subject="Fwd: contract", text="Contract attached, it expires on 1 March 2027.",
                    attachments=[("contract.pdf", b"%PDF-1.4 broken")])  # fmt: skip
    source = read_source("m.eml", raw)
    draft = to_draft(extract(source), source)
    assert draft.fields["expiry_date"] == "2027-03-01"
    assert any(re.match(r"could not read contract\.pdf: ", p) for p in draft.problems)
