"""A file dropped on the workspace page, forwarded to the inbound address as a person would forward it.

The upload is a plain multipart/form-data post (the page's file input, or the drop zone filling it), read
with the email package. Before anything is sent it is checked: an empty file, one too large for
intake-parser's mail limit, or a type intake does not read is refused here in plain words, so nothing
half-sent is left behind. A saved mail (.eml) is forwarded as it is; any other file becomes the
attachment of a new mail from the forwarder to the inbound address, as a mail client would make it.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid

from opskit.documents import (
    DOCX,
    HTML,
    LIMITS,
    MAIL,
    MB,
    PDF,
    TEXT,
    UNKNOWN,
    XLSX,
    clean_name,
    detect_kind,
    read_document,
)

INBOUND = "expires@acme.example"  # the example company's inbound address (the SES receipt rule's)
FIELD = "file"  # the form field the page posts the file in
# intake-parser reads a raw mail up to LIMITS.mail_bytes. A forwarded file travels base64-encoded in
# 76-character lines (57 bytes become 78), so this is the largest file whose mail it still reads, with
# room left for the headers and the short note.
MAIL_LIMIT = LIMITS.mail_bytes
FILE_LIMIT = (LIMITS.mail_bytes - 64 * 1024) * 57 // 78
# The request: the largest mail and the form around it. Past this the server reads nothing into memory.
UPLOAD_LIMIT = MAIL_LIMIT + 64 * 1024
_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    TEXT: "text/plain",
    HTML: "text/html",
}
_FILENAME = re.compile(rb'filename="([^"\r\n]*)"')


class Refused(ValueError):
    """Why an upload is not forwarded, in words for the person who dropped it."""


@dataclass(frozen=True)
class Upload:
    name: str  # as the browser sent it, cleaned for display
    content_type: str  # as the browser declared it ("" when it did not)
    data: bytes

    @property
    def kind(self) -> str:
        return detect_kind(self.name, self.content_type, self.data)


def megabytes(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{max(n, 1) / 1024:.0f} KB"


LIMITS_IN_WORDS = (
    f"files up to {megabytes(FILE_LIMIT)}, saved mails (.eml) up to {megabytes(MAIL_LIMIT)}: intake-parser "
    f"reads mails up to {megabytes(MAIL_LIMIT)}, and a file grows by a third when mailed"
)


def read_upload(content_type: str, body: bytes) -> Upload:
    """The file of a multipart/form-data post, byte for byte. Raises Refused when there is none.

    The form is cut on its boundary here and only each part's headers go through the email package:
    parsing the whole form with it would turn an uploaded .eml (message/rfc822) into a message object."""
    declared = EmailMessage(policy=policy.HTTP)
    declared["Content-Type"] = content_type
    boundary = declared.get_param("boundary")
    if declared.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise Refused("The upload did not come as a file form; use the page's Forward box. Nothing was sent.")
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1", "replace"))[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        headers, _, data = chunk.partition(b"\r\n\r\n")
        part = BytesHeaderParser(EmailMessage, policy=policy.HTTP).parsebytes(headers.lstrip(b" \t\r\n"))
        if part.get_param("name", header="content-disposition") != FIELD:
            continue
        name = clean_name(part.get_filename() or "")
        if not name and not data:
            break  # the form sent with no file chosen
        return Upload(name or "the file", part.get_content_type() if part["Content-Type"] else "", data)
    raise Refused("Choose a file first, or drop one on the Forward box.")


def name_in(head: bytes) -> str:
    """The file name in the first bytes of a form post too large to read (for the message)."""
    found = _FILENAME.search(head)
    return clean_name(found.group(1).decode("utf-8", "replace")) if found else ""


def too_large(name: str, size: int) -> str:
    return (
        f"{name or 'The file'} is {megabytes(size)}: too large to forward here ({LIMITS_IN_WORDS}). "
        "Nothing was sent."
    )


def check(upload: Upload) -> None:
    """Raises Refused for an upload that must not be forwarded."""
    if not upload.data:
        raise Refused(f"{upload.name} is empty (0 bytes): there is nothing to forward. Nothing was sent.")
    kind = upload.kind
    if len(upload.data) > (MAIL_LIMIT if kind == MAIL else FILE_LIMIT):
        raise Refused(too_large(upload.name, len(upload.data)))
    if kind == UNKNOWN:
        # intake-parser's own words for a type it does not read (old Office formats get their hint).
        problem = read_document(upload.name, upload.data, upload.content_type).problem
        why = problem.removeprefix(f"could not read {upload.name}: ")
        if why.endswith("files are read"):
            why += ", and saved mails (.eml)"
        raise Refused(f"{upload.name} was not forwarded: {why}. Nothing was sent.")


def as_mail(upload: Upload, sender: str, sent: datetime, to: str = INBOUND) -> bytes:
    """The raw mail that reaches the inbound address: a saved mail as it is, any other file attached
    to a new mail from `sender`."""
    if upload.kind == MAIL:
        return upload.data
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Fwd: {upload.name}"
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = make_msgid("ew-workspace", sender.rpartition("@")[2] or "localhost")
    message.set_content(f"Forwarded from the local workspace: {upload.name} is attached.\n")
    declared = upload.content_type if upload.content_type != "application/octet-stream" else ""
    mime = _TYPES.get(upload.kind) or mimetypes.guess_type(upload.name)[0] or declared
    maintype, _, subtype = (mime or "application/octet-stream").partition("/")
    message.add_attachment(upload.data, maintype=maintype, subtype=subtype, filename=upload.name)
    return message.as_bytes(policy=policy.SMTP)
