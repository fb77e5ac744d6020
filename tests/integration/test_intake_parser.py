"""intake-parser on the local cloud: a forwarded mail lands in the raw-mime bucket (moto S3), S3's
event runs the real handler, and the proposal card appears in the intake channel (fake Slack)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta
from typing import Any

import boto3
import pytest
from alerts import card_words
from botocore.stub import Stubber
from crashes import kill, killed_around, killed_in, later, writes_to

from ew import runtime
from ew_local.cloud import NAMES, InvocationKilled, LocalCloud, s3_created_event
from ew_local.sample_documents import docx_bytes, eml_bytes, encrypted_pdf, example_inbox, text_pdf
from ew_local.slack_payloads import button_click
from opskit.slack import SlackGateway
from opskit.state import Held, StateTable

INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "intake_channel": INTAKE}
# The registry drive-sync mirrored: its owners are the people a model may name as the owner.
SHEET = "item_id,item,expiry_date,owner\nACME-001,Fire alarm service,2027-02-01,U04OPS0001\n"
CONTRACT = (
    "Office Cleaning Agreement\nSupplier: Sparkle Cleaning Ltd\n"
    "The initial term ends on 31 January 2027.\nThe agreement renews for 12 months.\n"
)


def mail(message_id: str = "<cleaning-0001@acme.example>", **kwargs: Any) -> bytes:
    defaults: dict[str, Any] = {
        "sender": "Ana Lopez <ana@acme.example>",
        "subject": "Fwd: cleaning contract",
        "text": "Please add this one.",
        "attachments": [("cleaning-agreement.pdf", text_pdf(CONTRACT))],
        "headers": {"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"},
    }
    return eml_bytes(message_id=message_id, **{**defaults, **kwargs})


def cards(cloud: LocalCloud) -> list[dict[str, Any]]:
    return cloud.slack.in_channel(INTAKE)


def test_a_forwarded_text_pdf_becomes_one_card_with_the_expiry_and_its_evidence(cloud: LocalCloud) -> None:
    answer = cloud.forward_mail(mail(), "inbound/abc 1")
    assert answer["mails"][0]["outcome"] == "proposed"
    (card,) = cards(cloud)
    words = card_words(card)
    assert "*Expiry date:* 2027-01-31" in words
    assert "*Owner (Slack user ID or email):* ana@acme.example" in words
    assert "Evidence: “The initial term ends on 31 January 2027.”" in words
    uri = next(w for w in words.split() if w.startswith("s3://")).rstrip(".,")
    assert uri.startswith(f"s3://{NAMES['EW_SOURCE_BUCKET']}/") and uri.endswith("/cleaning-agreement.pdf")
    assert cloud.source_file(uri).startswith(b"%PDF")


def test_the_same_message_id_twice_makes_one_card(cloud: LocalCloud) -> None:
    cloud.forward_mail(mail(), "inbound/first")
    again = cloud.forward_mail(mail(subject="Fwd: Fwd: cleaning contract"), "inbound/second")
    assert again["mails"][0]["outcome"] == "duplicate"
    # and S3 delivering the same event twice
    cloud.intake(s3_created_event(NAMES["EW_RAW_MIME_BUCKET"], "inbound/first", 10))
    assert len(cards(cloud)) == 1


def test_spam_is_recorded_and_not_proposed(cloud: LocalCloud) -> None:
    spam = mail("<spam-1@bad.example>", headers={"X-SES-Spam-Verdict": "FAIL", "X-SES-Virus-Verdict": "PASS"})
    answer = cloud.forward_mail(spam, "inbound/spam")
    assert answer["mails"][0] == {
        "outcome": "dropped",
        "message_id": "<spam-1@bad.example>",
        "why": "the mail was not read: the mail server marked it as spam",
    }
    assert cards(cloud) == []
    recorded = StateTable(cloud.dynamodb, NAMES["EW_STATE_TABLE"]).get("mail", "<spam-1@bad.example>")
    assert recorded is not None and recorded.data["outcome"] == "dropped"


def _zip_bomb_docx() -> bytes:
    data = io.BytesIO(docx_bytes(["Expires on 1 March 2027."]))
    with zipfile.ZipFile(data, "a", zipfile.ZIP_DEFLATED) as package:
        package.writestr("word/media/image1.png", b"\0" * (64 * 1024 * 1024))
    return data.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("lease.docx", _zip_bomb_docx(), "it looks like a zip bomb"),
        ("policy.pdf", encrypted_pdf("Policy expires 1 March 2027."), "the PDF is encrypted"),
        ("cut.pdf", text_pdf(CONTRACT)[:300], "could not read cut.pdf"),
    ],
)
def test_an_unreadable_attachment_gives_a_card_saying_what_and_why(
    cloud: LocalCloud, name: str, data: bytes, why: str
) -> None:
    answer = cloud.forward_mail(mail(f"<{name}@acme.example>", attachments=[(name, data)]), f"inbound/{name}")
    assert answer["mails"][0]["outcome"] == "proposed"
    (card,) = cards(cloud)
    words = card_words(card)
    assert f"could not read {name}" in words and why in words
    assert "*Expiry date:*" not in words


def test_a_mail_that_makes_the_reader_fail_is_answered_once_not_retried(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ew import intake

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("crafted")

    monkeypatch.setattr(intake, "extract", broken)
    answer = cloud.forward_mail(mail("<poison@acme.example>"), "inbound/poison")
    assert answer["mails"][0]["outcome"] == "proposed"
    assert "the mail could not be read (RecursionError)" in card_words(cards(cloud)[0])


def test_bedrock_throttled_falls_back_to_the_offline_reader(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    stubber.activate()
    runtime.use_client("bedrock-runtime", client)
    monkeypatch.setenv("EW_BEDROCK_MODEL_ID", "global.anthropic.claude-haiku-4-5-20251001-v1:0")
    try:
        cloud.forward_mail(mail(), "inbound/throttled")
    finally:
        runtime.use_client("bedrock-runtime", None)
    stubber.assert_no_pending_responses()
    words = card_words(cards(cloud)[0])
    assert "*Expiry date:* 2027-01-31" in words and "read offline" in words
    assert "throttling" in words


def test_the_example_forwarded_contract(cloud: LocalCloud) -> None:
    cloud.forward_mail(example_inbox()["waste-collection-agreement.eml"], "inbound/waste")
    words = card_words(cards(cloud)[0])
    assert "*Expiry date:* 2027-01-31" in words and "*Notice date (cancel by):* 2027-01-02" in words


def test_a_scan_without_a_text_layer_is_said_on_the_card(cloud: LocalCloud) -> None:
    from ew_local.sample_documents import image_only_pdf

    cloud.forward_mail(mail("<scan@acme.example>", attachments=[("scan.pdf", image_only_pdf())]), "inbound/s")
    words = card_words(cards(cloud)[0])
    assert (
        "could not read scan.pdf: the PDF has no text layer (it looks scanned); reading it needs OCR" in words
    )


def test_a_mail_being_read_by_another_attempt_fails_so_lambda_retries_it_after_the_lease(
    cloud: LocalCloud,
) -> None:
    from datetime import UTC, datetime

    from ew import intake
    from opskit.state import Busy

    state = StateTable(cloud.dynamodb, NAMES["EW_STATE_TABLE"])
    state.claim("mail", "<cleaning-0001@acme.example>", {}, datetime.now(UTC), lease=intake.LEASE)
    with pytest.raises(Busy):
        cloud.forward_mail(mail(), "inbound/raced")
    assert cards(cloud) == []


TOPIC = "arn:aws:sns:us-east-1:123456789012:ew-ocr-done"
OCR_ROLE = "arn:aws:iam::123456789012:role/ew-textract"


def _line(text: str) -> dict[str, Any]:
    return {"BlockType": "LINE", "Text": text, "Id": text[:8], "Confidence": 99.1}


def test_a_scan_is_read_by_textract_and_its_card_posted_when_the_job_is_done(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ew_local.cloud import textract_notice_event
    from ew_local.sample_documents import image_only_pdf

    client = boto3.client("textract", region_name="us-east-1")
    stubber = Stubber(client)
    message_id = "<scan-ocr@acme.example>"
    proposal_id = hashlib.sha256(message_id.encode()).hexdigest()[:12]
    stubber.add_response(
        "start_document_text_detection",
        {"JobId": "job-0001"},
        {
            "DocumentLocation": {
                "S3Object": {"Bucket": NAMES["EW_SOURCE_BUCKET"], "Name": f"{proposal_id}/scan.pdf"}
            },
            "ClientRequestToken": proposal_id,
            "JobTag": proposal_id,
            "NotificationChannel": {"SNSTopicArn": TOPIC, "RoleArn": OCR_ROLE},
        },
    )
    page_1 = [_line("CERTIFICATE OF INSURANCE"), _line("Employers liability")]
    page_2 = [_line("This certificate expires on 30 June 2027.")]
    stubber.add_response(
        "get_document_text_detection",
        {"JobStatus": "SUCCEEDED", "Blocks": page_1, "NextToken": "page-2"},
        {"JobId": "job-0001", "MaxResults": 1000},
    )
    stubber.add_response(
        "get_document_text_detection",
        {"JobStatus": "SUCCEEDED", "Blocks": page_2},
        {"JobId": "job-0001", "MaxResults": 1000, "NextToken": "page-2"},
    )
    stubber.activate()
    runtime.use_client("textract", client)
    monkeypatch.setenv("EW_OCR_TOPIC_ARN", TOPIC)
    monkeypatch.setenv("EW_OCR_ROLE_ARN", OCR_ROLE)
    try:
        scan = mail(message_id, attachments=[("scan.pdf", image_only_pdf())])
        answer = cloud.forward_mail(scan, "inbound/scan")
        assert answer["mails"][0]["outcome"] == "waiting for OCR"
        assert cards(cloud) == []  # nothing yet: Textract is reading
        notice = textract_notice_event("job-0001", "SUCCEEDED", TOPIC, proposal_id)
        done = cloud.intake(notice)
        assert done["mails"][0]["outcome"] == "proposed"
        cloud.intake(notice)  # SNS delivers at least once
    finally:
        runtime.use_client("textract", None)
    stubber.assert_no_pending_responses()
    (card,) = cards(cloud)
    words = card_words(card)
    assert "*Expiry date:* 2027-06-30" in words
    assert "scan.pdf was read by OCR" in words


def test_a_failed_textract_job_still_gives_a_card_saying_so(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ew_local.cloud import textract_notice_event
    from ew_local.sample_documents import image_only_pdf

    client = boto3.client("textract", region_name="us-east-1")
    stubber = Stubber(client)
    from botocore.stub import ANY

    stubber.add_response(
        "start_document_text_detection",
        {"JobId": "job-0002"},
        {"DocumentLocation": ANY, "ClientRequestToken": ANY, "JobTag": ANY, "NotificationChannel": ANY},
    )
    stubber.activate()
    runtime.use_client("textract", client)
    monkeypatch.setenv("EW_OCR_TOPIC_ARN", TOPIC)
    monkeypatch.setenv("EW_OCR_ROLE_ARN", OCR_ROLE)
    try:
        cloud.forward_mail(mail("<scan-2@acme.example>", attachments=[("scan.pdf", image_only_pdf())]))
        tag = hashlib.sha256(b"<scan-2@acme.example>").hexdigest()[:12]
        cloud.intake(textract_notice_event("job-0002", "FAILED", TOPIC, tag))
    finally:
        runtime.use_client("textract", None)
    words = card_words(cards(cloud)[0])
    assert "OCR could not read scan.pdf (Textract: FAILED)" in words


def test_textract_refusing_the_job_still_gives_a_card_saying_so(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ew_local.sample_documents import image_only_pdf

    client = boto3.client("textract", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("start_document_text_detection", "UnsupportedDocumentException", "no", 400)
    stubber.activate()
    runtime.use_client("textract", client)
    monkeypatch.setenv("EW_OCR_TOPIC_ARN", TOPIC)
    monkeypatch.setenv("EW_OCR_ROLE_ARN", OCR_ROLE)
    try:
        answer = cloud.forward_mail(
            mail("<scan-3@acme.example>", attachments=[("scan.pdf", image_only_pdf())])
        )
    finally:
        runtime.use_client("textract", None)
    assert answer["mails"][0]["outcome"] == "proposed"
    words = card_words(cards(cloud)[0])
    assert "could not be sent to OCR" in words and "reading it needs OCR" in words


@pytest.mark.parametrize(
    ("name", "expiry"),
    [
        ("lift-examination-certificate.docx", "2026-07-14"),  # the date is in a table
        ("fleet-insurance-schedule.xlsx", "2027-01-31"),
    ],
)
def test_office_attachments_are_read_and_proposed(cloud: LocalCloud, name: str, expiry: str) -> None:
    data = example_inbox()[name]
    cloud.forward_mail(mail(f"<{name}@acme.example>", attachments=[(name, data)]), f"inbound/{name}")
    words = card_words(cards(cloud)[0])
    assert f"*Expiry date:* {expiry}" in words and f"/{name}" in words


def test_an_html_only_mail_body_is_read(cloud: LocalCloud) -> None:
    html = (
        "<html><body><p>Your domain <b>acme-trading.example</b> expires on 14 March 2027.</p></body></html>"
    )
    cloud.forward_mail(mail("<html@acme.example>", text=None, html=html, attachments=[]), "inbound/html")
    words = card_words(cards(cloud)[0])
    assert "*Expiry date:* 2027-03-14" in words and "/mail.eml" in words


def _bedrock_says(owner: str) -> dict[str, Any]:
    answer = {
        "item": "Office cleaning contract",
        "category": "contract",
        "expiry_date": "2027-01-31",
        "owner_guess": owner,
        "evidence": "The initial term ends on 31 January 2027.",
    }
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "propose_registry_row", "input": answer}}
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 900, "outputTokens": 120, "totalTokens": 1020},
        "metrics": {"latencyMs": 850},
    }


@pytest.mark.parametrize(
    ("guess", "owner"),
    [("U04OPS0001", "U04OPS0001"), ("mallory@elsewhere.example", "ana@acme.example")],
)
def test_bedrock_s_owner_guess_is_kept_only_if_the_registry_names_that_person(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, guess: str, owner: str
) -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("converse", _bedrock_says(guess))
    stubber.activate()
    runtime.use_client("bedrock-runtime", client)
    monkeypatch.setenv("EW_BEDROCK_MODEL_ID", "global.anthropic.claude-haiku-4-5-20251001-v1:0")
    try:
        cloud.forward_mail(mail(), "inbound/bedrock")
    finally:
        runtime.use_client("bedrock-runtime", None)
    words = card_words(cards(cloud)[0])
    assert "read by bedrock" in words and "*Expiry date:* 2027-01-31" in words
    assert f"*Owner (Slack user ID or email):* {owner}" in words


# -- killed around its writes, then Lambda's retries (DESIGN.md §9) -----------------------------------

LAMBDA_RETRIES = (timedelta(minutes=1), timedelta(minutes=3))  # after a failed asynchronous invocation


def retried_by_lambda(cloud: LocalCloud, key: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """S3's event for `key` again, as Lambda retries it: each retry's outcome, "busy" for one that
    failed because the dead attempt's claim still held (Lambda then tries again later)."""
    from opskit.state import Busy

    event = s3_created_event(NAMES["EW_RAW_MIME_BUCKET"], key, 10)
    seen = []
    for delay in LAMBDA_RETRIES:
        with later(monkeypatch, delay):
            try:
                seen.append(cloud.intake(event)["mails"][0]["outcome"])
                return seen
            except Busy:
                seen.append("busy")
    return seen


