"""Held-out forwarded documents, built here by code (no binaries committed): PDFs, DOCX, XLSX and mails
shaped the way they really arrive, read through the code intake-parser and `ew extract` run
(read_source → extract → to_draft, offline). Each must give the right proposal (the date written in
the document, the item or counterparty where the offline reader can find them) or a plain-words
"could not read"; never a crash, never a date the document does not hold (DESIGN.md §9)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from lxml import etree
from openpyxl import Workbook

from ew.extraction import Draft, extract, read_source, to_draft
from ew_local.cli import main
from ew_local.sample_documents import encrypted_pdf, image_only_pdf, text_pdf, xlsx_bytes
from opskit.date_mentions import dates_in

FORWARDER = "ana@acme.example"
SCHEDULE = (
    "Harbour Mutual Insurance plc\nSchedule of insurance\nInsurer: Harbour Mutual Insurance plc\n"
    "Period of insurance: 1 April 2026 to 31 March 2027\n"
)


def draft(name: str, data: bytes, date_order: str | None = None) -> Draft:
    """The proposal, after checking what every held-out document must satisfy: a proposed date is
    written in what was read and quoted as evidence; with no date, the problems say why in words."""
    source = read_source(name, data, sender=FORWARDER)
    result = to_draft(extract(source, date_order=date_order), source, FORWARDER)
    expiry = result.fields["expiry_date"]
    if expiry:
        assert date.fromisoformat(expiry) in dates_in(source.text, date_order)
        assert date.fromisoformat(expiry) in dates_in(result.evidence, date_order)
    else:
        assert result.problems and all(len(p.split()) >= 4 for p in result.problems), result.problems
    return result


def expiry(result: Draft) -> str:
    return result.fields["expiry_date"]


# -- PDF -------------------------------------------------------------------------------------------


def test_a_schedule_whose_dates_sit_in_a_grid_gives_the_date_under_expiry_not_the_start() -> None:
    # A PDF table is text placed at positions: only where a date sits says it is the expiry.
    pdf = text_pdf(
        "Harbour Mutual Insurance plc\nSchedule of insurance\n\n"
        "Policy number | Start date | Expiry date | Premium\nHM-554120 | 1 April 2026 | 31 March 2027 | GBP 1,200\n"
        "\nSigned on 2 March 2026.",
        grid=True,
    )
    result = draft("schedule.pdf", pdf)
    assert expiry(result) == "2027-03-31"
    assert result.evidence == "HM-554120 | 1 April 2026 | 31 March 2027 | GBP 1,200"
    assert (
        expiry(
            draft(
                "issued-first.pdf",
                text_pdf("Certificate\n\nIssued | Expires\n2026-01-15 | 2027-01-14", grid=True),
            )
        )
        == "2027-01-14"
    )


def test_a_long_pdf_with_the_expiry_on_a_late_page() -> None:
    clauses = "\n".join(
        f"{n}. The parties agree as set out in schedule {n}, signed 3 May 2025." for n in range(1, 140)
    )
    result = draft("agreement.pdf", text_pdf(clauses + "\nThis agreement expires on 30 September 2027.\n"))
    assert expiry(result) == "2027-09-30"
    assert result.evidence == "This agreement expires on 30 September 2027."


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(SCHEDULE))))
    writer.encrypt(user_password="", owner_password="no-printing", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert expiry(draft("restricted.pdf", out.getvalue())) == "2027-03-31"


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("locked.pdf", encrypted_pdf(SCHEDULE), "could not read locked.pdf: the PDF is encrypted (password-protected)"),
        ("scan.pdf", image_only_pdf(), "could not read scan.pdf: the PDF has no text layer (it looks scanned); reading it needs OCR"),
        ("cut.pdf", text_pdf(SCHEDULE)[:300], "could not read cut.pdf: the PDF is incomplete (cut off before its end)"),
        ("noise.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, "could not read noise.pdf: the PDF is incomplete (cut off before its end)"),
        ("empty.pdf", b"", "could not read empty.pdf: the file is empty"),
    ],
)  # fmt: skip
def test_pdfs_that_cannot_be_read_say_so(name: str, data: bytes, said: str) -> None:
    result = draft(name, data)
    assert expiry(result) == "" and said in result.problems


# -- DOCX ------------------------------------------------------------------------------------------


def _docx(build: Callable[[docx.document.Document], object]) -> bytes:
    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _run(parent: etree._Element, text: str, tag: str = "w:t") -> etree._Element:
    run = etree.SubElement(parent, qn("w:r"))
    etree.SubElement(run, qn(tag)).text = text
    return run


def _header_and_footer(d: docx.document.Document) -> None:
    d.sections[0].header.paragraphs[
        0
    ].text = "Kestrel Lift Inspections Ltd - certificate valid until 14 July 2027"
    d.sections[0].footer.paragraphs[0].text = "Issued 15 January 2026 - page 1 of 1"
    d.add_paragraph("Certificate of Thorough Examination")
    d.add_paragraph("Passenger lift KL-88120: no defects requiring immediate action.")


def _header_table(d: docx.document.Document) -> None:
    table = d.sections[0].header.add_table(1, 2, docx.shared.Inches(6))
    table.cell(0, 0).text, table.cell(0, 1).text = "Policy HM-1", "Expiry date: 31 March 2027"
    d.add_paragraph("Policy wording, general conditions.")


def _block_content_control(d: docx.document.Document) -> None:
    d.add_paragraph("Cleaning services agreement")
    sdt = etree.SubElement(d.element.body, qn("w:sdt"))
    paragraph = etree.SubElement(etree.SubElement(sdt, qn("w:sdtContent")), qn("w:p"))
    _run(paragraph, "This agreement expires on 30 November 2027.")
    d.element.body.remove(sdt)
    d.element.body.insert(1, sdt)


def _date_picker(d: docx.document.Document) -> None:
    paragraph = d.add_paragraph("The lease ends on ")._p
    _run(etree.SubElement(etree.SubElement(paragraph, qn("w:sdt")), qn("w:sdtContent")), "24 December 2028")
    _run(paragraph, ".")


def _text_box(d: docx.document.Document) -> None:
    d.add_paragraph("Street trading permit")
    run = etree.SubElement(d.add_paragraph()._p, qn("w:r"))
    box = etree.SubElement(etree.SubElement(run, qn("w:pict")), "{urn:schemas-microsoft-com:vml}textbox")
    _run(
        etree.SubElement(etree.SubElement(box, qn("w:txbxContent")), qn("w:p")),
        "Permit valid until 5 May 2027",
    )


def _tracked_changes(d: docx.document.Document) -> None:
    paragraph = d.add_paragraph("The policy expires on ")._p
    deleted = etree.SubElement(paragraph, qn("w:del"), {qn("w:id"): "1", qn("w:author"): "Broker"})
    _run(deleted, "1 August 2026", "w:delText")
    inserted = etree.SubElement(paragraph, qn("w:ins"), {qn("w:id"): "2", qn("w:author"): "Broker"})
    _run(inserted, "1 August 2027")


@pytest.mark.parametrize(
    ("build", "expected", "evidence"),
    [
        (_header_and_footer, "2027-07-14", "Kestrel Lift Inspections Ltd - certificate valid until 14 July 2027"),
        (_header_table, "2027-03-31", "Policy HM-1 | Expiry date: 31 March 2027"),
        (_block_content_control, "2027-11-30", "This agreement expires on 30 November 2027."),
        (_date_picker, "2028-12-24", "The lease ends on 24 December 2028."),
        (_text_box, "2027-05-05", "Permit valid until 5 May 2027"),
        (_tracked_changes, "2027-08-01", "The policy expires on 1 August 2027"),
    ],
)  # fmt: skip
def test_dates_a_word_template_keeps_outside_the_body_paragraphs(
    build: Callable[[docx.document.Document], None], expected: str, evidence: str
) -> None:
    result = draft("document.docx", _docx(build))
    assert (expiry(result), result.evidence) == (expected, evidence)


def test_a_deleted_date_is_not_the_documents_date() -> None:
    def only_deleted(d: docx.document.Document) -> None:
        paragraph = d.add_paragraph("The policy expires on ")._p
        _run(etree.SubElement(paragraph, qn("w:del"), {qn("w:id"): "1"}), "1 August 2026", "w:delText")

    assert expiry(draft("withdrawn.docx", _docx(only_deleted))) == ""


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("cut.docx", _docx(lambda d: d.add_paragraph("Expires 1 May 2027"))[:400], "could not read cut.docx: it is not a valid DOCX file (damaged or incomplete)"),
        ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000), "could not read locked.docx: the DOCX file is password-protected (or in the old Office format)"),
    ],
)  # fmt: skip
def test_docx_that_cannot_be_read_say_so(name: str, data: bytes, said: str) -> None:
    assert said in draft(name, data).problems


# -- XLSX ------------------------------------------------------------------------------------------


def _with_cached_results(data: bytes, results: dict[str, str]) -> bytes:
    """The workbook as Excel saves it: each formula cell keeps its last result (openpyxl writes none)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                for cell, value in results.items():
                    content = re.sub(
                        rb'(<c r="' + cell.encode() + rb'"[^>]*>\s*<f>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?',
                        rb"\1<v>" + value.encode() + rb"</v>",
                        content,
                    )
            dst.writestr(info, content)
    return out.getvalue()


