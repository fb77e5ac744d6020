"""Gaps found by an adversarial pass on the mail lane: year-first dates with slashes or dots, a mail that
holds only a pasted image, and a second mail about a contract already in the registry."""

from __future__ import annotations

from typing import Any

import pytest

from ew_local.cloud import NAMES, LocalCloud, s3_created_event
from ew_local.sample_documents import eml_bytes, text_pdf

INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "intake_channel": INTAKE}
SHEET = "item_id,item,expiry_date,owner\nACME-001,Fire alarm service,2027-02-01,U04OPS0001\n"
RAW = NAMES["EW_RAW_MIME_BUCKET"]
PASS = {"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"}


def deliver(cloud: LocalCloud, key: str, body: bytes) -> dict[str, Any]:
    cloud.s3.put_object(Bucket=RAW, Key=key, Body=body)
    return cloud.intake(s3_created_event(RAW, key, len(body)))


def card_text(card: dict[str, Any]) -> str:
    return card["text"] + "\n" + repr(card["blocks"])


@pytest.mark.parametrize("written", ["2027/02/28", "2027.02.28"])
def test_a_year_first_date_with_slashes_or_dots_is_the_proposed_expiry(
    cloud: LocalCloud, written: str
) -> None:
    contract = f"Office Cleaning Agreement\nThis agreement expires on {written}.\n"
    mail = eml_bytes(
        sender="Ana Lopez <ana@acme.example>",
        subject="Fwd: cleaning contract",
        text="Please add this one.",
        attachments=[("cleaning-agreement.pdf", text_pdf(contract))],
        headers=PASS,
        message_id="<yearfirst@acme.example>",
    )
    answer = deliver(cloud, "inbound/yearfirst", mail)
    assert answer["mails"][0]["expiry_date"] == "2027-02-28"
    (card,) = cloud.slack.in_channel(INTAKE)
    assert "no expiry" not in card_text(card).lower()
