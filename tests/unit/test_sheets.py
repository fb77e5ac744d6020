"""opskit.sheets through the real google-api-python-client and google-auth, against the local fake."""

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ew_local.fake_google import FakeGoogle, service_account_info
from opskit.sheets import (
    RowChanged,
    RowNotFound,
    SheetsError,
    SheetTable,
    column_letter,
    quote_tab,
    sheets_service,
)
from opskit.table import read_table

EMAIL = "ops-sync@fake-project.iam.gserviceaccount.com"
GRID = [
    ["Item ID", "Item", "Expiry Date", "Owner", "Last renewed"],
    ["INS-1", "Van insurance", "1 Mar 2026", "U0ANN"],
    ["LIC-2", "Alcohol licence", "2026-06-30", "bob@example.com", "2025-06-30"],
    [],
    ["DOM-3", "example.com", "March 1, 2027", "U0ANN"],
]


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        fake.add_sheet("book", "Registry list", [row[:] for row in GRID])
        fake.add_sheet("book", "Other", [["x"]])
        yield fake


def _service(fake: FakeGoogle, timeout: float = 5) -> Any:
    return sheets_service(service_account_info(fake), endpoint=fake.url, timeout=timeout)


@pytest.fixture
def table(fake: FakeGoogle) -> SheetTable:
    return SheetTable(_service(fake), "book", "Registry list")


def _writes(fake: FakeGoogle) -> list[Any]:
    return [c.body for c in fake.calls("values:batchUpdate")]


def _error_texts(error: BaseException) -> str:
    """Everything an error could show: its text, repr, and those of every error chained to it."""
    texts = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "args", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


# -- reading ---------------------------------------------------------------------------------------


def test_read_returns_the_header_and_padded_rows(table):
    header, rows = table.read()
    assert header == GRID[0]
    assert rows == [
        ["INS-1", "Van insurance", "1 Mar 2026", "U0ANN", ""],
        ["LIC-2", "Alcohol licence", "2026-06-30", "bob@example.com", "2025-06-30"],
        ["", "", "", "", ""],
        ["DOM-3", "example.com", "March 1, 2027", "U0ANN", ""],
    ]


def test_read_asks_for_formatted_values_of_the_whole_quoted_tab(fake, table):
    table.read()
    [call] = fake.api_calls()
    assert call.path == "/v4/spreadsheets/book/values/'Registry list'"
    assert call.query["valueRenderOption"] == "FORMATTED_VALUE"


def test_rows_longer_than_the_header_keep_their_cells(fake, table):
    fake.add_sheet("book", "Registry list", [["a", "b"], ["1"], ["1", "2", "3"]])
    assert table.read() == (["a", "b"], [["1", ""], ["1", "2", "3"]])


def test_an_empty_tab_reads_as_nothing(fake):
    fake.add_sheet("book", "Empty", [])
    assert SheetTable(_service(fake), "book", "Empty").read() == ([], [])


def test_no_tab_means_the_first_tab_looked_up_once(fake):
    table = SheetTable(_service(fake), "book")
    assert table.read()[0] == GRID[0]
    table.read()
    assert table.tab == "Registry list"
    assert [c.path for c in fake.api_calls()] == [
        "/v4/spreadsheets/book",
        "/v4/spreadsheets/book/values/'Registry list'",
        "/v4/spreadsheets/book/values/'Registry list'",
    ]


def test_tab_names_with_quotes_are_escaped(fake):
    fake.add_sheet("book", "Bob's items", [["id"], ["1"]])
    assert quote_tab("Bob's items") == "'Bob''s items'"
    assert SheetTable(_service(fake), "book", "Bob's items").read() == (["id"], [["1"]])


# -- finding a row ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column", ["item_id", "Item ID", "ITEM_ID", "ItemID", "itemId", " item  id ", "item-id"]
)
def test_find_row_matches_the_header_loosely_and_numbers_rows_as_the_sheet_does(table, column):
    number, row = table.find_row(column, "DOM-3")
    assert number == 5
    assert row == {
        "Item ID": "DOM-3",
        "Item": "example.com",
        "Expiry Date": "March 1, 2027",
        "Owner": "U0ANN",
        "Last renewed": "",
    }