def test_a_workbook_of_several_sheets_with_serial_dates_and_formulas() -> None:
    book = Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "Cover"
    cover.append(["Premises licence - renewal pack"])
    licence = book.create_sheet("Licence")
    licence.append(["Licence", "Premises licence PL-2231"])
    licence.append(["Licensing authority", "Harbour District Council"])
    licence.append(["Granted", date(2026, 6, 1)])
    licence.append(["Expiry date", "=B3+364"])  # Excel keeps the result: serial 46538, 31 May 2027
    for cell in ("B3", "B4"):
        licence[cell].number_format = "d mmmm yyyy"
    raw = io.BytesIO()
    book.save(raw)
    result = draft("licence.xlsx", _with_cached_results(raw.getvalue(), {"B4": "46538"}))
    assert (expiry(result), result.evidence) == ("2027-05-31", "Expiry date | 2027-05-31")
    assert result.counterparty == "Harbour District Council"


def test_a_serial_number_shown_as_a_number_is_not_taken_for_a_date() -> None:
    # A person reading the sheet sees 46537, not a date: proposing 31 May 2027 would be made up.
    result = draft("numbers.xlsx", xlsx_bytes({"Sheet1": [["Licence", "PL-2231"], ["Expires", 46537]]}))
    assert expiry(result) == "" and "no expiry date was found in the document" in result.problems


