"""opskit.documents: text out of untrusted mail and attachments, and a plain-words problem instead of a
crash for everything it cannot read."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date, datetime

import pytest

from ew_local.sample_documents import (
    docx_bytes,
    eml_bytes,
    encrypted_pdf,
    image_only_pdf,
    text_pdf,
    xlsx_bytes,
)
from opskit.documents import (
    DOCX,
    IMAGE,
    PDF,
    XLSX,
    Limits,
    check_package,
    decode_text,
    detect_kind,
    html_to_text,
    read_document,
    read_mail,
)

CONTRACT = "Cleaning services agreement\nThe initial term ends on 31 January 2027.\n"


# -- PDF -------------------------------------------------------------------------------------------


def test_a_pdf_with_a_text_layer_is_read() -> None:
    doc = read_document("contract.pdf", text_pdf(CONTRACT))
    assert doc.kind == PDF
    assert doc.problem == ""
    assert "The initial term ends on 31 January 2027." in doc.text
    assert doc.readable


def test_a_long_pdf_is_read_page_by_page_up_to_the_page_limit() -> None:
    text = "\n".join(f"Clause {n}. Nothing about dates here." for n in range(300))
    doc = read_document("long.pdf", text_pdf(text), limits=Limits(pdf_pages=3))
    assert "Clause 0." in doc.text and "Clause 143." in doc.text and "Clause 144." not in doc.text
    assert doc.notes == ("only the first 3 of 7 pages were read",)


def test_a_scanned_pdf_is_marked_as_needing_ocr() -> None:
    doc = read_document("scan.pdf", image_only_pdf())
    assert doc.needs_ocr
    assert doc.problem == (
        "could not read scan.pdf: the PDF has no text layer (it looks scanned); reading it needs OCR"
    )
    assert doc.data  # kept for Textract


def test_an_encrypted_pdf_is_refused_in_plain_words() -> None:
    doc = read_document("contract.pdf", encrypted_pdf(CONTRACT))
    assert doc.problem == "could not read contract.pdf: the PDF is encrypted (password-protected)"
    assert doc.text == "" and not doc.needs_ocr


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(CONTRACT))))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    doc = read_document("restricted.pdf", out.getvalue())
    assert doc.problem == ""
    assert "31 January 2027" in doc.text


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_a_truncated_pdf_never_raises_and_says_so(keep: float) -> None:
    pdf = text_pdf(CONTRACT * 20, compress=False)
    doc = read_document("cut.pdf", pdf[: int(len(pdf) * keep)])
    if doc.problem:
        assert doc.problem == "could not read cut.pdf: the PDF is incomplete (cut off before its end)"
    else:  # pypdf recovered the pages it could: the note says the file was cut
        assert "the PDF is incomplete (cut off before its end); what could be read is used" in doc.notes


def test_a_file_called_pdf_that_is_not_one() -> None:
    doc = read_document("contract.pdf", b"<html>not a pdf</html>")
    assert doc.problem == "could not read contract.pdf: it is not a PDF file (or it is damaged)"


# -- DOCX ------------------------------------------------------------------------------------------


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    data = docx_bytes(
        [
            "# Certificate of Thorough Examination",
            "Premises: 14 Harbour Street",
            [
                ["Date of examination", "14 January 2026"],
                ["Date of next thorough examination", "14 July 2026"],
            ],
            "Issued on 15 January 2026.",
        ]
    )
    doc = read_document("lift.docx", data)
    assert doc.kind == DOCX and doc.problem == ""
    assert doc.text.splitlines() == [
        "Certificate of Thorough Examination",
        "Premises: 14 Harbour Street",
        "Date of examination | 14 January 2026",
        "Date of next thorough examination | 14 July 2026",
        "Issued on 15 January 2026.",
    ]


def _with_entry(package: bytes, name: str, size: int) -> bytes:
    """The package plus one entry of `size` zero bytes, written in chunks (never all in memory)."""
    out = io.BytesIO(package)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z, z.open(name, "w", force_zip64=True) as entry:
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            entry.write(chunk)
    return out.getvalue()


def test_a_zip_bomb_docx_is_refused_before_it_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _with_entry(docx_bytes(["Expires on 1 March 2027."]), "word/media/image1.png", 64 * 1024 * 1024)
    assert len(bomb) < 200_000  # 64 MB of zeros deflate to about 64 KB

    import docx

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("python-docx must not open a refused package")

    monkeypatch.setattr(docx, "Document", never)
    doc = read_document("contract.docx", bomb)
    assert doc.problem.startswith("could not read contract.docx: a part of the DOCX file is compressed ")
    assert doc.problem.endswith(" to 1 (more than 100 to 1): it looks like a zip bomb")


def test_zip_guards_total_size_and_entry_count() -> None:
    data = docx_bytes(["Expires on 1 March 2027."])
    assert check_package(data) == ""
    total = check_package(data, Limits(zip_bytes=10_000), "DOCX file")
    assert total.startswith("the DOCX file would unpack to ") and total.endswith(
        "(more than 10 KB): it looks like a zip bomb"
    )
    assert check_package(data, Limits(zip_entries=3), "DOCX file").startswith("the DOCX file holds ")
    big_text = read_document("long.docx", data, limits=Limits(xml_part_bytes=1000))
    assert big_text.problem.startswith("could not read long.docx: its text would unpack to ")
    assert big_text.problem.endswith(" KB (more than 1 KB), too much to read safely")
    sheet = xlsx_bytes({"S": [[f"row {n}"] for n in range(2000)]})  # the sheet is streamed, not parsed whole
    assert read_document("s.xlsx", sheet, limits=Limits(xml_part_bytes=30_000)).problem == ""
    assert (
        "zip bomb"
        in read_document("x.xlsx", xlsx_bytes({"S": [["a"]]}), limits=Limits(zip_entries=3)).problem
    )


def test_corrupt_and_protected_office_files() -> None:
    data = docx_bytes(["Expires on 1 March 2027."])
    assert read_document("cut.docx", data[: len(data) // 2]).problem == (
        "could not read cut.docx: it is not a valid DOCX file (damaged or incomplete)"
    )
    protected = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    assert read_document("secret.xlsx", protected).problem == (
        "could not read secret.xlsx: the XLSX file is password-protected (or in the old Office format)"
    )
    not_word = io.BytesIO()
    with zipfile.ZipFile(not_word, "w") as z:
        z.writestr("hello.txt", "hi")
    assert read_document("fake.docx", not_word.getvalue()).problem.startswith(
        "could not read fake.docx: the DOCX file is damaged or not a Word document ("
    )


# -- XLSX ------------------------------------------------------------------------------------------


def test_xlsx_values_dates_and_sheets() -> None:
    data = xlsx_bytes(
        {
            "Schedule": [
                ["Policy number", "MF-554120"],
                ["Period of insurance to", date(2027, 1, 31)],
                ["Issued", datetime(2026, 1, 20, 14, 30)],
                ["Premium", 2840.0, None, None],
            ],
            "Vehicles": [["Ford Transit", "VN21 KXZ"]],
        }
    )
    doc = read_document("schedule.xlsx", data)
    assert doc.kind == XLSX and doc.problem == ""
    assert doc.text.splitlines() == [
        "Sheet: Schedule",
        "Policy number | MF-554120",
        "Period of insurance to | 2027-01-31",
        "Issued | 2026-01-20 14:30",
        "Premium | 2840",
        "Sheet: Vehicles",
        "Ford Transit | VN21 KXZ",
    ]


def test_xlsx_cell_limit_reads_part_and_says_so() -> None:
    rows = [[f"row {n}", n] for n in range(1000)]
    doc = read_document("big.xlsx", xlsx_bytes({"S": rows}), limits=Limits(sheet_cells=100))
    assert "row 10 | 10" in doc.text and "row 999" not in doc.text
    assert doc.notes == ("only part of the workbook was read (too many cells)",)


def _xlsx_with_sheet_xml(rows: int, dimension: bool) -> bytes:
    cells = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>row {n}</t></is></c></row>' for n in range(1, rows)
    )
    record = f'<dimension ref="A1:A{rows - 1}"/>' if dimension else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        f'2006/main">{record}<sheetData>{cells}</sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes({"S": [["x"]]}))) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, xml if info.filename == "xl/worksheets/sheet1.xml" else src.read(info))
    return out.getvalue()


def test_a_large_sheet_without_a_size_record_is_refused() -> None:
    doc = read_document("export.xlsx", _xlsx_with_sheet_xml(40_000, dimension=False))
    assert doc.problem == (
        "could not read export.xlsx: a large sheet in the XLSX file has no size record (it was not saved by "
        "Excel, LibreOffice or Google Sheets); open it and save it again as .xlsx"
    )
    doc = read_document(
        "export.xlsx", _xlsx_with_sheet_xml(40_000, dimension=True), limits=Limits(text_chars=1000)
    )
    assert doc.problem == "" and doc.text.startswith("Sheet: S\nrow 1\nrow 2\n")


# -- text, HTML, kinds -------------------------------------------------------------------------------


def test_text_encodings_and_binary_files() -> None:
    assert decode_text("Expiry: 1 März 2027".encode()) == "Expiry: 1 März 2027"
    assert decode_text("café".encode("cp1252")) == "café"
    assert decode_text("Hello".encode("utf-16")) == "Hello"
    assert read_document("notes.txt", "Expires 1 March 2027".encode("utf-16")).text == "Expires 1 March 2027"
    assert read_document("data.txt", b"\x00\x01\x02binary").problem == (
        "could not read data.txt: it looks like a binary file, not text"
    )


def test_extracted_text_is_cut_at_the_limit_with_a_note() -> None:
    doc = read_document("long.txt", b"x" * 5000, limits=Limits(text_chars=1000))
    assert len(doc.text) == 1000
    assert doc.notes == ("the text of long.txt was cut at 1,000 characters (it has 5,000)",)


def test_unknown_and_old_formats_say_what_is_read() -> None:
    assert read_document("photo.heic", b"....").problem == (
        "could not read photo.heic: .heic files are not read; only PDF, DOCX, XLSX, text and HTML files are read"
    )
    assert read_document("contract.doc", b"\xd0\xcf\x11\xe0 old").problem == (
        "could not read contract.doc: the old Word .doc format is not read; save it as .docx or PDF and send it again"
    )
    image = read_document("licence.jpg", b"\xff\xd8\xff\xe0 jpeg")
    assert image.kind == IMAGE and image.needs_ocr
    assert image.problem == "could not read licence.jpg: it is an image; reading its text needs OCR"


def test_kind_comes_from_the_bytes_before_the_name() -> None:
    assert detect_kind("attachment", "application/octet-stream", text_pdf("x")) == PDF
    assert detect_kind("scan.bin", "", docx_bytes(["x"])) == DOCX
    assert detect_kind("sheet", "", xlsx_bytes({"S": [["x"]]})) == XLSX
    assert read_document("noname", text_pdf(CONTRACT), "application/octet-stream").kind == PDF


def test_html_to_text() -> None:
    html = (
        "<html><head><title>Renewal</title><style>p {color: red}</style></head><body>"
        "<script>alert('x')</script><h1>Your&nbsp;policy</h1><p>Expires on <b>1 March 2027</b>.<br>Thanks</p>"
        "<table><tr><th>Item</th><th>Expiry</th></tr><tr><td>Fleet</td><td>2027-01-31</td></tr></table>"
    )
    assert html_to_text(html).splitlines() == [
        "Your policy",
        "",
        "Expires on 1 March 2027.",
        "Thanks",
        "",
        "Item | Expiry",
        "Fleet | 2027-01-31",
    ]
    assert html_to_text("<p>unclosed <div><<<>>> & stuff") == "unclosed\n<<<>>> & stuff"


# -- mail ------------------------------------------------------------------------------------------

SENDER = "Dana Whitfield <dana@acme.example>"


def test_a_mail_with_a_pdf_attachment() -> None:
    raw = eml_bytes(
        sender=SENDER,
        subject="Fwd: Signed contract",
        text="See attached.",
        attachments=[("contract.pdf", text_pdf(CONTRACT))],
        headers={"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"},
        message_id="<abc-123@acme.example>",
    )
    mail = read_mail(raw)
    assert (mail.subject, mail.sender, mail.sender_name) == (
        "Fwd: Signed contract",
        "dana@acme.example",
        "Dana Whitfield",
    )
    assert mail.message_id == "<abc-123@acme.example>"
    assert mail.date is not None and mail.date.year == 2026
    assert (mail.spam_verdict, mail.virus_verdict, mail.refused) == ("PASS", "PASS", "")
    assert mail.body is not None and mail.body.text == "See attached."
    [pdf] = mail.attachments
    assert pdf.name == "contract.pdf" and "31 January 2027" in pdf.text
    assert pdf.data  # the bytes, for the source-files bucket


def test_plain_and_html_bodies() -> None:
    both = read_mail(
        eml_bytes(sender=SENDER, subject="s", text="Plain: expires 1 March 2027", html="<p>HTML</p>")
    )
    assert both.body is not None and both.body.text == "Plain: expires 1 March 2027"
    html_only = read_mail(
        eml_bytes(sender=SENDER, subject="s", html="<p>Your cover ends on <b>1&nbsp;March 2027</b></p>")
    )
    assert html_only.body is not None and html_only.body.text == "Your cover ends on 1 March 2027"
    empty_plain = read_mail(eml_bytes(sender=SENDER, subject="s", text="  \n", html="<p>From the HTML</p>"))
    assert empty_plain.body is not None and empty_plain.body.text == "From the HTML"


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        (
            {"X-SES-Spam-Verdict": "FAIL", "X-SES-Virus-Verdict": "PASS"},
            "the mail was not read: the mail server marked it as spam",
        ),
        (
            {"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "FAIL"},
            "the mail was not read: the mail server found a virus in it",
        ),
    ],
)
def test_spam_and_virus_fail_are_refused_unread(headers: dict[str, str], refused: str) -> None:
    raw = eml_bytes(sender=SENDER, subject="Win", text="Expires 1 March 2027", headers=headers,
                    attachments=[("x.pdf", text_pdf(CONTRACT))])  # fmt: skip
    mail = read_mail(raw)
    assert mail.refused == refused
    assert mail.problems == (refused,)
    assert mail.body is None and mail.attachments == ()
    assert mail.subject == "Win"  # the headers are kept, for the record


def test_a_forged_verdict_below_sess_own_does_not_hide_a_fail() -> None:
    raw = eml_bytes(sender=SENDER, subject="s", text="t", headers={"X-SES-Virus-Verdict": "FAIL"})
    raw = raw.replace(b"From:", b"X-SES-Virus-Verdict: PASS\r\nFrom:", 1)
    assert read_mail(raw).virus_verdict == "FAIL"


def test_a_mail_over_the_size_limit_is_not_parsed() -> None:
    raw = eml_bytes(sender=SENDER, subject="Big one", text="x" * 5000)
    mail = read_mail(raw, Limits(mail_bytes=2048))
    assert mail.subject == "Big one" and mail.sender == "dana@acme.example"
    assert mail.body is None
    assert mail.problems == ("the mail is 5 KB, larger than the 2 KB limit; it was not read",)


def test_only_the_first_attachments_are_read() -> None:
    files = [(f"doc{n}.txt", f"document {n}".encode()) for n in range(5)]
    mail = read_mail(
        eml_bytes(sender=SENDER, subject="s", text="t", attachments=files), Limits(attachments=3)
    )
    assert [a.name for a in mail.attachments] == ["doc0.txt", "doc1.txt", "doc2.txt"]
    assert mail.problems == (
        "the mail has 5 attachments; only the first 3 were read (not read: doc3.txt, doc4.txt)",
    )


def test_text_budget_is_shared_by_the_whole_mail() -> None:
    files = [("a.txt", b"a" * 800), ("b.txt", b"b" * 800), ("c.txt", b"c" * 800)]
    raw = eml_bytes(sender=SENDER, subject="s", text="body", attachments=files)
    mail = read_mail(raw, Limits(text_chars=700, mail_text_chars=1000))
    assert [len(p.text) for p in mail.parts] == [4, 700, 296, 0]
    assert [p.notes for p in mail.attachments] == [
        ("the text of a.txt was cut at 700 characters (it has 800)",),
        ("the text of b.txt was cut at 296 characters (it has 800)",),
        ("c.txt: not read: the mail's other documents already gave 1,000 characters",),
    ]
    assert mail.attachments[2].data.rstrip() == b"c" * 800  # kept for archiving


def test_a_mail_forwarded_as_attachment_is_opened() -> None:
    inner = eml_bytes(sender="Broker <renewals@broker.example>", subject="Your renewal", text="Cover ends 1 March 2027",
                      attachments=[("schedule.pdf", text_pdf(CONTRACT))])  # fmt: skip
    from email import message_from_bytes, policy

    outer = eml_bytes(sender=SENDER, subject="Fwd: Your renewal", text="FYI")
    message = message_from_bytes(outer, policy=policy.default)
    message.add_attachment(message_from_bytes(inner, policy=policy.default))
    mail = read_mail(message.as_bytes())
    assert mail.body is not None
    assert "FYI" in mail.body.text and "Subject: Your renewal" in mail.body.text
    assert "Cover ends 1 March 2027" in mail.body.text
    assert [a.name for a in mail.attachments] == ["schedule.pdf"]


def test_attachments_with_the_same_name_each_keep_their_own_name_and_text() -> None:
    # Scanners call every file "scan.pdf": whoever stores or links the parts by name must get both.
    files = [("scan.pdf", text_pdf("Policy A: cover ends 1 March 2027")),
             ("scan.pdf", text_pdf("Policy B: cover ends 2 April 2027"))]  # fmt: skip
    mail = read_mail(eml_bytes(sender=SENDER, subject="scans", text="both", attachments=files))
    assert [(a.name, a.text.strip()) for a in mail.attachments] == [
        ("scan.pdf", "Policy A: cover ends 1 March 2027"),
        ("scan (2).pdf", "Policy B: cover ends 2 April 2027"),
    ]
    assert [a.data for a in mail.attachments] == [data for _, data in files]


def test_repeated_names_are_numbered_whatever_their_case_or_extension() -> None:
    files = [("Scan.PDF", b"a"), ("scan.pdf", b"b"), ("scan (2).pdf", b"c"), ("notes", b"d"), ("notes", b"e")]
    mail = read_mail(eml_bytes(sender=SENDER, subject="s", text="t", attachments=files))
    assert [a.name for a in mail.attachments] == [
        "Scan.PDF", "scan (2).pdf", "scan (2) (2).pdf", "notes", "notes (2)"
    ]  # fmt: skip


def test_a_forwarded_mail_s_attachment_named_like_the_outer_one_gets_its_own_name() -> None:
    from email import message_from_bytes, policy

    inner = eml_bytes(sender="Broker <renewals@broker.example>", subject="Your renewal", text="see scan",
                      attachments=[("scan.pdf", text_pdf("Inner policy ends 1 March 2027"))])  # fmt: skip
    outer = eml_bytes(sender=SENDER, subject="Fwd", text="FYI",
                      attachments=[("scan.pdf", text_pdf("Outer policy ends 2 April 2027"))])  # fmt: skip
    message = message_from_bytes(outer, policy=policy.default)
    message.add_attachment(message_from_bytes(inner, policy=policy.default))
    mail = read_mail(message.as_bytes())
    assert [(a.name, a.text.strip()) for a in mail.attachments] == [
        ("scan.pdf", "Outer policy ends 2 April 2027"),
        ("scan (2).pdf", "Inner policy ends 1 March 2027"),
    ]


def test_attachments_past_the_limit_are_named_as_they_would_be_read() -> None:
    files = [("scan.pdf", text_pdf("A")), ("scan.pdf", text_pdf("B")), ("scan.pdf", text_pdf("C"))]
    mail = read_mail(
        eml_bytes(sender=SENDER, subject="s", text="t", attachments=files), Limits(attachments=1)
    )
    assert [a.name for a in mail.attachments] == ["scan.pdf"]
    assert mail.problems == (
        "the mail has 3 attachments; only the first 1 were read (not read: scan (2).pdf, scan (3).pdf)",
    )


def test_inline_images_are_not_attachments() -> None:
    from email import message_from_bytes, policy

    message = message_from_bytes(
        eml_bytes(sender=SENDER, subject="s", text="t", html="<p>h</p>"), policy=policy.default
    )
    html_part = message.get_body(("html",))
    assert html_part is not None
    html_part.add_related(b"\x89PNG....", maintype="image", subtype="png", cid="<logo>")
    assert read_mail(message.as_bytes()).attachments == ()


def test_readers_never_raise_on_garbage() -> None:
    rng = random.Random(10)
    samples = [text_pdf(CONTRACT), docx_bytes(["Expires 1 March 2027"]), xlsx_bytes({"S": [["a", 1]]})]
    for _ in range(60):
        base = rng.choice(samples)
        data = bytearray(base)
        for _ in range(rng.randint(1, 40)):  # flip bytes in place
            data[rng.randrange(len(data))] = rng.randrange(256)
        for name in ("x.pdf", "x.docx", "x.xlsx", "x.txt", "x.bin"):
            doc = read_document(name, bytes(data))
            assert doc.problem == "" or doc.problem.startswith(f"could not read {name}: ")
        mail = read_mail(bytes(data))
        assert isinstance(mail.problems, tuple)
    assert read_mail(b"\x00\xff" * 100).attachments == ()