def forward_killed(cloud: LocalCloud, key: str) -> None:
    with pytest.raises(InvocationKilled):
        cloud.forward_mail(mail(), key)


@pytest.mark.parametrize(
    ("service", "operation", "when", "retries"),
    [
        ("dynamodb", "PutItem", "before", ["proposed"]),  # before the mail's claim
        ("dynamodb", "PutItem", "after", ["busy", "proposed"]),  # after it: its lease (90 s) must pass
        ("s3", "PutObject", "before", ["busy", "proposed"]),  # before copying the attachment
        ("s3", "PutObject", "after", ["busy", "proposed"]),  # after copying it
    ],
)
def test_killed_before_its_card_the_mail_is_proposed_once_by_lambdas_retry(
    cloud: LocalCloud,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    operation: str,
    when: str,
    retries: list[str],
) -> None:
    state = NAMES["EW_STATE_TABLE"]
    match = (
        writes_to(state)
        if service == "dynamodb"
        else lambda params: params.get("Bucket") != NAMES["EW_RAW_MIME_BUCKET"]
    )
    with killed_around(service, operation, when, match=match) as killed:
        forward_killed(cloud, "inbound/killed")
    assert killed and cards(cloud) == []
    assert retried_by_lambda(cloud, "inbound/killed", monkeypatch) == retries
    [card] = cards(cloud)
    assert "*Expiry date:* 2027-01-31" in card_words(card)
    assert cloud.forward_mail(mail(), "inbound/again")["mails"][0]["outcome"] == "duplicate"
    assert len(cards(cloud)) == 1