# -- mail ------------------------------------------------------------------------------------------


def _mail(subject: str | None, body: str = "", sender: str = FORWARDER) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, "expires@acme.example"
    if subject is not None:
        message["Subject"] = subject
    message.set_content(body)
    return message


def test_a_forward_of_a_forward_sent_base64_still_opens_to_its_pdf() -> None:
    # Python's own EmailMessage (and some mail apps) send an attached mail base64-encoded.
    broker = _mail("Your renewal documents", "Please find the schedule attached.", "broker@harbour.example")
    broker.add_attachment(text_pdf(SCHEDULE), maintype="application", subtype="pdf", filename="schedule.pdf")
    colleague = _mail("Fwd: Your renewal documents", "see below", "bob@acme.example")
    colleague.add_attachment(broker.as_bytes(), maintype="message", subtype="rfc822")
    assert b"Content-Transfer-Encoding: base64" in colleague.as_bytes()
    outer = _mail("Fwd: Fwd: Your renewal documents", "for the register")
    outer.add_attachment(BytesParser(policy=policy.default).parsebytes(colleague.as_bytes()))
    result = draft("forward.eml", outer.as_bytes())
    assert expiry(result) == "2027-03-31"
    assert result.evidence == "Period of insurance: 1 April 2026 to 31 March 2027"
    assert result.counterparty == "Harbour Mutual Insurance plc"
    assert result.source.startswith("schedule.pdf in an email from ana@acme.example")


def test_windows_1252_mail_that_declares_no_charset_reads_as_written() -> None:
    raw = (
        b"From: jose@acme.example\r\nTo: expires@acme.example\r\nSubject: Caf\xe9 licence \x96 renewal\r\n"
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Our caf\xe9 licence \x96 valid until 30 June 2027.\r\n"
    )
    result = draft("cafe.eml", raw)
    assert result.fields["item"] == "Caf\u00e9 licence \u2013 renewal"
    assert result.evidence == "Our caf\u00e9 licence \u2013 valid until 30 June 2027."


def test_a_japanese_mail_keeps_its_subject_as_the_item() -> None:
    message = _mail("\u5951\u7d04\u66f4\u65b0\u306e\u304a\u77e5\u3089\u305b")
    message.set_content(
        "\u5951\u7d04\u306e\u6709\u52b9\u671f\u9650\nExpiry date: 2027-03-31\n",
        charset="iso-2022-jp",
        cte="7bit",
    )
    result = draft("jp.eml", message.as_bytes())
    assert (expiry(result), result.fields["item"]) == (
        "2027-03-31",
        "\u5951\u7d04\u66f4\u65b0\u306e\u304a\u77e5\u3089\u305b",
    )
    assert not any(p.startswith("item:") for p in result.problems)


