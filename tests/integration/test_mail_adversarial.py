"""intake-parser against S3 events as AWS really sends them and objects that are not forwarded mail:
SES's own setup notice, a console "folder", an empty object, a mail removed before it was read, several
records in one event, and a replay after the card was approved."""

from __future__ import annotations

from typing import Any

from ew_local.cloud import NAMES, LocalCloud, s3_created_event
from ew_local.sample_documents import eml_bytes, text_pdf
from ew_local.slack_payloads import button_click

INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "intake_channel": INTAKE}
SHEET = "item_id,item,expiry_date,owner\nACME-001,Fire alarm service,2027-02-01,U04OPS0001\n"
RAW = NAMES["EW_RAW_MIME_BUCKET"]

# What SES writes under the rule's prefix when the receipt rule is created, to check it may write there.
SES_SETUP_NOTICE = (
    b"Return-Path: <no-reply-aws@amazon.com>\r\nFrom: no-reply-aws@amazon.com\r\n"
    b"To: expires@acme.example\r\nSubject: Amazon SES Setup Notification\r\n"
    b"Message-ID: <0100018c-setup@email.amazonses.com>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    b"Hello,\r\n\r\nThis message was sent to confirm that Amazon SES can write to your S3 bucket.\r\n"
)


def mail(message_id: str, expiry: str = "31 January 2027") -> bytes:
    contract = f"Office Cleaning Agreement\nThe initial term ends on {expiry}.\n"
    return eml_bytes(
        sender="Ana Lopez <ana@acme.example>",
        subject="Fwd: cleaning contract",
        text="Please add this one.",
        attachments=[("cleaning-agreement.pdf", text_pdf(contract))],
        headers={"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"},
        message_id=message_id,
    )


def put(cloud: LocalCloud, key: str, body: bytes) -> dict[str, Any]:
    cloud.s3.put_object(Bucket=RAW, Key=key, Body=body)
    return s3_created_event(RAW, key, len(body))


def cards(cloud: LocalCloud) -> list[dict[str, Any]]:
    return cloud.slack.in_channel(INTAKE)


def test_ses_s_setup_notice_makes_no_card(cloud: LocalCloud) -> None:
    answer = cloud.intake(put(cloud, "inbound/AMAZON_SES_SETUP_NOTIFICATION", SES_SETUP_NOTICE))
    assert cards(cloud) == []
    assert answer["mails"] == [{"outcome": "skipped", "why": "SES's setup notice, not a forwarded mail"}]


def test_a_folder_made_in_the_s3_console_or_an_empty_object_makes_no_card(cloud: LocalCloud) -> None:
    answer = cloud.intake(put(cloud, "inbound/", b""))
    answer_empty = cloud.intake(put(cloud, "inbound/empty", b""))
    assert cards(cloud) == []
    assert answer["mails"] == [{"outcome": "skipped", "why": "a folder, not a forwarded mail"}]
    assert answer_empty["mails"] == [{"outcome": "skipped", "why": "an empty object, not a forwarded mail"}]


def test_a_mail_removed_before_it_was_read_is_skipped_not_retried_into_the_dlq(cloud: LocalCloud) -> None:
    event = put(cloud, "inbound/gone", mail("<gone@acme.example>"))
    cloud.s3.delete_object(Bucket=RAW, Key="inbound/gone")
    answer = cloud.intake(event)  # no exception: Lambda would retry it twice, then the DLQ's alarm
    assert answer["mails"] == [
        {"outcome": "skipped", "why": "no longer in the bucket (deleted before it was read)"}
    ]
    assert cards(cloud) == []


def test_several_records_with_encoded_keys_in_one_event_each_make_their_card(cloud: LocalCloud) -> None:
    # S3 sends keys URL-encoded: a space as '+', a real '+' as %2B, other characters as %XX.
    first = put(cloud, "inbound/a b+c", mail("<one@acme.example>"))
    second = put(cloud, "inbound/été/ü", mail("<two@acme.example>", "28 February 2027"))
    assert first["Records"][0]["s3"]["object"]["key"] == "inbound/a+b%2Bc"
    event = {"Records": first["Records"] + second["Records"]}
    outcomes = [m["outcome"] for m in cloud.intake(event)["mails"]]
    assert outcomes == ["proposed", "proposed"]
    assert len(cards(cloud)) == 2
    # the same event again, late: nothing more
    assert [m["outcome"] for m in cloud.intake(event)["mails"]] == ["duplicate", "duplicate"]
    assert len(cards(cloud)) == 2


def test_a_mail_replayed_after_its_card_was_approved_adds_nothing(cloud: LocalCloud) -> None:
    event = put(cloud, "inbound/approved", mail("<approved@acme.example>"))
    cloud.intake(event)
    (card,) = cards(cloud)
    message = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    cloud.slack_click(button_click(message, "proposal_approve", "U04OPS0001"))
    rows = cloud.sheet_rows()
    assert cloud.intake(event)["mails"][0]["outcome"] == "duplicate"
    assert len(cards(cloud)) == 1 and cloud.sheet_rows() == rows
