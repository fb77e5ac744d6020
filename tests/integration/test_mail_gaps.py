"""Gaps found by an adversarial pass on the mail lane: year-first dates with slashes or dots, a mail that
holds only a pasted image, and a second mail about a contract already in the registry."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from typing import Any

import pytest
from alerts import approve

from ew_local.cloud import NAMES, LocalCloud, s3_created_event
from ew_local.sample_documents import eml_bytes, text_pdf

INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "intake_channel": INTAKE}
SHEET = "item_id,item,expiry_date,owner\nACME-001,Fire alarm service,2027-02-01,U04OPS0001\n"
RAW = NAMES["EW_RAW_MIME_BUCKET"]
# a 1x1 PNG: what it shows does not matter, only that it is a picture
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
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


def pasted_photo_mail(message_id: str, filename: str | None) -> bytes:
    """What a mail client sends for a photo pasted into the text: HTML with <img src="cid:…"> and the
    picture as an inline part of multipart/related (no attachment, no words)."""
    message = EmailMessage()
    for name, value in PASS.items():
        message[name] = value
    message["From"] = "Ana Lopez <ana@acme.example>"
    message["To"] = "expires@acme.example"
    message["Subject"] = "Fwd: gas certificate"
    message["Message-ID"] = message_id
    message.set_content('<html><body><div><img src="cid:photo1"></div></body></html>', subtype="html")
    if filename:
        message.add_related(PNG, "image", "png", cid="<photo1>", disposition="inline", filename=filename)
    else:
        message.add_related(PNG, "image", "png", cid="<photo1>", disposition="inline")
    return message.as_bytes()


@pytest.mark.parametrize(
    ("filename", "named"), [("IMG_2041.png", "IMG_2041.png"), (None, "a pasted PNG image")]
)
def test_a_mail_holding_only_a_pasted_photo_says_so_on_its_card(
    cloud: LocalCloud, filename: str | None, named: str
) -> None:
    answer = deliver(cloud, "inbound/photo", pasted_photo_mail("<photo@acme.example>", filename))
    assert answer["mails"][0]["outcome"] == "proposed"
    (card,) = cloud.slack.in_channel(INTAKE)
    shown = card_text(card)
    assert f"the mail holds only an image in its text ({named}) and no attachment" in shown
    assert "images in a mail are not read" in shown
    assert "no text and no attachment to read" not in shown


def contract_mail(message_id: str, item: str, expiry: str) -> bytes:
    return eml_bytes(
        sender="Ana Lopez <ana@acme.example>",
        subject=f"Fwd: {item}",
        text=f"{item}\nThe service contract expires on {expiry}.\n",
        headers=PASS,
        message_id=message_id,
    )


def test_a_second_mail_about_an_item_already_in_the_sheet_warns_that_approve_adds_a_second_row(
    cloud: LocalCloud,
) -> None:
    # The same contract forwarded again by someone else (another Message-ID), the name typed otherwise.
    deliver(
        cloud,
        "inbound/again",
        contract_mail("<again@acme.example>", "FIRE ALARM  service", "1 February 2027"),
    )
    (card,) = cloud.slack.in_channel(INTAKE)
    assert card_text(card).count("already in the sheet") == 1
    assert (
        "this item is already in the sheet as ACME-001 (row 2, expiry 1 Feb 2027): Approve adds a second row"
        in card_text(card)
    )
    approve(cloud, card, "U04OPS0001")  # a warning, never a refusal: the person decides
    assert len(cloud.sheet_rows()) == 3  # header, ACME-001, the new row


def test_a_renewal_notice_for_an_item_in_the_sheet_names_the_row_to_change(cloud: LocalCloud) -> None:
    deliver(
        cloud,
        "inbound/renewal",
        contract_mail("<renewal@acme.example>", "Fire alarm service", "1 February 2028"),
    )
    (card,) = cloud.slack.in_channel(INTAKE)
    assert (
        "an item with this name is already in the sheet as ACME-001 (row 2, expiry 1 Feb 2027): Approve adds "
        "a second row; if this is its renewal, change that row's expiry_date in the sheet and Discard this"
        in card_text(card)
    )


def test_a_new_item_has_no_such_warning(cloud: LocalCloud) -> None:
    deliver(cloud, "inbound/new", contract_mail("<new@acme.example>", "Lift maintenance", "1 February 2027"))
    (card,) = cloud.slack.in_channel(INTAKE)
    assert "already in the sheet" not in card_text(card)