def test_an_html_only_mail_with_a_table_names_the_item_from_the_column_not_the_heading() -> None:
    message = _mail("Fwd: renewal notice")
    message.set_content(
        "<p>Dear customer,</p><table><tr><th>Domain</th><th>Expiry date</th></tr>"
        "<tr><td>acme-trading.example</td><td>14 Mar 2027</td></tr></table><p>Registrar: Example Registrar Inc.</p>",
        subtype="html",
    )
    result = draft("notice.eml", message.as_bytes())
    assert (expiry(result), result.fields["item"]) == ("2027-03-14", "acme-trading.example domain")
    assert result.counterparty == "Example Registrar Inc."


def test_attachments_with_odd_types_or_names_and_no_subject() -> None:
    message = _mail(None, "")
    message.add_attachment(
        text_pdf(SCHEDULE), maintype="application", subtype="octet-stream", filename="SCHEDULE"
    )
    message.add_attachment(
        b"BEGIN:VCALENDAR\nEND:VCALENDAR\n", maintype="text", subtype="calendar", filename="invite.ics"
    )
    result = draft("odd.eml", message.as_bytes())
    assert expiry(result) == "2027-03-31"
    assert (
        "could not read invite.ics: .ics files are not read; only PDF, DOCX, XLSX, text and HTML files are read"
        in result.problems
    )


def test_a_multipart_mail_without_its_boundaries_is_read_as_text() -> None:
    raw = (
        b'From: ana@acme.example\r\nSubject: permit\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
        b"The street trading permit expires on 1 May 2027.\r\n"
    )
    result = draft("broken.eml", raw)
    assert (expiry(result), result.evidence) == (
        "2027-05-01",
        "The street trading permit expires on 1 May 2027.",
    )


def test_huge_headers_and_a_very_long_subject() -> None:
    received = "".join(
        f"Received: from relay{i}.example by mx.example; Mon, 5 Jan 2026 09:00:00 +0000\r\n"
        for i in range(3000)
    )
    raw = f"{received}From: ana@acme.example\r\nSubject: {'Insurance renewal ' * 300}\r\n\r\nThe insurance expires on 1 May 2027.\r\n"
    result = draft("long.eml", raw.encode())
    assert expiry(result) == "2027-05-01" and len(result.fields["item"]) <= 200


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("empty.eml", b"", "the mail has no text and no attachment to read"),
        ("blank.eml", b"From: ana@acme.example\r\nSubject: hello\r\n\r\n", "the mail has no text and no attachment to read"),
        ("empty.txt", b"", "could not read empty.txt: the file is empty"),
        ("spaces.txt", b" \r\n\t\r\n", "could not read spaces.txt: it has no text"),
    ],
)  # fmt: skip
def test_nothing_to_read_is_said_in_words(name: str, data: bytes, said: str) -> None:
    assert said in draft(name, data).problems


def test_ew_extract_says_why_an_empty_mail_proposes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blank.eml"
    path.write_bytes(b"From: ana@acme.example\r\nSubject: hello\r\n\r\n")
    assert main(["extract", str(path)]) == 2
    assert capsys.readouterr().out.endswith("Problems:\n  - the mail has no text and no attachment to read\n")


def test_random_bytes_under_any_name_never_crash_nor_propose() -> None:
    noise = bytes(range(256)) * 64
    for name in ("a.pdf", "a.docx", "a.xlsx", "a.eml", "a.txt", "a.bin", "a"):
        assert expiry(draft(name, noise)) == ""


def test_formulas_written_without_their_results_are_said_not_guessed() -> None:
    # A workbook written by a program keeps "=B1+364" but not its result: nothing to read, and the
    # proposal says why rather than "no expiry date" alone.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Granted", date(2026, 6, 1)])
    sheet.append(["Expiry date", "=B1+364"])
    raw = io.BytesIO()
    book.save(raw)
    result = draft("generated.xlsx", raw.getvalue())
    assert expiry(result) == ""
    assert (
        "formulas in generated.xlsx have no saved result (the file was not saved by a spreadsheet program), "
        "so their values could not be read; open it in Excel or LibreOffice and save it again"
    ) in result.problems
