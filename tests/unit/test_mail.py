import email
from email import policy
from email.message import EmailMessage

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from opskit.mail import MailError, build_message, render_html, send_raw

SENDER = "Alerts <alerts@example.com>"


@pytest.fixture
def ses(moto_aws):
    yield boto3.client("ses")


def _sent() -> list[EmailMessage]:
    """The raw messages moto's SES received, parsed back."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    messages = []
    for sent in backend.sent_messages:
        message = email.message_from_bytes(sent.raw_data.encode("utf-8"), policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def _parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


def test_render_html_escapes_user_text_and_links():
    body = render_html(
        'Lease <script>alert("x")</script> & co\nsecond line\n\nnext paragraph',
        [("Renew <now>", 'https://example.com/a?x=1&y="2"')],
    )
    assert "<script>" not in body
    assert "Lease &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co<br>\nsecond line" in body
    assert "<p>next paragraph</p>" in body
    assert '<a href="https://example.com/a?x=1&amp;y=&quot;2&quot;">Renew &lt;now&gt;</a>' in body


def test_render_html_refuses_non_web_links():
    with pytest.raises(ValueError, match="https://"):
        render_html("hi", [("click", "javascript:alert(1)")])


def test_build_message_has_text_and_html_parts_and_standard_headers():
    message = build_message(
        SENDER,
        "owner@example.org",
        "Renew the\nlease",
        "Plain text",
        render_html("Plain text"),
        {"X-Ref": "A1"},
    )
    assert message["Subject"] == "Renew the lease"  # a line break from a template is folded away
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message["X-Ref"] == "A1"
    assert message.get_content_type() == "multipart/alternative"


def test_build_message_without_html_is_plain_text():
    message = build_message(SENDER, "owner@example.org", "Hello", "Just text")
    assert message.get_content_type() == "text/plain"


def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        build_message(
            SENDER, "owner@example.org", "Hi", "text", headers={"X-Ref": "a\r\nBcc: evil@example.net"}
        )


def test_send_raw_delivers_the_message_with_both_parts(ses):
    ses.verify_email_identity(EmailAddress="alerts@example.com")
    text = "Lease for 12 Main St expires on 1 Mar 2026 — renew? <b>now</b>"
    message = build_message(SENDER, "owner@example.org", "Lease — expires soon", text, render_html(text))

    message_id = send_raw(ses, message)

    assert message_id
    (sent,) = _sent()
    assert sent["To"] == "owner@example.org"
    assert sent["Subject"] == "Lease — expires soon"
    assert sent.get_content_type() == "multipart/alternative"
    parts = _parts(sent)
    assert parts["text/plain"].strip() == text
    assert "2026 — renew? &lt;b&gt;now&lt;/b&gt;" in parts["text/html"]
    assert sent["Message-ID"] == message["Message-ID"]


def test_a_verified_domain_is_enough(ses):
    ses.verify_domain_identity(Domain="example.com")
    assert send_raw(ses, build_message("noreply@example.com", "owner@example.org", "Hi", "text"))


def test_an_unverified_sender_raises_mail_error_in_plain_words(ses):
    message = build_message("nobody@unverified.example", "owner@example.org", "Hi", "text")
    with pytest.raises(MailError, match="not be verified") as info:
        send_raw(ses, message)
    assert info.value.code == "MessageRejected"
    assert "nobody@unverified.example" not in str(info.value)  # addresses are personal data: not in errors


def test_other_ses_errors_are_mail_errors_too(ses):
    with Stubber(ses) as stub, pytest.raises(MailError, match="could not be sent") as info:
        stub.add_client_error("send_raw_email", service_error_code="SomethingNew")
        send_raw(ses, build_message(SENDER, "owner@example.org", "Hi", "text"))
    assert info.value.code == "SomethingNew"
