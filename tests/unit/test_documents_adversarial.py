"""Held-out documents a small business forwards, read through the same code as intake-parser: a filled-in
PDF form (an insurance certificate) whose dates are only in its form fields or a comment box."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import FreeText
from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

from ew.extraction import draft_from
from ew_local.sample_documents import text_pdf

CERTIFICATE = "Certificate of liability insurance\nInsured: Acme Ltd\nPolicy number: HM-554120\n"


def blank_page() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def filled_form(fields: dict[str, tuple[str, str]], page: bytes = b"") -> bytes:
    """The certificate (or `page`) with a text field per entry: field name → (tooltip, value), as a form
    filled in a PDF viewer stores it (the value in the field, not in the page's text)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(page or text_pdf(CERTIFICATE))))
    refs = ArrayObject()
    for number, (name, (tooltip, value)) in enumerate(fields.items()):
        field = DictionaryObject({
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject(name),
            NameObject("/V"): TextStringObject(value),
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/Rect"): ArrayObject(map(FloatObject, (150, 600 - 30 * number, 300, 620 - 30 * number))),
        })  # fmt: skip
        if tooltip:
            field[NameObject("/TU")] = TextStringObject(tooltip)
        refs.append(writer._add_object(field))
    writer.pages[0][NameObject("/Annots")] = refs
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject({NameObject("/Fields"): refs})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fields", "expiry"),
    [
        ({"ExpiryDate": ("", "1 March 2027")}, "2027-03-01"),
        # ACORD-style names, the label in the tooltip; the start date in a field of its own
        (
            {
                "Policy_EffectiveDate_A": ("Policy effective date", "1 March 2026"),
                "Policy_ExpirationDate_A": ("Policy expiration date", "1 March 2027"),
            },
            "2027-03-01",
        ),
        ({"form1[0].Page1[0].PolicyExpiry[0]": ("", "28 February 2027")}, "2027-02-28"),
    ],
)
def test_a_filled_in_pdf_form_gives_the_date_in_its_fields(
    fields: dict[str, tuple[str, str]], expiry: str
) -> None:
    draft = draft_from("certificate.pdf", filled_form(fields), sender="ana@acme.example")
    assert draft.fields["expiry_date"] == expiry
    assert expiry[:4] in draft.evidence and draft.problems == ()


def test_a_form_with_only_its_fields_filled_is_not_taken_for_a_scan() -> None:
    form = filled_form({"Item": ("", "Street trading permit"), "Expiry": ("", "1 March 2027")}, blank_page())
    draft = draft_from("form.pdf", form, sender="ana@acme.example")
    assert draft.fields["expiry_date"] == "2027-03-01"
    assert not any("OCR" in problem for problem in draft.problems)


def test_a_date_written_in_a_comment_box_on_the_pdf_is_read() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(CERTIFICATE))))
    writer.add_annotation(0, FreeText(text="Renewal due: 1 March 2027", rect=(50, 500, 250, 530)))
    data = io.BytesIO()
    writer.write(data)
    draft = draft_from("certificate.pdf", data.getvalue(), sender="ana@acme.example")
    assert draft.fields["expiry_date"] == "2027-03-01"