@pytest.mark.parametrize("written", ["Item ID", "item_id", "ItemID", " ITEM-ID ", "itemId"])
def test_a_header_the_registry_reads_as_item_id_is_the_column_the_sheet_writes(fake, written):
    # One rule for both: a sheet the tick can read is a sheet the renew write-back can find its row in.
    grid = [[written, "Expiry Date"], ["INS-1", "2026-03-01"]]
    exported = read_table("\n".join(",".join(row) for row in grid).encode(), "registry.csv")
    assert exported.columns == ["item_id", "expiry_date"]
    fake.add_sheet("book", "Live", grid)
    assert SheetTable(_service(fake), "book", "Live").find_row("item_id", "INS-1") == (
        2,
        {written: "INS-1", "Expiry Date": "2026-03-01"},
    )


def test_find_row_strips_the_key_and_cells(fake, table):
    fake.add_sheet("book", "Registry list", [["id", "v"], [" A-1 ", "x"]])
    assert table.find_row("id", "A-1 ") == (2, {"id": " A-1 ", "v": "x"})


def test_a_key_not_found(table):
    with pytest.raises(RowNotFound) as missing:
        table.find_row("item_id", "NOPE-9")
    assert str(missing.value) == 'no row has "NOPE-9" in the column "item_id"'


def test_a_key_that_appears_twice_is_an_error_naming_both_rows(fake, table):
    fake.add_sheet("book", "Registry list", [*GRID, ["INS-1", "Copy"]])
    with pytest.raises(SheetsError) as twice:
        table.find_row("item_id", "INS-1")
    assert not isinstance(twice.value, RowNotFound)
    assert str(twice.value) == (
        '"INS-1" appears more than once in the column "item_id" (rows 2 and 6); each value must appear only once'
    )


def test_a_missing_or_ambiguous_column_and_an_empty_key(fake, table):
    with pytest.raises(SheetsError, match=r'^the sheet has no column "renewal_term"$'):
        table.find_row("renewal_term", "INS-1")
    with pytest.raises(SheetsError, match=r'^no value given to look up in the column "item_id"$'):
        table.find_row("item_id", "  ")
    fake.add_sheet("book", "Registry list", [["Item ID", "item_id"], ["A", "B"]])
    with pytest.raises(SheetsError) as ambiguous:
        table.find_row("item id", "A")
    assert (
        str(ambiguous.value) == 'the column "item id" appears more than once in the header (columns A and B)'
    )


# -- updating a row --------------------------------------------------------------------------------


def test_update_writes_exactly_the_changed_cells(fake, table):
    number = table.update_if_unchanged(
        "item_id",
        "LIC-2",
        expected={"expiry_date": "2026-06-30", "owner": "bob@example.com"},
        changes={"Expiry Date": "2027-06-30", "last_renewed": "2026-06-01"},
    )
    assert number == 3
    assert _writes(fake) == [
        {
            "valueInputOption": "USER_ENTERED",
            "data": [
                {"range": "'Registry list'!C3", "values": [["2027-06-30"]]},
                {"range": "'Registry list'!E3", "values": [["2026-06-01"]]},
            ],
        }
    ]
    expected_grid = [row[:] for row in GRID[:3]] + [GRID[4]]
    expected_grid[2] = ["LIC-2", "Alcohol licence", "2027-06-30", "bob@example.com", "2026-06-01"]
    assert fake.rows("book", "Registry list") == [*expected_grid[:3], [], GRID[4]]


def test_update_reads_the_row_just_before_writing(fake, table):
    table.find_row("item_id", "INS-1")
    fake.reset()
    table.update_if_unchanged("item_id", "INS-1", {"item": "Van insurance"}, {"owner": "U0BOB"})
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake.api_calls()] == [
        ("GET", "'Registry list'"),
        ("POST", "values:batchUpdate"),
    ]


def test_expected_dates_compare_as_dates_whatever_their_format(fake, table):
    table.update_if_unchanged(
        "item_id", "INS-1", {"expiry date": "2026-03-01 "}, {"expiry date": "2027-03-01"}
    )
    table.update_if_unchanged("item_id", "DOM-3", {"expiry date": "1 Mar 2027"}, {"owner": "U0BOB"})
    rows = fake.rows("book", "Registry list")
    assert rows[1][2] == "2027-03-01" and rows[4][3] == "U0BOB"


def test_numeric_dates_compare_as_dates_with_a_date_order(fake):
    fake.add_sheet("book", "Registry list", [["id", "expiry"], ["A", "01/03/2026"]])
    without = SheetTable(_service(fake), "book", "Registry list")
    with pytest.raises(RowChanged):
        without.update_if_unchanged("id", "A", {"expiry": "2026-03-01"}, {"expiry": "2027-03-01"})
    dmy = SheetTable(_service(fake), "book", "Registry list", date_order="dmy")
    assert dmy.update_if_unchanged("id", "A", {"expiry": "2026-03-01"}, {"expiry": "2027-03-01"}) == 2


