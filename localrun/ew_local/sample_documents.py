"""Building sample documents: PDF (with a real text layer), DOCX, XLSX and .eml files, reproducibly.

Used by the tests and by `python -m ew_local.sample_documents`, which writes the example inbox
(examples/acme/inbox/) that `ew extract` and the demo read. Same input, same bytes: fixed timestamps in
the zip packages and document properties, fixed MIME boundaries and Message-IDs.

The PDF writer is a small hand-written one (Helvetica, WinAnsi text, one content stream per page):
enough for pypdf to extract the text back, with no extra dependency.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

FIXED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_ZIP_TIME = (2026, 1, 5, 9, 0, 0)
INBOX = Path(__file__).resolve().parents[2] / "examples" / "acme" / "inbox"

# -- PDF -------------------------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(
    text: str, *, lines_per_page: int = 48, compress: bool = True, title: str = "", grid: bool = False
) -> bytes:
    """A PDF whose pages show `text` (one PDF line per text line; long lines are wrapped at 95 chars).
    With `grid`, a line with " | " is drawn as a table row is: each cell at its column's position
    (columns as wide as their longest cell in the run of such lines), no "|" drawn, so only where the
    text sits says which cell is which."""
    lines: list[str] = []
    for line in text.splitlines():
        while len(line) > 95 and not (grid and " | " in line):
            cut = line.rfind(" ", 0, 95)
            cut = cut if cut > 0 else 95
            lines.append(line[:cut])
            line = line[cut:].lstrip()
        lines.append(line)
    pages = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)] or [[]]

    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for page_lines in pages:
        ops = [b"BT", b"/F1 11 Tf", b"14 TL", b"56 790 Td"]
        columns = _grid_columns(page_lines) if grid else {}
        for number, line in enumerate(page_lines):
            if grid and " | " in line:
                for x, cell in zip(columns[number], line.split(" | "), strict=False):
                    position = b"1 0 0 1 %d %d Tm " % (x, 790 - 14 * number)
                    ops.append(position + _pdf_string(cell.strip()) + b" Tj")
            elif grid:
                ops.append(b"1 0 0 1 56 %d Tm " % (790 - 14 * number) + _pdf_string(line) + b" Tj")
            else:
                ops.append(_pdf_string(line) + b" Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        if compress:
            stream = zlib.compress(stream)
            header = b"<< /Length %d /Filter /FlateDecode >>" % len(stream)
        else:
            header = b"<< /Length %d >>" % len(stream)
        content = add(header + b"\nstream\n" + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (tree, font, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    info = add(b"<< /Title " + _pdf_string(title) + b" /Producer (ew sample documents) >>") if title else 0

    return _pdf_file(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", objects, catalog, info)


def _pdf_file(header: bytes, objects: Sequence[bytes], root: int, info: int = 0) -> bytes:
    """A PDF file of `objects` (object 1 is objects[0]): the header, the objects, the cross-reference
    table of their offsets and the trailer naming the catalog (`root`) and the document info (`info`)."""
    out = io.BytesIO()
    out.write(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, root)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _grid_columns(lines: Sequence[str]) -> dict[int, list[int]]:
    """Line number -> the x of each cell, for every run of consecutive table lines (Helvetica 11 pt is
    at most ~6.5 points a character; a 14-point gap between columns)."""
    columns: dict[int, list[int]] = {}
    run: list[int] = []
    for number, line in enumerate([*lines, ""]):
        if " | " in line:
            run.append(number)
            continue
        if run:
            widths: dict[int, int] = {}
            for n in run:
                for column, cell in enumerate(lines[n].split(" | ")):
                    widths[column] = max(widths.get(column, 0), len(cell.strip()))
            xs = [56]
            for column in range(len(widths) - 1):
                xs.append(xs[-1] + int(widths[column] * 6.5) + 14)
            columns.update(dict.fromkeys(run, xs))
            run = []
    return columns


def image_only_pdf() -> bytes:
    """A one-page PDF with an image and no text: what a scanner produces."""
    pixels = zlib.compress(bytes(range(256)) * 64)  # 128 x 128 grey
    image = b"<< /Type /XObject /Subtype /Image /Width 128 /Height 128 /ColorSpace /DeviceGray "
    image += b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % len(pixels)
    image += pixels + b"\nendstream"
    content = b"q 400 0 0 400 100 300 cm /Im1 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        image,
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    return _pdf_file(b"%PDF-1.4\n", objects, root=1)


def encrypted_pdf(text: str, password: str = "s3cret") -> bytes:
    """A text PDF that needs a password to open (AES-128; needs the cryptography package)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(text))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- DOCX and XLSX ---------------------------------------------------------------------------------


