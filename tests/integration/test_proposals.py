"""Proposal cards (from intake and calendar-sync) through the real ack-handler: Approve appends the row
with a new item_id, Edit opens a prefilled modal, Discard records it; each acts once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alerts import card_text, proposal_card

from ew.audit import AuditLog
from ew_local.cloud import LocalCloud
from ew_local.slack_payloads import button_click
from opskit.sheets import SheetTable

SHEET = (
    "item_id,item,category,expiry_date,owner,notes\n"
    "ACME-019,Cyber insurance,insurance,2027-03-01,U04FIN0001,\n"
    "ACME-020,Street trading permit,licence,2026-12-18,sam.ortiz@acme.example,\n"
)
FIELDS = {"item": "Window cleaning contract", "category": "contract", "expiry_date": "2027-05-31",
          "owner": "U04OPS0001", "notes": "Found in the forwarded PDF"}  # fmt: skip


def propose(
    cloud: LocalCloud, fields: dict[str, str] = FIELDS, proposal_id: str = "intake-0001"
) -> dict[str, Any]:
    return proposal_card(cloud, proposal_id, fields, "email from ana@acme.example «Cleaning renewal»")


def rows(cloud: LocalCloud) -> list[dict[str, str]]:
    header, *data = cloud.sheet_rows()
    return [dict(zip(header, row, strict=False)) for row in data]


def test_the_card_shows_the_proposed_fields_and_three_buttons(cloud: LocalCloud) -> None:
    message = propose(cloud)
    assert message["text"] == "Proposed new item: *Window cleaning contract*"
    fields = message["blocks"][1]["text"]["text"]
    assert "*Expiry date:* 2027-05-31" in fields and "*Owner (Slack user ID or email):* U04OPS0001" in fields
    assert (
        "From email from ana@acme.example «Cleaning renewal»" in message["blocks"][2]["elements"][0]["text"]
    )
    buttons = message["blocks"][3]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("proposal_approve", message["id"]), ("proposal_edit", message["id"]), ("proposal_discard", message["id"])
    ]  # fmt: skip


def test_approve_appends_the_row_with_the_next_item_id_once(cloud: LocalCloud) -> None:
    message = propose(cloud)
    assert cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))["statusCode"] == 200
    added = rows(cloud)[-1]
    assert added == {"item_id": "ACME-021", "item": "Window cleaning contract", "category": "contract",
                     "expiry_date": "2027-05-31", "owner": "U04OPS0001", "notes": "Found in the forwarded PDF"}  # fmt: skip
    assert card_text(cloud, message).startswith("Approved by <@U04BOSS001> on ")
    assert card_text(cloud, message).endswith(": added to the sheet as ACME-021 (row 4).")
    # A second approval and a late discard change nothing.
    cloud.slack_click(button_click(message, "proposal_approve", "U04OTHER01"))
    cloud.slack_click(button_click(message, "proposal_discard", "U04OTHER01"), retry=1)
    assert len(rows(cloud)) == 3
    audit = AuditLog(cloud.dynamodb, "ew-audit")
    assert [e.action for e in audit.for_item(f"proposal:{message['id']}")] == ["proposal_approve"]
    [append] = audit.for_item("ACME-021")
    assert (append.action, append.by_user, append.after["row"]) == ("sheet_append", "U04BOSS001", 4)


def test_discard_records_it_and_writes_nothing(cloud: LocalCloud) -> None:
    message = propose(cloud)
    cloud.slack_click(button_click(message, "proposal_discard", "U04BOSS001"))
    assert len(rows(cloud)) == 2
    assert card_text(cloud, message).startswith("Discarded by <@U04BOSS001>")
    cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))
    assert len(rows(cloud)) == 2  # a discarded proposal cannot be approved afterwards
    [entry] = AuditLog(cloud.dynamodb, "ew-audit").for_item(f"proposal:{message['id']}")
    assert (entry.action, entry.after) == ("proposal_discard", {"discarded": True})


def edit_submission(view: dict[str, Any], values: dict[str, str], user: str = "U04BOSS001") -> dict[str, Any]:
    state = {
        name: {name: {"type": "datepicker", "selected_date": value} if name.endswith("_date")
               else {"type": "plain_text_input", "value": value}}
        for name, value in values.items()
    }  # fmt: skip
    return {
        "type": "view_submission",
        "user": {"id": user, "username": "boss", "team_id": "T04ACME01"},
        "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": state}},
    }  # fmt: skip


def test_edit_opens_a_prefilled_modal_validates_and_appends_the_edited_row(cloud: LocalCloud) -> None:
    message = propose(cloud)
    cloud.slack_click(button_click(message, "proposal_edit", "U04BOSS001"))
    [call] = cloud.slack.calls("views.open")
    view = call.params["view"]
    initial = {
        b["block_id"]: b["element"].get("initial_value") or b["element"].get("initial_date")
        for b in view["blocks"]
    }
    assert initial["item"] == "Window cleaning contract" and initial["expiry_date"] == "2027-05-31"

    bad = cloud.slack_click(edit_submission(view, {**FIELDS, "owner": "bob"}))
    assert json.loads(bad["body"]) == {
        "response_action": "errors",
        "errors": {"owner": '"bob" is not a Slack user ID (like U012ABCDEF) or an email address'},
    }
    assert len(rows(cloud)) == 2

    good = cloud.slack_click(edit_submission(view, {**FIELDS, "expiry_date": "2027-06-30"}))
    assert json.loads(good["body"]) == {"response_action": "clear"}
    assert rows(cloud)[-1]["expiry_date"] == "2027-06-30" and rows(cloud)[-1]["item_id"] == "ACME-021"
    assert card_text(cloud, message).startswith("Edited and approved by <@U04BOSS001>")


def test_approving_an_incomplete_proposal_opens_the_editor_instead(cloud: LocalCloud) -> None:
    message = propose(cloud, {"item": "Unknown lease", "expiry_date": "2027-01-31"})  # no owner found
    cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))
    assert len(cloud.slack.calls("views.open")) == 1
    assert len(rows(cloud)) == 2


def test_two_proposals_approved_at_once_get_different_item_ids(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = propose(cloud)
    second = propose(cloud, {**FIELDS, "item": "Fire alarm service"}, "intake-0002")
    cloud.slack_click(button_click(first, "proposal_approve", "U04BOSS001"), run_tasks=False)
    cloud.slack_click(button_click(second, "proposal_approve", "U04OTHER01"), run_tasks=False)
    assert len(cloud.pending_tasks) == 2
    real_append = SheetTable.append

    def second_task_runs_meanwhile(self: SheetTable, row: dict[str, str]) -> int:
        # The first task has read the sheet and chosen its id; the second reads the same sheet now.
        monkeypatch.setattr(SheetTable, "append", real_append)
        cloud.run_tasks()
        return real_append(self, row)

    monkeypatch.setattr(SheetTable, "append", second_task_runs_meanwhile)
    cloud.run_tasks()
    assert [(r["item_id"], r["item"]) for r in rows(cloud)[2:]] == [
        ("ACME-022", "Fire alarm service"),
        ("ACME-021", "Window cleaning contract"),
    ]
    assert card_text(cloud, first).endswith(": added to the sheet as ACME-021 (row 5).")
    assert card_text(cloud, second).endswith(": added to the sheet as ACME-022 (row 4).")
