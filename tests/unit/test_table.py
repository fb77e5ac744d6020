import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from opskit.problems import DocumentError
from opskit.table import Table, TableRow, normalise_column, read_table, write_csv


def _xlsx(rows, *, second_sheet=None):
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if second_sheet is not None:
        other = book.create_sheet("Other")
        for row in second_sheet:
            other.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _problems(data, filename, source=None):
    with pytest.raises(DocumentError) as info:
        read_table(data, filename, source)
    return [str(p) for p in info.value.problems]


def test_csv_rows_are_keyed_by_normalised_header_and_numbered_like_the_sheet():
    data = b"Item ID, Expiry  Date ,owner\nA1, 2026-03-01 ,U012ABCDEF\n,,\nA2,1 Mar 2026, bob@example.com \n"
    table = read_table(data, "registry.csv")
    assert table == Table(
        header=["Item ID", "Expiry  Date", "owner"],
        columns=["item_id", "expiry_date", "owner"],
        rows=[
            TableRow(2, {"item_id": "A1", "expiry_date": "2026-03-01", "owner": "U012ABCDEF"}),
            TableRow(4, {"item_id": "A2", "expiry_date": "1 Mar 2026", "owner": "bob@example.com"}),
        ],
    )


def test_header_texts_keep_their_case_and_tabs_become_underscores():
    assert normalise_column("  Expiry\tDate ") == "expiry_date"
    assert normalise_column("OWNER") == "owner"
    assert normalise_column("renewal\u00a0link") == "renewal_link"


@pytest.mark.parametrize(
    "written", ["ItemID", "Item ID", "item_id", " ITEM-ID ", "itemId", "Item_Id", "item\u00a0id"]
)
def test_every_way_of_writing_item_id_is_the_item_id_column(written):
    assert normalise_column(written) == "item_id"
    assert normalise_column(normalise_column(written)) == "item_id"  # a normalised name stays as it is


def test_two_headers_naming_one_column_are_refused():
    with pytest.raises(DocumentError) as refused:
        read_table(b"item_id,ItemID\nA1,A2\n", "r.csv")
    assert str(refused.value) == (
        'r.csv: header: columns A ("item_id") and B ("ItemID") have the same name; each column needs its own name'
    )


def test_csv_with_bom_and_short_rows():
    data = "\ufeffitem_id,notes\r\nA1\r\nA2,café\r\n".encode()
    table = read_table(data, "r.csv")
    assert table.columns == ["item_id", "notes"]
    assert [r.values for r in table.rows] == [
        {"item_id": "A1", "notes": ""},
        {"item_id": "A2", "notes": "café"},
    ]


def test_csv_in_cp1252_is_read():
    data = "item_id,notes\nA1,café - 5€ ½\n".encode("cp1252")
    assert read_table(data, "r.csv").rows[0].values["notes"] == "café - 5€ ½"


def test_csv_quoted_cell_spanning_lines_is_one_sheet_row():
    data = b'item_id,notes\nA1,"line one\nline two"\nA2,x\n'
    table = read_table(data, "r.csv")
    assert [(r.number, r.values["notes"]) for r in table.rows] == [(2, "line one\nline two"), (3, "x")]


def test_extension_is_case_insensitive():
    assert read_table(b"a\n1\n", "REGISTRY.CSV").rows[0].values == {"a": "1"}


def test_unknown_extension_is_a_document_error():
    assert _problems(b"a,b", "registry.ods") == [
        'registry.ods: file: "registry.ods" is not a .csv or .xlsx file; export the sheet as one of those'
    ]


def test_source_names_the_document_in_problems():
    assert _problems(b"", "x.csv", source="the registry sheet") == [
        "the registry sheet: file: the file is empty; the first row should hold the column names"
    ]


@pytest.mark.parametrize("data", [b"", b"\n\n", b" , ,\n,\n", "\ufeff".encode()])
def test_empty_csv(data):
    assert _problems(data, "r.csv") == [
        "r.csv: file: the file is empty; the first row should hold the column names"
    ]


def test_blank_first_row_means_no_header():
    assert _problems(b",,\nA1,x,y\n", "r.csv") == [
        "r.csv: row 1: row 1 is blank; it should hold the column names"
    ]


def test_header_only_gives_no_rows():
    table = read_table(b"item_id,owner\n", "r.csv")
    assert table.columns == ["item_id", "owner"]
    assert table.rows == []