def _fixed_zip(data: bytes) -> bytes:
    """The same package with every entry's timestamp (and the "modified" property, which openpyxl sets
    when saving) fixed, so the bytes are reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                stamp = FIXED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, content)
            dst.writestr(entry, content)
    return out.getvalue()


Block = str | Sequence[Sequence[str]]  # a paragraph, or a table as rows of cells


def docx_bytes(blocks: Sequence[Block], title: str = "") -> bytes:
    """A DOCX with paragraphs (str; a leading "# " makes a heading) and tables (lists of rows)."""
    from docx import Document

    document = Document()
    document.core_properties.created = FIXED.replace(tzinfo=None)
    document.core_properties.modified = FIXED.replace(tzinfo=None)
    document.core_properties.title = title
    document.core_properties.author = "ew sample documents"
    for block in blocks:
        if isinstance(block, str):
            if block.startswith("# "):
                document.add_heading(block[2:], level=1)
            else:
                document.add_paragraph(block)
            continue
        rows = [list(row) for row in block]
        table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return _fixed_zip(out.getvalue())


Cell = str | int | float | date | None


def xlsx_bytes(sheets: Mapping[str, Sequence[Sequence[Cell]]]) -> bytes:
    """An XLSX with one sheet per entry; dates are stored as real date cells."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.properties.created = FIXED.replace(tzinfo=None)
    workbook.properties.modified = FIXED.replace(tzinfo=None)
    workbook.properties.creator = "ew sample documents"
    first = True
    for title, rows in sheets.items():
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        sheet.title = title
        first = False
        for row in rows:
            sheet.append(list(row))
        for row_cells in sheet.iter_rows():
            for cell in row_cells:
                if isinstance(cell.value, date):
                    cell.number_format = "DD/MM/YYYY"
    out = io.BytesIO()
    workbook.save(out)
    return _fixed_zip(out.getvalue())


# -- mail ------------------------------------------------------------------------------------------

_TYPES = {
    ".pdf": ("application", "pdf"),
    ".docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".txt": ("text", "plain"),
}


def eml_bytes(
    *,
    sender: str,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    attachments: Sequence[tuple[str, bytes]] = (),
    to: str = "expires@acme.example",
    headers: dict[str, str] | None = None,
    message_id: str = "<sample-0001@acme.example>",
    sent: datetime = FIXED,
) -> bytes:
    """A mail as SES would store it: extra `headers` (e.g. X-SES-Spam-Verdict) go on top."""
    message = EmailMessage()
    for name, value in (headers or {}).items():
        message[name] = value
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = message_id
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for filename, data in attachments:
        maintype, subtype = _TYPES.get(
            filename[filename.rfind(".") :].lower(), ("application", "octet-stream")
        )
        if maintype == "text":
            message.add_attachment(data.decode("utf-8"), subtype=subtype, filename=filename)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"==ew-sample-{number}==")
    return message.as_bytes(policy=SMTP)


# -- the example inbox -----------------------------------------------------------------------------