def test_update_refuses_when_the_row_changed_and_writes_nothing(fake, table):
    grid = [row[:] for row in GRID]
    grid[1][2] = "1 Sep 2026"  # someone renewed it by hand meanwhile
    fake.add_sheet("book", "Registry list", grid)
    with pytest.raises(RowChanged) as changed:
        table.update_if_unchanged(
            "item_id",
            "INS-1",
            expected={"expiry_date": "1 Mar 2026", "owner": "U0ANN", "last renewed": "2025-03-01"},
            changes={"expiry_date": "2027-03-01"},
        )
    assert str(changed.value) == (
        "row 2 has changed since it was read, so it was not updated: "
        'expiry_date is "1 Sep 2026", expected "1 Mar 2026"; last renewed is empty, expected "2025-03-01"'
    )
    assert changed.value.row == 2
    assert changed.value.differences == [
        ("expiry_date", "1 Mar 2026", "1 Sep 2026"),
        ("last renewed", "2025-03-01", ""),
    ]
    assert _writes(fake) == []
    assert fake.rows("book", "Registry list") == [*grid[:3], [], grid[4]]


def test_a_retry_after_the_write_went_through_is_a_quiet_no_op(fake, table):
    args = ("item_id", "INS-1", {"expiry_date": "1 Mar 2026"}, {"expiry_date": "2027-03-01"})
    assert table.update_if_unchanged(*args) == 2
    assert table.update_if_unchanged(*args) == 2
    assert len(_writes(fake)) == 1


def test_update_of_a_missing_column_or_key(fake, table):
    with pytest.raises(SheetsError, match=r'^the sheet has no column "renewal_term"$'):
        table.update_if_unchanged("item_id", "INS-1", {}, {"renewal_term": "1 year"})
    with pytest.raises(SheetsError, match=r'^the sheet has no column "status"$'):
        table.update_if_unchanged("item_id", "INS-1", {"status": "active"}, {"owner": "U0BOB"})
    with pytest.raises(SheetsError, match=r'^"owner" and "Owner" both name the column "Owner"$'):
        table.update_if_unchanged("item_id", "INS-1", {}, {"owner": "U0BOB", "Owner": "U0CAT"})
    with pytest.raises(RowNotFound):
        table.update_if_unchanged("item_id", "NOPE", {}, {"owner": "U0BOB"})
    assert _writes(fake) == []


def test_values_that_look_like_formulas_are_written_as_text(fake, table):
    formula = '=IMPORTXML("http://x", "//a")'
    changes = {"item": formula, "owner": "-1", "last renewed": "'90s"}
    table.update_if_unchanged("item_id", "INS-1", {}, changes)
    [body] = _writes(fake)
    assert [d["values"][0][0] for d in body["data"]] == ["'" + formula, "-1", "''90s"]
    assert fake.rows("book", "Registry list")[1][1:] == [formula, "1 Mar 2026", "-1", "'90s"]
    table.append({"item_id": "@SUM(A1)", "owner": "+44 20 7946 0000"})
    [call] = fake.calls(":append")
    assert call.body["values"][0] == ["'@SUM(A1)", "", "", "'+44 20 7946 0000", ""]


def test_columns_far_right_get_two_letters(fake):
    header = [f"c{i}" for i in range(30)]
    fake.add_sheet("book", "Wide", [header, ["k"] + [""] * 29])
    table = SheetTable(_service(fake), "book", "Wide")
    table.update_if_unchanged("c0", "k", {}, {"c27": "x"})
    assert _writes(fake)[0]["data"][0]["range"] == "'Wide'!AB2"
    assert column_letter(0) == "A" and column_letter(25) == "Z" and column_letter(701) == "ZZ"


# -- appending -------------------------------------------------------------------------------------


