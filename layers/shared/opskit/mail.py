"""Building and sending email through SES.

Messages are plain text with an optional HTML alternative. Text that people wrote (sheet cells, template
output) must reach the HTML part only through `render_html`, which escapes it: an item called
"<b>Lease</b>" is shown as typed, never interpreted by the mail client.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# Plain words for the errors an operator can do something about; the SES message itself may contain
# addresses (personal data), so it is not repeated.
_REASONS = {
    "MessageRejected": "SES refused the message: the sender address or its domain may not be verified, "
    "or the account is still in the SES sandbox and the recipient is not verified",
    "MailFromDomainNotVerified": "the custom MAIL FROM domain of the sender is not verified in SES",
    "AccountSendingPausedException": "sending email is paused for this AWS account",
    "ConfigurationSetDoesNotExist": "the SES configuration set does not exist",
    "Throttling": "SES is sending more slowly than asked (rate limit); try again later",
}


class MailError(Exception):
    """A message that could not be sent. `code` is the SES error code ("" when SES was not reached)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


def render_html(text: str, links: Sequence[tuple[str, str]] = ()) -> str:
    """A small HTML body from plain text (blank lines separate paragraphs) and (label, url) links.

    Everything is escaped; only http(s) links are accepted, so a "javascript:" URL cannot slip in."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    parts = ["<p>" + html_lib.escape(p.strip()).replace("\n", "<br>\n") + "</p>" for p in paragraphs]
    for label, url in links:
        if not url.lower().startswith(("https://", "http://")):
            raise ValueError(f"a link in an email must start with https:// ({label!r})")
        parts.append(f'<p><a href="{html_lib.escape(url, quote=True)}">{html_lib.escape(label)}</a></p>')
    return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"


def build_message(
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A ready-to-send message. `html`, when given, is used as is: build it with `render_html`.

    Line breaks in the subject (easy to get from a template) are folded into spaces rather than refused.
    Header values with line breaks raise ValueError (the email package refuses header injection)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: without one make_msgid asks DNS for this host's name, which can stall.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost.localdomain"
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    # Quoted-printable keeps the message 7-bit clean, as SES advises for raw messages; the text stays
    # readable in the source, unlike base64.
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def send_raw(ses_client: Any, message: EmailMessage) -> str:
    """Send through SES `send_raw_email`; return the SES MessageId. Raises MailError in plain words."""
    try:
        # SMTP policy: CRLF line endings, as RFC 5322 wants on the wire.
        response = ses_client.send_raw_email(RawMessage={"Data": message.as_bytes(policy=SMTP)})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = _REASONS.get(code, "SES did not accept the message")
        raise MailError(f"the email could not be sent: {reason} ({code})", code) from exc
    except BotoCoreError as exc:
        raise MailError(
            f"the email could not be sent: SES could not be reached ({type(exc).__name__})"
        ) from exc
    return str(response["MessageId"])