WASTE_AGREEMENT = """\
GREENBIN WASTE SERVICES LTD
Commercial Waste Collection Agreement

Agreement number: GB-2026-0417
Customer: Acme Trading Ltd, 14 Harbour Street
Supplier: GreenBin Waste Services Ltd

1. Term. This Agreement commences on 1 February 2026 and continues for an initial term of
twelve (12) months. The initial term ends on 31 January 2027.
2. Renewal. Thereafter the Agreement renews automatically for successive periods of 12 months
unless either party gives written notice of non-renewal no later than 2 January 2027.
3. Service. Two 1,100 litre general waste bins, collected weekly on Tuesdays.
4. Charges. GBP 86.00 per month, invoiced monthly in arrears.

Signed for the Customer on 20 January 2026 by Dana Whitfield, Office Manager.
Signed for the Supplier on 21 January 2026 by Priya Natarajan, Account Manager.
"""

LIFT_CERTIFICATE = [
    "# Certificate of Thorough Examination",
    "Lifting Operations and Lifting Equipment Regulations 1998 (LOLER)",
    [
        ["Premises", "Acme Trading Ltd, 14 Harbour Street"],
        ["Equipment", "Passenger lift, 630 kg, 8 persons (serial KL-88120)"],
        ["Date of examination", "14 January 2026"],
        ["Date of next thorough examination", "14 July 2026"],
        ["Examining body", "Kestrel Lift Inspections Ltd"],
    ],
    "No defects requiring immediate action were found. This certificate is issued on 15 January 2026.",
]

FLEET_SCHEDULE: dict[str, list[list[Cell]]] = {
    "Schedule": [
        ["Motor Fleet Insurance - Policy Schedule"],
        [],
        ["Policy number", "MF-554120"],
        ["Insured", "Acme Trading Ltd"],
        ["Insurer", "Harbour Mutual Insurance plc"],
        ["Period of insurance from", date(2026, 2, 1)],
        ["Period of insurance to", date(2027, 1, 31)],
        ["Annual premium (GBP)", 2840],
        [],
        ["Vehicle", "Registration", "Cover"],
        ["Ford Transit Custom", "VN21 KXZ", "Comprehensive"],
        ["Vauxhall Vivaro", "WP70 LMA", "Comprehensive"],
    ]
}

DOMAIN_NOTICE = """\
Subject: Renewal reminder: acme-trading.example expires on March 14, 2027

Hello Acme Trading Ltd,

Your domain registration for acme-trading.example is due for renewal.

Domain name: acme-trading.example
Registered on: March 14, 2022
Expiration date: March 14, 2027
Auto-renew: off

To keep your website and email working, renew before the expiration date. You can renew for
1 year or longer in your registrar dashboard.

Example Registrar Inc.
"""


def example_inbox() -> dict[str, bytes]:
    """The example inbox: file name -> bytes."""
    pdf = text_pdf(WASTE_AGREEMENT, title="Commercial Waste Collection Agreement")
    mail = eml_bytes(
        sender="Dana Whitfield <dana@acme.example>",
        subject="Fwd: Signed waste collection agreement",
        text=(
            "Hi, the signed waste collection agreement is attached. Can we add it to the register?\n\n"
            "Dana\n\n"
            "---------- Forwarded message ---------\n"
            "From: Priya Natarajan <priya@greenbin.example>\n"
            "Subject: Your signed agreement GB-2026-0417\n\n"
            "Please find your countersigned agreement attached.\n"
        ),
        attachments=[("waste-collection-agreement.pdf", pdf)],
        headers={"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"},
        message_id="<waste-agreement-0417@acme.example>",
    )
    return {
        "waste-collection-agreement.eml": mail,
        "lift-examination-certificate.docx": docx_bytes(
            LIFT_CERTIFICATE, "Certificate of Thorough Examination"
        ),
        "fleet-insurance-schedule.xlsx": xlsx_bytes(FLEET_SCHEDULE),
        "domain-renewal-notice.txt": DOMAIN_NOTICE.encode("utf-8"),
    }


def write_inbox(folder: Path = INBOX) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in example_inbox().items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_inbox(Path(sys.argv[1]) if len(sys.argv) > 1 else INBOX):
        print(path)
