"""`ew extract FILE`: exit codes, the JSON object, and the readable proposal."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ew.extraction import JSON_KEYS, Source
from ew_local.cli import main
from ew_local.extract import run_extract
from ew_local.sample_documents import (
    docx_bytes,
    eml_bytes,
    encrypted_pdf,
    example_inbox,
    image_only_pdf,
    text_pdf,
    xlsx_bytes,
)

LEASE = "Office lease - 14 Harbour Street\nLease expiry date: 31 March 2027\nSigned 18 March 2024\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["extract", *argv])
    return code, capsys.readouterr().out


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("lease.txt", LEASE.encode()),
        ("lease.pdf", text_pdf(LEASE)),
        ("lease.docx", docx_bytes(["Office lease", [["Lease expiry date", "31 March 2027"]]])),
        ("lease.xlsx", xlsx_bytes({"Lease": [["Lease expiry date", "31 March 2027"]]})),
        (
            "lease.eml",
            eml_bytes(sender="dana@acme.example", subject="Lease", attachments=[("l.pdf", text_pdf(LEASE))]),
        ),
    ],
)
def test_found_exits_0_with_exactly_the_json_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, data: bytes
) -> None:
    code, out = run(capsys, write(tmp_path, name, data), "--json")
    assert code == 0
    result = json.loads(out)
    assert tuple(result) == JSON_KEYS
    assert result["expiry_date"] == "2027-03-31"
    assert result["evidence"].endswith("31 March 2027")
    assert isinstance(result["problems"], list)


def test_the_readable_proposal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "waste.eml", example_inbox()["waste-collection-agreement.eml"])
    code, out = run(capsys, path)
    assert code == 0
    assert out.splitlines() == [
        "From waste-collection-agreement.pdf in an email from dana@acme.example «Fwd: Signed waste collection "
        "agreement», read offline",
        "",
        "  What expires: Waste collection agreement",
        "  Category:     contract",
        "  Expiry date:  2027-01-31",
        "  Notice date:  2027-01-02",
        "  Renewal term: 12 months",
        "  Owner:        dana@acme.example",
        "  Notes:        Counterparty: GreenBin Waste Services Ltd",
        "  Evidence:     «The initial term ends on 31 January 2027.»",
    ]


def test_no_expiry_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "letter.txt", b"Dear Dana,\nOur invoice dated 20 November 2025 is attached.\n")
    code, out = run(capsys, path, "--json", "--sender", "dana@acme.example")
    assert code == 1
    result = json.loads(out)
    assert result["expiry_date"] is None and result["owner"] == "dana@acme.example"
    assert result["problems"] == ["no expiry date was found in the document"]


def test_the_date_order_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "cert.txt", b"Certificate valid until 03/04/2027\n")
    assert run(capsys, path, "--json")[0] == 1
    code, out = run(capsys, path, "--json", "--date-order", "mdy")
    assert code == 0 and json.loads(out)["expiry_date"] == "2027-03-04"


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        (
            "secret.pdf",
            encrypted_pdf(LEASE),
            "could not read secret.pdf: the PDF is encrypted (password-protected)",
        ),
        (
            "cut.pdf",
            text_pdf(LEASE)[:200],
            "could not read cut.pdf: the PDF is incomplete (cut off before its end)",
        ),
        (
            "scan.pdf",
            image_only_pdf(),
            "could not read scan.pdf: the PDF has no text layer (it looks scanned); reading it needs OCR",
        ),
        (
            "spam.eml",
            eml_bytes(
                sender="x@spam.example",
                subject="Win",
                text="Expires 1 March 2027",
                headers={"X-SES-Spam-Verdict": "FAIL"},
            ),
            "the mail was not read: the mail server marked it as spam",
        ),
        (
            "photo.heic",
            b"....",
            "could not read photo.heic: .heic files are not read; only PDF, DOCX, XLSX, text and HTML files are read",
        ),
    ],
)
def test_unreadable_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    code, out = run(capsys, write(tmp_path, name, data), "--json")
    assert code == 2
    result = json.loads(out)
    assert tuple(result) == JSON_KEYS
    assert result["expiry_date"] is None
    assert problem in result["problems"]


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, str(tmp_path / "nope.pdf"))
    assert code == 2
    assert out == f"could not read {tmp_path / 'nope.pdf'}: there is no such file\n"


class FakeModel:
    name = "bedrock (fake)"

    def __init__(self, answer: Mapping[str, Any]):
        self.answer = answer

    def propose(self, source: Source, date_order: str | None = None) -> Mapping[str, Any]:
        return self.answer


def test_a_configured_model_goes_through_the_same_validation(tmp_path: Path) -> None:
    path = write(tmp_path, "lease.txt", LEASE.encode())
    args = argparse.Namespace(
        file=path, json=True, date_order=None, sender="dana@acme.example", bedrock=False, model_id=None
    )
    out = io.StringIO()
    invented = {
        "item": "Lease",
        "category": "contract",
        "expiry_date": "2028-03-31",
        "evidence": "Lease expiry date",
    }
    assert run_extract(args, out, model=FakeModel(invented)) == 0
    result = json.loads(out.getvalue())
    assert result["expiry_date"] == "2027-03-31"  # the offline reader's, not the invented one
    assert result["problems"] == [
        "the model's answer was not used: its expiry date 2028-03-31 is not written in the document; "
        "the offline reader's proposal is shown"
    ]


def test_the_example_inbox_is_what_the_script_makes(example_dir: Path) -> None:
    made = example_inbox()
    inbox = example_dir / "inbox"
    assert sorted(p.name for p in inbox.iterdir()) == sorted(made)
    for name, data in made.items():
        assert (inbox / name).read_bytes() == data, f"{name} is stale: run make example-inbox"


@pytest.mark.parametrize("name", sorted(example_inbox()))
def test_every_example_document_proposes_an_expiry(
    capsys: pytest.CaptureFixture[str], example_dir: Path, name: str
) -> None:
    code, out = run(capsys, str(example_dir / "inbox" / name), "--json", "--sender", "ops@acme.example")
    assert code == 0, out
    assert json.loads(out)["problems"] == []
