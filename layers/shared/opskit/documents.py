"""Text out of untrusted documents: a raw email and its attachments (PDF, DOCX, XLSX, text, HTML).

Everything here reads input that a stranger may have crafted, so nothing raises out of it: each
document becomes a `DocumentText` whose `problem` says in plain words what could not be read and why
("could not read contract.pdf: the PDF is encrypted"), and each mail a `MailDocument`. The limits are
named in `Limits`; DOCX and XLSX are zip packages, checked with `zipfile` before any parser opens them.

pypdf, python-docx and openpyxl are imported inside the functions that use them: a Lambda that only
imports this module (for `html_to_text`, say) does not pay for them at cold start.
"""

from __future__ import annotations

import base64
import io
import quopri
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from datetime import time as clock_time
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much of an untrusted mail or document is read. Past a limit the input is refused (mail size,
    zip guards) or read in part with a note saying so (attachments, pages, text length, time)."""

    mail_bytes: int = 25 * MB  # a raw mail larger than this is not parsed (SES accepts up to 40 MB)
    file_bytes: int = 25 * MB  # one attachment or one local file
    attachments: int = 10  # attachments read per mail; the rest are named in a note
    text_chars: int = 200_000  # extracted text per document; cut with a note
    mail_text_chars: int = 500_000  # extracted text per mail; later attachments are left unread
    pdf_pages: int = 200  # pages read per PDF
    sheet_cells: int = 500_000  # XLSX cells visited (empty ones too) per workbook
    zip_entries: int = 2_000  # parts inside a DOCX/XLSX package
    zip_bytes: int = 100 * MB  # their total uncompressed size (python-docx loads every part)
    xml_part_bytes: int = 40 * MB  # one XML part parsed whole (word/document.xml: ~6x in memory)
    zip_ratio: int = 100  # uncompressed:compressed size of one part (Office XML is usually 5-30)
    zip_ratio_from: int = 1 * MB  # parts smaller than this are not ratio-checked
    seconds: float = 20.0  # reading time per mail (wall clock); pages, rows and attachments past it
    # are left out with a note, so a 60 s Lambda keeps time for the model call and the proposal
    nesting: int = 5  # forwarded messages inside forwarded messages


LIMITS = Limits()

# What a document is, decided from its name, its declared type and its first bytes.
PDF, DOCX, XLSX, TEXT, HTML, MAIL, IMAGE, UNKNOWN = "pdf", "docx", "xlsx", "text", "html", "mail", "image", ""

_EXTENSIONS = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".docm": DOCX,
    ".xlsx": XLSX,
    ".xlsm": XLSX,
    ".txt": TEXT,
    ".text": TEXT,
    ".csv": TEXT,
    ".md": TEXT,
    ".htm": HTML,
    ".html": HTML,
    ".eml": MAIL,
    ".png": IMAGE,
    ".jpg": IMAGE,
    ".jpeg": IMAGE,
    ".tif": IMAGE,
    ".tiff": IMAGE,
}
_CONTENT_TYPES = {
    "application/pdf": PDF,
    "application/x-pdf": PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": XLSX,
    "text/plain": TEXT,
    "text/csv": TEXT,
    "text/html": HTML,
    "message/rfc822": MAIL,
    "image/png": IMAGE,
    "image/jpeg": IMAGE,
    "image/tiff": IMAGE,
}
_OLD_OFFICE = {
    ".doc": "the old Word .doc format is not read; save it as .docx or PDF and send it again",
    ".xls": "the old Excel .xls format is not read; save it as .xlsx and send it again",
    ".ppt": "PowerPoint files are not read; save it as PDF and send it again",
    ".pptx": "PowerPoint files are not read; save it as PDF and send it again",
}
BODY = "the mail body"  # the name a mail's body goes by, as a document
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # password-protected Office files and .doc/.xls
_READABLE = "only PDF, DOCX, XLSX, text and HTML files are read"


@dataclass(frozen=True)
class DocumentText:
    """The text of one document (an attachment, a mail body, a local file).

    `problem` is set when nothing usable could be read, in words for whoever forwarded it; `notes` say
    what was read only in part. `needs_ocr` marks a PDF without a text layer, or an image: its text
    needs OCR (Textract), and `data` keeps the bytes for that and for archiving the source file."""

    name: str  # file name as sent (cleaned for display), or "the mail body"
    kind: str  # PDF, DOCX, XLSX, TEXT, HTML, MAIL, IMAGE or UNKNOWN
    text: str = ""
    problem: str = ""
    notes: tuple[str, ...] = ()
    needs_ocr: bool = False
    content_type: str = ""
    data: bytes = field(default=b"", repr=False, compare=False)

    @property
    def readable(self) -> bool:
        return bool(self.text.strip()) and not self.problem


@dataclass(frozen=True)
class MailDocument:
    subject: str = ""
    sender: str = ""  # the From address, e.g. ana@example.com ("" when there is none)
    sender_name: str = ""
    message_id: str = ""
    date: datetime | None = None
    spam_verdict: str = ""  # SES: PASS, FAIL, GRAY, PROCESSING_FAILED ("" when not scanned)
    virus_verdict: str = ""
    body: DocumentText | None = None
    attachments: tuple[DocumentText, ...] = ()
    problems: tuple[str, ...] = ()  # about the mail as a whole (too large, too many attachments, ...)
    size: int = 0
    # Pictures in the body (a pasted photo, a signature logo), by file name or type: they are not read,
    # but a mail holding nothing else must say it had one rather than "no text".
    inline_images: tuple[str, ...] = ()

    @property
    def refused(self) -> str:
        """Why the mail must not be used at all ("" when it may)."""
        if self.virus_verdict == "FAIL":
            return "the mail was not read: the mail server found a virus in it"
        if self.spam_verdict == "FAIL":
            return "the mail was not read: the mail server marked it as spam"
        return ""

    @property
    def parts(self) -> tuple[DocumentText, ...]:
        return ((self.body,) if self.body else ()) + self.attachments


# -- entry points ----------------------------------------------------------------------------------


def read_document(
    name: str, data: bytes, content_type: str = "", limits: Limits = LIMITS, deadline: float | None = None
) -> DocumentText:
    """The text of one file, whatever it is; never raises."""
    shown = clean_name(name)
    kind = detect_kind(shown, content_type, data)
    base = DocumentText(shown, kind, content_type=content_type, data=data)
    if not data:
        return _failed(base, "the file is empty")
    if len(data) > limits.file_bytes:
        return _failed(
            base, f"the file is {_size(len(data))}, larger than the {_size(limits.file_bytes)} limit"
        )
    deadline = time.monotonic() + limits.seconds if deadline is None else deadline
    try:
        if kind == PDF:
            return read_pdf(base, limits, deadline)
        if kind == DOCX:
            return read_docx(base, limits)
        if kind == XLSX:
            return read_xlsx(base, limits, deadline)
        if kind in (TEXT, HTML):
            text = decode_text(data)
            if "\x00" in text[:4096]:
                return _failed(base, "it looks like a binary file, not text")
            return _with_text(base, html_to_text(text) if kind == HTML else text, limits.text_chars)
        if kind == IMAGE:
            return replace(_failed(base, "it is an image; reading its text needs OCR"), needs_ocr=True)
        if kind == MAIL:
            return _failed(base, "a mail inside a mail is read with read_mail, not as a document")
        extension = _extension(shown)
        if extension in _OLD_OFFICE:
            return _failed(base, _OLD_OFFICE[extension])
        what = (
            f'"{content_type}" files' if content_type and not extension else f"{extension or 'these'} files"
        )
        return _failed(base, f"{what} are not read; {_READABLE}")
    except Exception as exc:  # a parser bug on crafted input must not become a crash loop
        return _failed(base, f"it could not be read ({type(exc).__name__})")


def read_mail(raw: bytes, limits: Limits = LIMITS) -> MailDocument:
    """Headers, body and attachments of a raw RFC 5322 mail (as SES writes it to S3); never raises.

    A mail that SES marked as spam or virus (FAIL) keeps its headers but none of its content is read."""
    deadline = time.monotonic() + limits.seconds
    if len(raw) > limits.mail_bytes:
        headers = _headers(BytesHeaderParser(policy=policy.default).parsebytes(raw[: 256 * 1024]))
        too_big = f"the mail is {_size(len(raw))}, larger than the {_size(limits.mail_bytes)} limit"
        too_big += "; it was not read"
        return replace(headers, problems=(too_big,), size=len(raw))
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:
        return MailDocument(problems=(f"the mail could not be read ({type(exc).__name__})",), size=len(raw))
    mail = replace(_headers(message), size=len(raw))
    if mail.refused:
        return replace(mail, problems=(mail.refused,))

    bodies: list[tuple[str, str]] = []  # (kind, text) in mail order
    found: list[Message] = []  # attachment parts
    problems: list[str] = []
    images: list[str] = []
    try:
        _walk(message, bodies, found, problems, images, 0, limits)
    except Exception as exc:  # a MIME structure the email package chokes on: keep what was sorted
        problems.append(f"part of the mail could not be read ({type(exc).__name__})")
    if mail.virus_verdict == "PROCESSING_FAILED":
        problems.append("the mail server could not scan this mail for viruses")

    budget = limits.mail_text_chars
    body = None
    if bodies:
        text = "\n\n".join(t for _, t in bodies if t.strip())
        kind = HTML if all(k == HTML for k, _ in bodies) else TEXT
        body = _with_text(DocumentText(BODY, kind), text, min(budget, limits.text_chars))
        budget -= len(body.text)

    names = _distinct([_part_name(part, i) for i, part in enumerate(found)])
    if len(found) > limits.attachments:
        skipped = names[limits.attachments :]
        problems.append(
            f"the mail has {len(found)} attachments; only the first {limits.attachments} were read "
            f"(not read: {', '.join(skipped)})"
        )
    attachments = []
    for part, name in zip(found[: limits.attachments], names, strict=False):
        if budget <= 0:
            unread = (
                f"not read: the mail's other documents already gave {limits.mail_text_chars:,} characters"
            )
            attachments.append(_unread_part(part, name, unread))
            continue
        if time.monotonic() > deadline:
            attachments.append(_unread_part(part, name, "not read: out of time for this mail"))
            continue
        document = _read_part(
            part, name, replace(limits, text_chars=min(budget, limits.text_chars)), deadline
        )
        budget -= len(document.text)
        attachments.append(document)
    return replace(
        mail,
        body=body,
        attachments=tuple(attachments),
        problems=tuple(problems),
        inline_images=tuple(images),
    )


# -- mail structure --------------------------------------------------------------------------------


def _headers(message: Message) -> MailDocument:
    def header(name: str) -> str:
        try:
            value = str(message.get(name, "") or "")
        except Exception:  # a malformed header the policy cannot render
            return ""
        if "\ufffd" in value:
            value = _raw_header(message, name) or value
        return " ".join(value.split())[:500]

    sender_name = sender = ""
    try:
        addresses = getaddresses([str(v) for v in message.get_all("from", [])])
        if addresses:
            sender_name, sender = addresses[0]
    except Exception:
        pass
    sent = None
    try:
        value = message.get("date")
        sent = getattr(value, "datetime", None)
    except Exception:
        pass
    return MailDocument(
        subject=header("subject"),
        sender=sender.strip().lower() if "@" in sender else "",
        sender_name=" ".join(sender_name.split())[:200],
        message_id=header("message-id"),
        date=sent,
        spam_verdict=_verdict(message, "X-SES-Spam-Verdict"),
        virus_verdict=_verdict(message, "X-SES-Virus-Verdict"),
    )


def _raw_header(message: Message, name: str) -> str:
    """A header sent as raw 8-bit text (no =?charset?...?= encoding), read as decode_text reads a
    file; "" when it was not raw 8-bit. The parser keeps such bytes as surrogate escapes."""
    for key, value in message.raw_items():
        if key.lower() == name and isinstance(value, str) and "=?" not in value:
            try:
                data = value.encode("ascii", "surrogateescape")
            except UnicodeEncodeError:
                return ""
            return decode_text(data) if not data.isascii() else ""
    return ""


def _verdict(message: Message, name: str) -> str:
    """SES prepends its verdict headers; a sender can add more lower down. Any FAIL counts as FAIL,
    otherwise the first one (SES's own) is the verdict."""
    values = [str(v).strip().upper() for v in message.get_all(name, [])]
    return "FAIL" if "FAIL" in values else (values[0] if values else "")


def _walk(
    part: Message,
    bodies: list[tuple[str, str]],
    found: list[Message],
    problems: list[str],
    images: list[str],
    depth: int,
    limits: Limits,
) -> None:
    """Sort the leaves of a MIME tree into body text and attachments. Alternatives (plain vs HTML)
    contribute one version; inline images (signature logos) are left out; forwarded mails (message/rfc822,
    or an attached .eml) are opened up to `limits.nesting` deep, their text joining the body."""
    content_type = part.get_content_type()
    inner: Message | None = None
    if content_type == "message/rfc822":  # forwarded "as attachment"
        inner = _forwarded(part)
    elif _extension(part.get_filename() or "") == ".eml":  # the same, sent as a plain file
        raw = part.get_payload(decode=True)
        inner = BytesParser(policy=policy.default).parsebytes(raw) if isinstance(raw, bytes) else None
    if content_type == "message/rfc822" or inner is not None:
        if inner is None or depth >= limits.nesting:
            problems.append("a forwarded mail nested too deeply was not read")
            return
        subject = " ".join(str(inner.get("subject", "") or "").split())[:200]
        bodies.append((TEXT, f"---------- Forwarded message ----------\nSubject: {subject}"))
        _walk(inner, bodies, found, problems, images, depth + 1, limits)
        return
    if part.get_content_maintype() == "multipart" and not part.is_multipart():
        # no boundary where the header says there is one: the parser keeps it all as one text
        bodies.append((TEXT, _decoded_text(part)))
        return
    if part.is_multipart():
        payload = part.get_payload()
        children = [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []
        if content_type == "multipart/alternative" and children:
            children = [_best_alternative(children)]
        for child in children:
            _walk(child, bodies, found, problems, images, depth, limits)
        return
    disposition = part.get_content_disposition()
    if (
        content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and not part.get_filename()
    ):
        text = _decoded_text(part)
        bodies.append((HTML, html_to_text(text)) if content_type == "text/html" else (TEXT, text))
        return
    if part.get_content_maintype() == "image" and disposition != "attachment":
        images.append(_image_name(part))  # a logo or a picture in the body: not read
        return
    if content_type in ("application/pgp-signature", "application/pkcs7-signature", "text/x-vcard"):
        return
    found.append(part)


def _forwarded(part: Message) -> Message | None:
    """The mail inside a message/rfc822 part. RFC 2046 forbids encoding such a part, but some mailers
    (and Python's own EmailMessage) send it base64 or quoted-printable: the parser then sees a mail with
    no headers whose body is the encoded text, so that text is decoded and parsed again."""
    payload = part.get_payload()
    first = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(first, Message):
        return None
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return first
    encoded = first.as_bytes(policy=policy.compat32)
    try:
        raw = base64.b64decode(encoded) if encoding == "base64" else quopri.decodestring(encoded)
    except ValueError:  # binascii.Error: cut short; read it as it came rather than not at all
        return first
    return BytesParser(policy=policy.default).parsebytes(raw)


def _best_alternative(children: list[Message]) -> Message:
    by_type = {child.get_content_type(): child for child in children}
    plain = by_type.get("text/plain")
    if plain is not None and _decoded_text(plain).strip():
        return plain
    return by_type.get("text/html") or next((c for c in children if c.is_multipart()), children[-1])


def _decoded_text(part: Message) -> str:
    """The text of a part in its declared charset. 8-bit text that declares no charset (so ASCII) is
    read as decode_text reads a file (UTF-8, else Windows-1252), as is UTF-8 labelled with the wrong
    charset: not as a row of "\ufffd"s."""
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
        if isinstance(content, str) and "\ufffd" not in content:
            return content
    except Exception:  # an unknown charset, a broken transfer encoding
        content = None
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        return content if isinstance(content, str) else ""
    if content is None or part.get_content_charset() in (None, "us-ascii", "ascii"):
        return decode_text(payload)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return content


def _image_name(part: Message) -> str:
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    return clean_name(filename or "") or f"a pasted {part.get_content_subtype().upper()} image"


def _part_name(part: Message, index: int) -> str:
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    # No "/" in the made-up name: read_document would take what comes before it for a folder.
    kind = part.get_content_type().replace("/", " ")
    return clean_name(filename or "") or f"attachment {index + 1} ({kind})"


def _distinct(names: list[str]) -> list[str]:
    """The names, a repeated one numbered before its extension ("scan.pdf", "scan (2).pdf"): scanners
    call every file the same, and whoever stores or links a mail's parts by name must get each one.
    Case is ignored ("Scan.pdf" is "scan.pdf" on many disks); the body's name is taken too."""
    taken = {BODY.casefold()}
    distinct = []
    for name in names:
        cut = len(name) - len(_extension(name))
        unique, number = name, 1
        while unique.casefold() in taken:
            number += 1
            unique = f"{name[:cut]} ({number}){name[cut:]}"
        taken.add(unique.casefold())
        distinct.append(unique)
    return distinct


def _unread_part(part: Message, name: str, why: str) -> DocumentText:
    """An attachment kept (for archiving) but not read."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    data = payload if isinstance(payload, bytes) else b""
    return DocumentText(name, detect_kind(name, part.get_content_type(), data), notes=(f"{name}: {why}",),
                        content_type=part.get_content_type(), data=data)  # fmt: skip


def _read_part(part: Message, name: str, limits: Limits, deadline: float) -> DocumentText:
    content_type = part.get_content_type()
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        return _failed(
            DocumentText(name, UNKNOWN, content_type=content_type), "its content could not be decoded"
        )
    return read_document(name, payload, content_type, limits, deadline)


# -- kinds -----------------------------------------------------------------------------------------


def detect_kind(name: str, content_type: str = "", data: bytes = b"") -> str:
    """PDF, DOCX, ... from the file's first bytes where they are telling, else its name, else its type."""
    head = data[:1024]
    if b"%PDF-" in head:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        names = _zip_names(data)
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
    by_name = _EXTENSIONS.get(_extension(name))
    if by_name:
        return by_name
    return _CONTENT_TYPES.get(content_type.lower().strip(), UNKNOWN)


def _zip_names(data: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            return package.namelist()[:10_000]
    except Exception:
        return []


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def clean_name(name: str) -> str:
    """A file name fit to show: no folders, no control characters, at most 120 characters."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", name.replace("\\", "/")).rsplit("/", 1)[-1].strip()
    return name if len(name) <= 120 else name[:80] + "…" + name[-30:]


# -- PDF -------------------------------------------------------------------------------------------


def read_pdf(doc: DocumentText, limits: Limits = LIMITS, deadline: float | None = None) -> DocumentText:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    data = doc.data
    deadline = time.monotonic() + limits.seconds if deadline is None else deadline
    if b"%PDF-" not in data[:1024]:
        return _failed(doc, "it is not a PDF file (or it is damaged)")
    truncated = b"%%EOF" not in data[-2048:]
    incomplete = "the PDF is incomplete (cut off before its end)"
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:  # an owner password alone (printing/copying restrictions) leaves the text readable
                opened = bool(reader.decrypt(""))
            except (DependencyError, FileNotDecryptedError, NotImplementedError):
                opened = False
            if not opened:
                return _failed(doc, "the PDF is encrypted (password-protected)")
        count = len(reader.pages)
        texts: list[str] = []
        notes: list[str] = []
        for number in range(count):
            if number >= limits.pdf_pages:
                notes.append(f"only the first {limits.pdf_pages} of {count} pages were read")
                break
            if time.monotonic() > deadline:
                notes.append(f"only the first {number} of {count} pages were read (out of time)")
                break
            texts.append(_page_text(reader.pages[number]))
            if sum(map(len, texts)) > limits.text_chars:
                break
        pages_read = len(texts)
        texts.append(_filled_in_text(reader, pages_read))
    except FileNotDecryptedError:
        return _failed(doc, "the PDF is encrypted (password-protected)")
    except Exception as exc:
        return _failed(doc, incomplete if truncated else f"the PDF is damaged ({type(exc).__name__})")
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if not pages_read and count:
        return _failed(doc, "out of time before its first page")
    if truncated:
        notes.append(incomplete + "; what could be read is used")
    if len(re.findall(r"\w", text)) < 20:
        if truncated:
            return _failed(doc, incomplete)
        return replace(
            _failed(doc, "the PDF has no text layer (it looks scanned); reading it needs OCR"), needs_ocr=True
        )
    return _with_text(replace(doc, notes=(*doc.notes, *notes)), text, limits.text_chars)


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_FIELD_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])|[_.\s]+")


def _filled_in_text(reader: Any, pages: int) -> str:
    """What a person typed into the PDF rather than its page: form fields ("Policy expiration date:
    1 March 2027", as a filled-in insurance certificate keeps it) and comment boxes on the pages read.
    Page text extraction never sees either. A broken form leaves the pages' text standing."""
    try:
        return "\n".join(_filled_in_lines(reader, pages))
    except Exception:
        return ""


def _filled_in_lines(reader: Any, pages: int) -> Iterator[str]:
    for name, entry in (reader.get_fields() or {}).items():
        value = entry.get("/V")
        if not isinstance(value, str) or value.startswith("/") or not value.strip():
            continue  # empty, a check box's state (/Off, /Yes) or a list choice
        label = str(entry.get("/TU") or "")  # the field's own label, when the form gives one
        if not label:  # "form1[0].Page1[0].Policy_ExpirationDate_A[0]" → "Policy Expiration Date A"
            label = _FIELD_WORDS.sub(" ", re.sub(r"\[\d+\]", "", str(name)).rsplit(".", 1)[-1]).strip()
        yield f"{label}: {' '.join(value.split())}"
    for page in reader.pages[:pages]:
        for annotation in page.get("/Annots") or []:
            note = annotation.get_object()
            if note.get("/Subtype") in ("/FreeText", "/Text") and isinstance(note.get("/Contents"), str):
                yield " ".join(str(note["/Contents"]).split())


def _page_text(page: Any) -> str:
    """The page's text; where dates sit in a grid (a schedule's table), its rows as " | " cells
    (opskit.pdf_layout), so each date keeps its column heading. Layout extraction costs a second pass,
    so it is tried only on a page that has a year on it; any failure of it keeps the plain text."""
    text = page.extract_text() or ""
    if not _YEAR.search(text):
        return text
    from opskit.pdf_layout import tabled

    try:
        return tabled(page.extract_text(extraction_mode="layout") or "") or text
    except Exception:  # layout mode is the less travelled path of pypdf: the plain text stands
        return text


# -- DOCX and XLSX (zip packages) ------------------------------------------------------------------


def check_package(data: bytes, limits: Limits = LIMITS, what: str = "file", streamed: str = "") -> str:
    """Why a DOCX/XLSX package must not be opened ("" when it may), from its zip directory alone.

    Python's zipfile stops at the declared size of each part (and then fails its CRC check), so the
    declared sizes checked here bound what a parser can inflate later. XML parts are parsed whole into
    memory (an lxml tree takes several times the XML's size), except those under `streamed`."""
    if data.startswith(_OLE_MAGIC):
        return f"the {what} is password-protected (or in the old Office format)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            parts = package.infolist()
    except Exception:
        return f"it is not a valid {what} (damaged or incomplete)"
    if len(parts) > limits.zip_entries:
        many = f"{len(parts):,} parts (more than {limits.zip_entries:,})"
        return f"the {what} holds {many}: it looks like a zip bomb"
    total = sum(p.file_size for p in parts)
    if total > limits.zip_bytes:
        return (
            f"the {what} would unpack to {_size(total)} (more than {_size(limits.zip_bytes)}): "
            "it looks like a zip bomb"
        )
    for part in parts:
        if part.file_size >= limits.zip_ratio_from and part.file_size > limits.zip_ratio * max(
            part.compress_size, 1
        ):
            ratio = part.file_size // max(part.compress_size, 1)
            return (
                f"a part of the {what} is compressed {ratio:,} to 1 (more than {limits.zip_ratio} to 1): "
                "it looks like a zip bomb"
            )
        if part.flag_bits & 0x1:
            return f"the {what} is password-protected"
        parsed_whole = part.filename.endswith(".xml") and not (
            streamed and part.filename.startswith(streamed)
        )
        if parsed_whole and part.file_size > limits.xml_part_bytes:
            size, limit = _size(part.file_size), _size(limits.xml_part_bytes)
            return f"its text would unpack to {size} (more than {limit}), too much to read safely"
    return ""


def read_docx(doc: DocumentText, limits: Limits = LIMITS) -> DocumentText:
    """Paragraphs and tables in document order, with the page headers and footers, content controls,
    text boxes and tracked insertions (opskit.word_text); a table row becomes one line, cells joined
    by " | "."""
    refusal = check_package(doc.data, limits, "DOCX file")
    if refusal:
        return _failed(doc, refusal)
    from docx import Document

    from opskit.word_text import document_lines

    try:
        lines = document_lines(Document(io.BytesIO(doc.data)), limits.text_chars)
    except Exception as exc:
        return _failed(doc, f"the DOCX file is damaged or not a Word document ({type(exc).__name__})")
    return _with_text(doc, "\n".join(lines), limits.text_chars)


def read_xlsx(doc: DocumentText, limits: Limits = LIMITS, deadline: float | None = None) -> DocumentText:
    """Cell values (formulas as last calculated), one line per row with cells joined by " | ", each
    sheet under a "Sheet: name" line. Dates are written as ISO dates."""
    refusal = check_package(doc.data, limits, "XLSX file", streamed="xl/worksheets/")
    refusal = refusal or _undimensioned_sheet(doc.data)
    if refusal:
        return _failed(doc, refusal)
    from openpyxl import load_workbook

    deadline = time.monotonic() + limits.seconds if deadline is None else deadline
    lines: list[str] = []
    notes: list[str] = []
    try:
        workbook = load_workbook(io.BytesIO(doc.data), read_only=True, data_only=True)
    except Exception as exc:
        return _failed(doc, f"the XLSX file is damaged or not an Excel workbook ({type(exc).__name__})")
    try:
        cells = size = 0
        for sheet in workbook.worksheets:
            lines.append(f"Sheet: {sheet.title}")
            for row in sheet.iter_rows(values_only=True):
                cells += len(row)
                values = [_cell_text(v) for v in row]
                while values and not values[-1]:
                    values.pop()
                if values:
                    lines.append(" | ".join(values))
                    size += len(lines[-1]) + 1
                if cells > limits.sheet_cells or time.monotonic() > deadline or size > limits.text_chars:
                    why = "out of time" if time.monotonic() > deadline else "too many cells"
                    if size <= limits.text_chars:
                        notes.append(f"only part of the workbook was read ({why})")
                    raise _Stop
    except _Stop:
        pass
    except Exception as exc:
        if not lines:
            return _failed(doc, f"the XLSX file is damaged ({type(exc).__name__})")
        notes.append(f"the workbook is damaged; only its first {len(lines)} lines were read")
    finally:
        workbook.close()
    if _unsaved_formulas(doc.data):
        notes.append(
            f"formulas in {doc.name} have no saved result (the file was not saved by a spreadsheet "
            "program), so their values could not be read; open it in Excel or LibreOffice and save it again"
        )
    return _with_text(replace(doc, notes=(*doc.notes, *notes)), "\n".join(lines), limits.text_chars)


_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
_UNDIMENSIONED_LIMIT = 2 * MB
# A formula cell without its last result: what a workbook written by a program (not Excel, LibreOffice
# or Google Sheets) holds. Read as data, such a cell is empty.
_NO_RESULT = re.compile(
    rb"</(?:\w+:)?f>\s*(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*</(?:\w+:)?c>"
)


def _unsaved_formulas(data: bytes) -> bool:
    """Whether a sheet holds formulas without results (the first 4 MB of each sheet are looked at)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            for part in package.infolist():
                if _SHEET.fullmatch(part.filename):
                    with package.open(part) as sheet:
                        if _NO_RESULT.search(sheet.read(4 * MB)):
                            return True
    except Exception:
        return False
    return False


def _undimensioned_sheet(data: bytes) -> str:
    """openpyxl (read-only) parses a whole sheet before its first row when the sheet lacks the size
    record (<dimension>) that Excel, LibreOffice and Google Sheets write at its top: a large sheet
    without one costs tens of seconds before any limit can act, so it is refused."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        for part in package.infolist():
            if _SHEET.fullmatch(part.filename) and part.file_size > _UNDIMENSIONED_LIMIT:
                with package.open(part) as sheet:
                    head = sheet.read(4096)
                if not re.search(rb"<(?:\w+:)?dimension\b", head):
                    return (
                        "a large sheet in the XLSX file has no size record (it was not saved by Excel, "
                        "LibreOffice or Google Sheets); open it and save it again as .xlsx"
                    )
    return ""


class _Stop(Exception):
    pass


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == clock_time() else value.isoformat(" ", "minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


# -- text and HTML ---------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 (never fails)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_BLOCKS = frozenset(
    ("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer",
     "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
     "section", "table", "tbody", "thead", "tfoot", "tr", "ul")
)  # fmt: skip
_HIDDEN = frozenset(("script", "style", "template", "noscript", "svg", "title", "object", "iframe"))


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.cell_in_row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in ("td", "th"):
            if self.cell_in_row:
                self.out.append(" | ")
            self.cell_in_row = True
        elif tag in _BLOCKS:
            self.out.append("\n")
            if tag == "tr":
                self.cell_in_row = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:  # <br/>, <hr/>
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in _BLOCKS and tag not in ("tr", "tbody", "thead", "tfoot"):  # rows start their own line
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """Readable text from HTML: block elements on their own lines, table cells joined by " | ",
    scripts and styles dropped, entities decoded. Tolerates any broken HTML."""
    parser = _TextParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is a last resort on pathological input
        return " ".join(re.sub(r"<[^>]*>", " ", html).split())
    lines = [" ".join(line.split()) for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- helpers ---------------------------------------------------------------------------------------


def _failed(doc: DocumentText, why: str) -> DocumentText:
    return replace(doc, text="", problem=f"could not read {doc.name}: {why}")


def _with_text(doc: DocumentText, text: str, limit: int) -> DocumentText:
    text = text.replace("\x00", "").replace("\r\n", "\n").strip()
    if len(text) > limit:
        note = f"the text of {doc.name} was cut at {limit:,} characters (it has {len(text):,})"
        return replace(doc, text=text[:limit], notes=(*doc.notes, note))
    return replace(doc, text=text)


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB"