def test_killed_after_its_card_was_recorded_the_retry_posts_nothing(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_complete = StateTable.complete

    def complete_then_die(self: StateTable, held: Held) -> None:
        real_complete(self, held)
        if held.pk == "mail":  # the mail's claim completed with its outcome, after its card
            kill()

    monkeypatch.setattr(StateTable, "complete", complete_then_die)
    forward_killed(cloud, "inbound/killed")
    monkeypatch.setattr(StateTable, "complete", real_complete)
    assert retried_by_lambda(cloud, "inbound/killed", monkeypatch) == ["duplicate"]
    assert len(cards(cloud)) == 1


def test_killed_between_posting_its_card_and_recording_it_the_retry_posts_it_again_but_it_adds_one_row(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented exception (README, intake-parser): Slack's post and its record cannot be one write,
    so a death in between shows the card twice. Both are the same proposal, decided once."""
    with killed_in(SlackGateway, "post", "after"):
        forward_killed(cloud, "inbound/killed")
    assert retried_by_lambda(cloud, "inbound/killed", monkeypatch) == ["busy", "proposed"]
    first, second = cards(cloud)
    assert first["blocks"][-1] == second["blocks"][-1]  # the same buttons: the same proposal id
    for card in (first, second):
        message = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
        cloud.slack_click(button_click(message, "proposal_approve", "U04OPS0001"))
    header, *rows = cloud.sheet_rows()
    assert [row[header.index("item")] for row in rows].count("Cleaning contract") == 1


def test_a_forward_of_a_forward_sent_base64_gives_the_inner_pdf_its_card(cloud: LocalCloud) -> None:
    # Held-out shape: the broker's mail, attached by a colleague as message/rfc822 in base64 (as
    # Python's EmailMessage and some mail apps send it), forwarded again to expires@.
    from email import policy
    from email.message import EmailMessage
    from email.parser import BytesParser

    broker = BytesParser(policy=policy.default).parsebytes(mail("<broker-1@sparkle.example>"))
    colleague = EmailMessage()
    colleague["From"], colleague["Subject"] = "bob@acme.example", "Fwd: cleaning contract"
    colleague.set_content("see below")
    colleague.add_attachment(broker.as_bytes(), maintype="message", subtype="rfc822")
    outer = EmailMessage()
    outer["From"], outer["To"] = "Ana Lopez <ana@acme.example>", "expires@acme.example"
    outer["Subject"], outer["Message-ID"] = "Fwd: Fwd: cleaning contract", "<outer-1@acme.example>"
    outer.set_content("for the register")
    outer.add_attachment(BytesParser(policy=policy.default).parsebytes(colleague.as_bytes()))
    assert cloud.forward_mail(outer.as_bytes(), "inbound/nested")["mails"][0]["outcome"] == "proposed"
    (card,) = cards(cloud)
    words = card_words(card)
    assert "*Expiry date:* 2027-01-31" in words
    assert "Evidence: “The initial term ends on 31 January 2027.”" in words
    uri = next(w for w in words.split() if w.startswith("s3://")).rstrip(".,")
    assert uri.endswith("/cleaning-agreement.pdf") and cloud.source_file(uri).startswith(b"%PDF")


def test_two_attachments_with_the_same_name_are_both_kept_and_linked_on_the_card(cloud: LocalCloud) -> None:
    # Scanners call every file "scan.pdf": the second must not overwrite the first in the source bucket.
    first, second = text_pdf(CONTRACT), text_pdf("Insurance schedule\nCover ends on 31 March 2027.\n")
    raw = mail("<two-scans@acme.example>", attachments=[("scan.pdf", first), ("scan.pdf", second)])
    assert cloud.forward_mail(raw, "inbound/two-scans")["mails"][0]["outcome"] == "proposed"
    (card,) = cards(cloud)
    uris = [w.rstrip(".,") for w in card_words(card).split() if w.startswith("s3://")]
    assert len(uris) == 2 and uris[0] != uris[1]
    assert [cloud.source_file(uri) for uri in uris] == [first, second]
    bucket = cloud.s3.list_objects_v2(Bucket=NAMES["EW_SOURCE_BUCKET"])
    assert len(bucket["Contents"]) == 2


def test_names_that_make_the_same_key_are_both_kept(cloud: LocalCloud) -> None:
    # "scan (2).pdf" (the second "scan.pdf") and a file really called "scan_2_.pdf" lose their unsafe
    # characters to the same key: neither may overwrite the other.
    files = [text_pdf(CONTRACT), text_pdf("Cover ends on 31 March 2027.\n"), text_pdf("Ends 1 May 2027.\n")]
    named = list(zip(["scan_2_.pdf", "scan.pdf", "scan.pdf"], files, strict=True))
    raw = mail("<three-scans@acme.example>", attachments=named)
    assert cloud.forward_mail(raw, "inbound/three-scans")["mails"][0]["outcome"] == "proposed"
    (card,) = cards(cloud)
    uris = [w.rstrip(".,") for w in card_words(card).split() if w.startswith("s3://")]
    assert len(set(uris)) == 3
    assert [cloud.source_file(uri) for uri in uris] == files
