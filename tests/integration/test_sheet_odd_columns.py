"""The writes to the registry sheet on a sheet with a doubled scratch column, a second Notes column and
a column with values but no name (which the watcher reports but reads anyway, DESIGN.md §5): the
renewal written back by a Renew click and an approved proposal's appended row land under the right
headers (notes under the first Notes column), and the cells of those columns stay as they were."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from alerts import alert, proposal_card

from ew.items import load_registry
from ew_local.cloud import LocalCloud
from ew_local.slack_payloads import button_click, modal_submission

HEADER = ["Item ID", "Item", "Category", "Expiry date", "Owner", "Supplier", "", "Notes", "Last renewed",
          "supplier", "notes"]  # fmt: skip
ROW = ["ACME-002", "Public liability insurance", "insurance", "2026-12-15", "U04FIN0001", "Keane & Co",
       "ask Li first", "Broker", "2025-12-15", "Keane and Co Ltd", "old note"]  # fmt: skip
SHEET = "\n".join(",".join(cells) for cells in (HEADER, ROW)) + "\n"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as local:
        local.publish(SHEET.encode())
        report = local.drive_sync()
        assert report["kept_out"] == [] and "registry.csv" in report["written"]
        yield local


def padded(rows: list[list[str]]) -> list[list[str]]:
    """As the sheet shows them (Google leaves out a row's empty cells on the right)."""
    return [row + [""] * (len(HEADER) - len(row)) for row in rows]


def test_a_renew_click_writes_the_new_expiry_and_last_renewed_into_their_own_columns(
    cloud: LocalCloud,
) -> None:
    message = alert(cloud)
    cloud.slack_click(button_click(message, "renew", "U04FIN0001"))
    [opened] = cloud.slack.calls("views.open")
    cloud.slack_click(modal_submission(opened.params["view"], "2027-12-15", "U04FIN0001"))
    today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    renewed = [*ROW[:3], "2027-12-15", *ROW[4:8], today, *ROW[9:]]
    assert padded(cloud.sheet_rows()) == [HEADER, renewed]
    # ... and drive-sync takes the renewed row in, the two columns still reported, not blocking.
    cloud.drive_sync()
    registry = load_registry(cloud.read_source("registry.csv") or b"")
    [item] = registry.items
    assert (item.expiry_date.isoformat(), item.last_renewed and item.last_renewed.isoformat()) == (
        "2027-12-15",
        today,
    )
    assert [p.where for p in registry.problems] == ["header", "header", "header"]


def test_an_approved_proposal_is_appended_under_the_right_headers(cloud: LocalCloud) -> None:
    fields = {"item": "Window cleaning contract", "category": "contract", "expiry_date": "2027-05-31",
              "owner": "U04OPS0001", "notes": "Found in the forwarded PDF"}  # fmt: skip
    message = proposal_card(cloud, "intake-0001", fields)
    cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))
    # The notes go under the first Notes column, the one the watcher reads (the second is reported).
    added = ["ACME-003", "Window cleaning contract", "contract", "2027-05-31", "U04OPS0001", "", "",
             "Found in the forwarded PDF", "", "", ""]  # fmt: skip
    assert padded(cloud.sheet_rows()) == [HEADER, ROW, added]
    cloud.drive_sync()
    registry = load_registry(cloud.read_source("registry.csv") or b"")
    assert [i.item_id for i in registry.items] == ["ACME-002", "ACME-003"]