def test_append_places_values_under_their_headers_and_returns_the_row(fake, table):
    fake.add_sheet("book", "Registry list", [row[:] for row in GRID[:3]])
    number = table.append(
        {"owner": "U0CAT", "ITEM ID": "PER-4", "expiry_date": "2026-12-31", "Item": "Permit"}
    )
    assert number == 4
    assert fake.rows("book", "Registry list") == [*GRID[:3], ["PER-4", "Permit", "2026-12-31", "U0CAT"]]
    [call] = fake.calls(":append")
    assert call.path == "/v4/spreadsheets/book/values/'Registry list'!A1:append"
    assert call.query == {
        "valueInputOption": "USER_ENTERED",
        "insertDataOption": "INSERT_ROWS",
        "alt": "json",
    }
    assert call.body == {"values": [["PER-4", "Permit", "2026-12-31", "U0CAT", ""]]}
    assert table.append({"item_id": "X-5"}) == 5


def test_append_into_a_sheet_with_a_blank_row_lands_in_the_gap_as_on_google(fake, table):
    # Sheets appends after the first "table" at A1, and a blank row ends it; rows below move down.
    assert table.append({"item_id": "PER-4"}) == 4
    assert fake.rows("book", "Registry list") == [*GRID[:3], ["PER-4"], [], GRID[4]]
    assert table.find_row("item_id", "DOM-3")[0] == 6


def test_append_refuses_unknown_or_doubled_columns_and_a_headerless_tab(fake, table):
    with pytest.raises(SheetsError, match=r'^the sheet has no column "colour"$'):
        table.append({"item_id": "X", "colour": "red"})
    with pytest.raises(SheetsError, match=r'^"item_id" and "Item ID" both name the column "Item ID"$'):
        table.append({"item_id": "X", "Item ID": "Y"})
    fake.add_sheet("book", "Blank", [])
    with pytest.raises(SheetsError, match=r'^the tab "Blank" has no header row \(row 1 is empty\)$'):
        SheetTable(_service(fake), "book", "Blank").append({"a": "1"})
    assert fake.calls(":append") == []


def test_a_doubled_column_and_one_without_a_name_do_not_stop_writes_by_the_other_columns(fake, table):
    # A sheet the watcher still reads (DESIGN.md §5): a scratch column twice, values under no name.
    header = ["Item ID", "Scratch", "", "Expiry Date", "scratch", "Last renewed"]
    fake.add_sheet("book", "Registry list", [header, ["INS-1", "a", "loose", "2026-03-01", "b", ""]])
    assert table.find_row("item_id", "INS-1") == (
        2,
        {"Item ID": "INS-1", "Scratch": "a", "Expiry Date": "2026-03-01", "scratch": "b", "Last renewed": ""},
    )
    changes = {"expiry_date": "2027-03-01", "last_renewed": "2026-02-20"}
    assert table.update_if_unchanged("item_id", "INS-1", {"expiry_date": "2026-03-01"}, changes) == 2
    assert table.append({"item_id": "INS-2", "expiry_date": "2028-01-01"}) == 3
    assert fake.rows("book", "Registry list") == [
        header,
        ["INS-1", "a", "loose", "2027-03-01", "b", "2026-02-20"],
        ["INS-2", "", "", "2028-01-01"],
    ]
    # A value for the doubled column itself goes under the first of them, the one the reader reads...
    assert table.append({"item_id": "INS-3", "scratch": "x"}) == 4
    assert fake.rows("book", "Registry list")[3] == ["INS-3", "x"]
    # ...but a doubled column cannot be the key that finds a row: which one would it be?
    with pytest.raises(
        SheetsError, match=r'the column "scratch" appears more than once in the header \(columns B and E\)'
    ):
        table.find_row("scratch", "a")


# -- failures --------------------------------------------------------------------------------------


def test_a_403_says_to_share_the_sheet_with_the_service_account(fake, table):
    fake.fail("/values/", 403)
    with pytest.raises(SheetsError) as refused:
        table.read()
    assert str(refused.value) == (
        f"Google Sheets refused the request (403): the service account has no access to the sheet — share it with {EMAIL}"
    )
    assert (refused.value.status, refused.value.transient) == (403, False)


def test_a_403_for_a_disabled_api_says_to_enable_it(fake, table):
    fake.fail(
        "/values/",
        403,
        message="Google Sheets API has not been used in project 123 before or it is disabled.",
    )
    with pytest.raises(SheetsError, match="the Google Sheets API is not enabled"):
        table.read()


def test_a_500_is_a_transient_sheets_error(fake, table):
    fake.fail("values:batchUpdate", 500)
    with pytest.raises(SheetsError) as failed:
        table.update_if_unchanged("item_id", "INS-1", {}, {"owner": "U0BOB"})
    assert str(failed.value) == "Google Sheets failed (500); try again later"
    assert (failed.value.status, failed.value.transient) == (500, True)
    assert fake.rows("book", "Registry list") == [*GRID[:3], [], GRID[4]]