DOUBLED = b"item_id,Expiry Date,owner,expiry_date,OWNER\n"
DOUBLED_PROBLEMS = [
    'r.csv: header: columns B ("Expiry Date") and D ("expiry_date") have the same name; '
    "each column needs its own name",
    'r.csv: header: columns C ("owner") and E ("OWNER") have the same name; each column needs its own name',
]


def test_duplicate_columns_name_both():
    assert _problems(DOUBLED, "r.csv") == DOUBLED_PROBLEMS


@pytest.mark.parametrize("used", [["item_id", "expiry_date", "owner"], ["Item ID", "Expiry Date", "OWNER"]])
def test_duplicate_columns_the_caller_uses_are_refused(used):
    """Which of two expiry dates is the real one cannot be guessed: refused, whatever else is tolerated
    (the names the caller gives are normalised like the header's)."""
    with pytest.raises(DocumentError) as refused:
        read_table(DOUBLED + b"A1,2026-03-01,U1,2027-03-01,U2\n", "r.csv", used=used)
    assert [str(p) for p in refused.value.problems] == DOUBLED_PROBLEMS


def test_duplicate_columns_the_caller_does_not_use_are_read_from_the_first_and_reported():
    data = b"item_id,Comments,owner,comments,Scratch,SCRATCH\nA1,first,U1,second,x,y\nA2,,U2,only here,,\n"
    table = read_table(data, "r.csv", used=["item_id", "owner"])
    assert table.header == ["item_id", "Comments", "owner", "Scratch"]
    assert table.columns == ["item_id", "comments", "owner", "scratch"]
    assert table.rows == [
        TableRow(2, {"item_id": "A1", "comments": "first", "owner": "U1", "scratch": "x"}),
        TableRow(3, {"item_id": "A2", "comments": "", "owner": "U2", "scratch": ""}),
    ]
    assert [str(p) for p in table.problems] == [
        'r.csv: header: columns B ("Comments") and D ("comments") have the same name; column B is read '
        "and column D is left out; each column needs its own name",
        'r.csv: header: columns E ("Scratch") and F ("SCRATCH") have the same name; column E is read '
        "and column F is left out; each column needs its own name",
    ]


def test_without_used_every_column_counts_and_a_doubled_one_is_refused():
    assert _problems(b"item_id,Comments,comments\nA1,a,b\n", "r.csv") == [
        'r.csv: header: columns B ("Comments") and C ("comments") have the same name; each column needs '
        "its own name"
    ]


def test_unnamed_empty_columns_are_dropped():
    table = read_table(b"item_id,,owner,\nA1,,U1,\n", "r.csv")
    assert table.header == ["item_id", "owner"]
    assert table.columns == ["item_id", "owner"]
    assert table.rows == [TableRow(2, {"item_id": "A1", "owner": "U1"})]


UNNAMED = b"item_id,,owner\nA1,,U1\nA2,oops,U2,more\nA3,,U3,again\n"


def test_values_under_no_column_name_are_refused_when_every_column_counts():
    assert _problems(UNNAMED, "r.csv") == [
        "r.csv: header: column B has values (the first in row 3) but no name in row 1; give it a "
        "name or clear it",
        "r.csv: header: column D has values (the first in row 3) but no name in row 1; give it a "
        "name or clear it",
    ]


def test_values_under_no_column_name_are_left_out_and_reported_when_the_caller_names_its_columns():
    table = read_table(UNNAMED, "r.csv", used=["item_id", "owner"])
    assert table.columns == ["item_id", "owner"]
    assert [r.values for r in table.rows] == [
        {"item_id": "A1", "owner": "U1"},
        {"item_id": "A2", "owner": "U2"},
        {"item_id": "A3", "owner": "U3"},
    ]
    assert [str(p) for p in table.problems] == [
        "r.csv: header: column B has values (the first in row 3) but no name in row 1, so they are left "
        "out; give it a name or clear it",
        "r.csv: header: column D has values (the first in row 3) but no name in row 1, so they are left "
        "out; give it a name or clear it",
    ]


def test_a_clean_table_has_no_problems():
    assert read_table(b"item_id,owner\nA1,U1\n", "r.csv", used=["item_id"]).problems == []


def test_xlsx_cells_become_text():
    data = _xlsx(
        [
            ["Item ID", "Expiry Date", "Days", "Price", "Notes", None],
            ["A1", datetime(2026, 3, 1, 0, 0), 5, 12.5, None],
            [None, None, None, None, None],
            ["A2", date(2027, 1, 31), 30.0, 3, "  spaced  "],
        ]
    )
    table = read_table(data, "registry.xlsx")
    assert table.header == ["Item ID", "Expiry Date", "Days", "Price", "Notes"]
    assert table.rows == [
        TableRow(
            2, {"item_id": "A1", "expiry_date": "2026-03-01", "days": "5", "price": "12.5", "notes": ""}
        ),
        TableRow(
            4, {"item_id": "A2", "expiry_date": "2027-01-31", "days": "30", "price": "3", "notes": "spaced"}
        ),
    ]


