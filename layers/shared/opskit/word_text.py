"""The text of a Word (DOCX) document in reading order, walked from its XML.

python-docx's paragraphs and tables see only what sits directly in the body. Contracts and
certificates made from templates keep dates elsewhere too: in the page header or footer ("Policy
HM-1 · expires 31 March 2027"), in content controls (a date picker is a `w:sdt`), in text boxes, in
tracked insertions not yet accepted. Those are read here; deleted text is not (it is no longer the
document's). A table row is one line, its cells joined by " | "; a table inside a cell gives its own
lines, before the row that holds it. Headers come first and footers last, each distinct one once.

    lines = document_lines(docx.Document(io.BytesIO(data)), limit=200_000)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
CELL = " | "

# Elements whose children are blocks (paragraphs, tables) or rows or cells as if they were not there.
_WRAPPERS = frozenset(W + name for name in ("sdtContent", "customXml", "ins", "moveTo", "smartTag"))
# Whose text is not the document's text: deletions, field instructions, a text box's duplicate for old
# Word versions (mc:Fallback), and the text box itself (read as lines of its own, after its paragraph).
_SKIPPED = frozenset(
    (W + "del", W + "moveFrom", W + "instrText", W + "delText", W + "txbxContent", MC + "Fallback")
)
_CHARACTERS = {W + "tab": "\t", W + "ptab": "\t", W + "br": "\n", W + "cr": "\n", W + "noBreakHyphen": "-"}
_HEADER = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header"
_FOOTER = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer"


def document_lines(document: Any, limit: int) -> list[str]:
    """The document's lines (headers, body, footers), stopping once they hold more than `limit`
    characters. `document` is a python-docx Document."""
    lines: list[str] = []
    size = 0
    for part in (*_parts(document, _HEADER), document.element.body, *_parts(document, _FOOTER)):
        for line in _dedupe(part, lines):
            lines.append(line)
            size += len(line) + 1
            if size > limit:
                return lines
    return lines


def _parts(document: Any, reltype: str) -> list[Any]:
    """The root elements of the document's headers or footers, in part-name order."""
    parts = {
        str(rel.target_part.partname): rel.target_part.element
        for rel in document.part.rels.values()
        if rel.reltype == reltype and not rel.is_external and hasattr(rel.target_part, "element")
    }
    return [parts[name] for name in sorted(parts)]


def _dedupe(part: Any, seen: list[str]) -> list[str]:
    """A header or footer repeated on every section (or on first and other pages) is read once."""
    lines = [line for line in blocks(part) if line.strip()]
    if part.tag != W + "body" and lines and _contains(seen, lines):
        return []
    return lines


def _contains(lines: list[str], block: list[str]) -> bool:
    width = len(block)
    return any(lines[i : i + width] == block for i in range(len(lines) - width + 1))


def blocks(container: Any) -> Iterator[str]:
    """The lines of the paragraphs and tables under `container` (a body, header, cell, text box...)."""
    for child in container:
        tag = child.tag
        if tag == W + "p":
            text, boxes = _paragraph(child)
            yield text
            for box in boxes:
                yield from blocks(box)
        elif tag == W + "tbl":
            yield from _table(child)
        elif tag == W + "sdt":
            yield from blocks(_content(child))
        elif tag in _WRAPPERS:
            yield from blocks(child)
        elif tag == MC + "AlternateContent":
            yield from blocks(_choice(child))


def _paragraph(paragraph: Any) -> tuple[str, list[Any]]:
    """The paragraph's text (runs, hyperlinks, inline content controls, fields' shown text, tracked
    insertions) and its text boxes."""
    texts: list[str] = []
    boxes: list[Any] = []

    def walk(element: Any) -> None:
        for child in element:
            tag = child.tag
            if tag == W + "t":
                texts.append(child.text or "")
            elif tag in _CHARACTERS:
                texts.append(_CHARACTERS[tag])
            elif tag == W + "txbxContent":
                boxes.append(child)
            elif tag not in _SKIPPED and isinstance(tag, str):
                walk(child)

    walk(paragraph)
    return " ".join("".join(texts).split()), boxes


def _table(table: Any) -> Iterator[str]:
    for row in _children(table, W + "tr"):
        cells: list[str] = []
        inner: list[str] = []
        for cell in _children(row, W + "tc"):
            words: list[str] = []
            for child in cell:
                if child.tag == W + "tbl":
                    inner += _table(child)
                else:
                    words += blocks([child])
            cells.append(" ".join(" ".join(words).split()))
        yield from inner
        if any(cells):
            yield CELL.join(cells)


def _children(element: Any, tag: str) -> Iterator[Any]:
    """`tag` children of `element`, also those wrapped in content controls or custom XML."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag == W + "sdt":
            yield from _children(_content(child), tag)
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)


def _content(sdt: Any) -> Any:
    content = sdt.find(W + "sdtContent")
    return content if content is not None else []


def _choice(alternate: Any) -> Any:
    choice = alternate.find(MC + "Choice")
    return choice if choice is not None else []