@pytest.mark.parametrize(
    ("status", "spreadsheet", "tab", "message"),
    [
        (
            404,
            "gone",
            "Registry list",
            "Google Sheets refused the request (404): there is no spreadsheet with the ID gone — check the ID",
        ),
        (
            400,
            "book",
            "Nope",
            'Google Sheets refused the request (400): the spreadsheet has no tab named "Nope"',
        ),
    ],
)
def test_a_wrong_spreadsheet_or_tab(fake, status, spreadsheet, tab, message):
    with pytest.raises(SheetsError) as refused:
        SheetTable(_service(fake), spreadsheet, tab).read()
    assert (str(refused.value), refused.value.status) == (message, status)


def test_a_429_is_transient(fake, table):
    fake.fail("/values/", 429)
    with pytest.raises(SheetsError) as limited:
        table.read()
    assert (
        str(limited.value)
        == "Google Sheets refused the request (429): too many requests; it will work again in a minute"
    )
    assert limited.value.transient


def test_a_slow_answer_beyond_the_timeout(fake):
    table = SheetTable(_service(fake, timeout=0.5), "book", "Registry list")
    fake.delay("/values/", 5, times=1)
    started = time.monotonic()
    with pytest.raises(SheetsError) as slow:
        table.read()
    assert time.monotonic() - started < 4  # the 0.5 s timeout, with room for a busy machine
    assert str(slow.value) == "Google Sheets did not answer in time"
    assert slow.value.transient


def test_a_slow_token_endpoint_is_also_bounded(fake):
    fake.delay("/token", 1.2, times=1)
    with pytest.raises(SheetsError, match=r"^Google Sheets did not answer in time$"):
        SheetTable(_service(fake, timeout=0.5), "book", "Registry list").read()


def test_nobody_listening(fake):
    service = _service(fake)
    fake.stop()
    with pytest.raises(SheetsError) as down:
        SheetTable(service, "book", "Registry list").read()
    assert str(down.value) == "Google Sheets could not be reached (ConnectionRefusedError)"


def test_rejected_credentials(fake, table):
    fake.fail("/token", 400, message="Invalid JWT Signature.")
    with pytest.raises(SheetsError) as rejected:
        table.read()
    assert str(rejected.value) == (
        "Google did not accept the service account's credentials (fake_fault: Invalid JWT Signature.): "
        "check the JSON stored for it, or create a new key"
    )


def test_unusable_service_account_json(fake):
    info = service_account_info(fake)
    with pytest.raises(
        SheetsError, match=r"^the service account JSON is not usable: it has no client_email, token_uri$"
    ):
        sheets_service({k: v for k, v in info.items() if k not in ("client_email", "token_uri")})
    broken = {**info, "private_key": info["private_key"][:200]}
    with pytest.raises(SheetsError) as bad:
        sheets_service(broken)
    assert str(bad.value) == (
        "the service account JSON is not usable: its private key could not be read "
        "(paste the whole JSON file Google gave you, unchanged)"
    )
    assert bad.value.__cause__ is None and bad.value.__suppress_context__


def test_the_private_key_never_appears_in_any_error(fake):
    info = service_account_info(fake)
    key_lines = [line for line in info["private_key"].splitlines() if line and not line.startswith("-----")]
    errors: list[BaseException] = []

    def collect(action):
        try:
            action()
        except SheetsError as error:
            errors.append(error)

    table = SheetTable(_service(fake, timeout=0.5), "book", "Registry list")
    for status in (400, 401, 403, 404, 429, 500, 503):
        # a 401 makes the client fetch a new token and try again, twice
        fake.fail("/values/", status, times=3 if status == 401 else 1)
        collect(table.read)
    fake.fail("/token", 400)
    collect(lambda: SheetTable(_service(fake), "book").read())
    fake.delay("/values/", 1.0, times=1)
    collect(table.read)
    collect(lambda: sheets_service({**info, "private_key": info["private_key"][:300]}))
    collect(lambda: sheets_service({**info, "private_key": info["private_key"].replace("A", "*")}))
    assert len(errors) == 11
    for error in errors:
        text = _error_texts(error)
        assert not any(line in text for line in key_lines), text
        assert "PRIVATE KEY" not in text


def test_importing_the_module_does_not_import_the_google_client():
    code = (
        "import sys, opskit.sheets\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('googleapiclient', 'google', 'httplib2')]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
