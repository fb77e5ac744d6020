"""Tables in a PDF page, found from where its text sits.

A PDF has no table structure: a schedule's grid is text placed at positions. pypdf's plain extraction
joins what shares a baseline with single spaces, so a header row and the row under it come out as

    Policy number Start date Expiry date Premium
    HM-554120 1 April 2026 31 March 2027 GBP 1,200

and nothing says which date sits under "Expiry date". pypdf's layout mode keeps the cells apart
with runs of spaces; `tabled` turns a header line of short labels, and the lines under it with as
many cells, into rows with cells joined by " | " (as DOCX, XLSX and HTML tables are written), so a
reader can take a date's column heading as its label. A page without such a grid gets None: its
plain extraction stands.

Cells are matched to headings by their order, not their column: layout mode draws every character
one column wide whatever its real width, so a row's cells drift from under their headings by as much
as the text before them is wider or narrower than average.
"""

from __future__ import annotations

import re

CELL = " | "
_CELLS = re.compile(r"\S+(?: \S+)*")  # text between runs of two or more spaces
_LONGEST_HEADING = 40  # a table's header cells are labels, not prose
_GAP = 2  # blank lines allowed between two rows of one table


def tabled(layout: str) -> str | None:
    """The page's text with each table row's cells joined by " | " and every other line's spacing
    made single, blank lines dropped; None when no two lines of the page form a table."""
    lines = layout.splitlines()
    # a "|" the page draws between cells is a rule, not a cell
    cells = [[cell for cell in _CELLS.findall(line) if cell.strip("|")] for line in lines]
    rows = _table_rows(cells)
    if not rows:
        return None
    out = []
    for number, line in enumerate(cells):
        if number in rows:
            out.append(CELL.join(line))
        elif line:
            out.append(" ".join(line))
    return "\n".join(out)


def _table_rows(cells: list[list[str]]) -> set[int]:
    """The numbers of the lines that are rows of a table: a header line of short cells and at least one
    line below it (a few blank lines apart at most) with as many cells."""
    rows: set[int] = set()
    number = 0
    while number < len(cells):
        head = cells[number]
        members = [number]
        if len(head) >= 2 and all(len(cell) <= _LONGEST_HEADING for cell in head):
            below, blank = number + 1, 0
            while below < len(cells) and blank <= _GAP:
                if not cells[below]:
                    blank += 1
                elif len(cells[below]) == len(head):
                    members.append(below)
                    blank = 0
                else:
                    break
                below += 1
        if len(members) >= 2:
            rows.update(members)
            number = members[-1] + 1
        else:
            number += 1
    return rows