def test_xlsx_date_cells_with_a_time_keep_the_date_only():
    data = _xlsx([["when"], [datetime(2026, 3, 1, 17, 45)]])
    assert read_table(data, "r.xlsx").rows[0].values == {"when": "2026-03-01"}


def test_xlsx_reads_the_first_worksheet_only():
    data = _xlsx([["a"], ["first"]], second_sheet=[["a"], ["second"]])
    assert [r.values["a"] for r in read_table(data, "r.xlsx").rows] == ["first"]


def test_xlsx_blank_rows_before_data_count():
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "item_id"
    sheet["A5"] = "A1"
    out = io.BytesIO()
    book.save(out)
    assert read_table(out.getvalue(), "r.xlsx").rows == [TableRow(5, {"item_id": "A1"})]


def test_empty_xlsx():
    assert _problems(_xlsx([]), "r.xlsx") == [
        "r.xlsx: file: the file is empty; the first row should hold the column names"
    ]


def test_xlsx_duplicate_columns():
    data = _xlsx([["owner", "Owner", "Notes", None, "notes"], ["U1", "U2", "a", "loose", "b"]])
    with pytest.raises(DocumentError) as refused:
        read_table(data, "r.xlsx", used=["owner"])
    assert [str(p) for p in refused.value.problems] == [
        'r.xlsx: header: columns A ("owner") and B ("Owner") have the same name; each column needs '
        "its own name"
    ]
    table = read_table(data, "r.xlsx", used=["item_id"])  # neither owner nor notes is used here
    assert table.rows == [TableRow(2, {"owner": "U1", "notes": "a"})]
    assert [str(p) for p in table.problems] == [
        'r.xlsx: header: columns A ("owner") and B ("Owner") have the same name; column A is read and '
        "column B is left out; each column needs its own name",
        'r.xlsx: header: columns C ("Notes") and E ("notes") have the same name; column C is read and '
        "column E is left out; each column needs its own name",
        "r.xlsx: header: column D has values (the first in row 2) but no name in row 1, so they are left "
        "out; give it a name or clear it",
    ]


def _broken_zip():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [b"", b"%PDF-1.7 not a workbook", b"item_id,owner\nA1,U1\n", _broken_zip()],
    ids=["empty", "pdf", "csv", "zip-without-workbook"],
)
def test_corrupt_xlsx_is_a_plain_problem(data):
    assert _problems(data, "registry.xlsx") == [
        "registry.xlsx: file: could not read the file as an Excel workbook; save it again as .xlsx and retry"
    ]


def test_truncated_xlsx_is_a_plain_problem():
    data = _xlsx([["a"], ["1"]])
    assert _problems(data[: len(data) // 2], "r.xlsx") == [
        "r.xlsx: file: could not read the file as an Excel workbook; save it again as .xlsx and retry"
    ]


def test_write_csv_round_trips_through_read_table():
    rows = [{"item_id": "A1", "notes": 'says "hi", twice\nand more'}, {"item_id": "A2"}]
    data = write_csv(["item_id", "notes"], rows)
    assert data.startswith(b"item_id,notes\r\n")
    table = read_table(data, "mirror.csv")
    assert [r.values for r in table.rows] == [
        {"item_id": "A1", "notes": 'says "hi", twice\nand more'},
        {"item_id": "A2", "notes": ""},
    ]


def test_write_csv_is_utf8_without_bom():
    assert write_csv(["n"], [{"n": "café"}]) == "n\r\ncafé\r\n".encode()


def test_write_csv_refuses_keys_outside_the_columns():
    with pytest.raises(ValueError):
        write_csv(["item_id"], [{"item_id": "A1", "owner": "U1"}])


def test_blank_characters_are_every_space_python_knows() -> None:
    """The written-out list of spaces a cell loses at its ends is exactly what str.isspace() accepts, so a
    non-breaking or ideographic space from a web page is trimmed like a plain one."""
    from opskit import table

    spaces = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert spaces == table._SPACES
    assert table.clean_cell("\u3000\u00a0U04ABCDEF\u2009\u200b") == "U04ABCDEF"
