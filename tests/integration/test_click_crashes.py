"""ack-handler killed right before and right after its writes (the ack, the audit row, the card update,
the queued write-back, the row appended to the sheet), then replayed as they would be: Slack's retry or
the person's next click after the claim's lease, Lambda's retry of an asynchronous task a minute later.
What a person sees is asserted: one ack, one audit row of each kind, one sheet row, the right card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from alerts import alert, card_text, proposal_card
from crashes import kill, killed_around, killed_at_write, killed_in, later

from ew import runtime
from ew.answers import CLAIM_LEASE
from ew.audit import AuditLog
from ew_local.cloud import LINK_SECRET, InvocationKilled, LocalCloud
from ew_local.slack_payloads import button_click, modal_submission
from opskit.sheets import SheetTable
from opskit.signed_links import sign
from opskit.slack import SlackGateway
from opskit.state import Busy, StateTable

SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
OWNER, OTHER = "U04FIN0001", "U04OTHER01"
LAMBDA_RETRY = timedelta(minutes=1)  # Lambda's first retry of a failed asynchronous invocation


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as local:
        local.mirror(SHEET.encode())
        yield local


def retried_by_lambda(cloud: LocalCloud, task: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Lambda's retry of an asynchronous invocation that died: the same event, a minute later."""
    with later(monkeypatch, LAMBDA_RETRY):
        cloud.pending_tasks.append(task)
        return cloud.run_tasks()


def audit(cloud: LocalCloud, item_id: str) -> list[tuple[str, str]]:
    return sorted((e.action, e.by_user) for e in AuditLog(cloud.dynamodb, "ew-audit").for_item(item_id))


def acks(cloud: LocalCloud) -> list[tuple[str, str]]:
    return [(a.action, a.by) for a in cloud.store.load()[1]]


def propose(
    cloud: LocalCloud, proposal_id: str = "p-crash-1", item: str = "Window cleaning contract"
) -> dict[str, Any]:
    return proposal_card(
        cloud, proposal_id, {"item": item, "expiry_date": "2027-05-31", "owner": "U04OPS0001"}
    )


def approved_task(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    assert (
        cloud.slack_click(button_click(message, "proposal_approve", OWNER), run_tasks=False)["statusCode"]
        == 200
    )
    [task] = cloud.pending_tasks
    return dict(task)


def item_names(cloud: LocalCloud) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in cloud.sheet_rows()[1:]]


# -- the approved proposal's append --------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_append_killed_around_the_sheet_write_adds_one_row_after_lambdas_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    message = propose(cloud)
    task = approved_task(cloud, message)
    with killed_in(SheetTable, "append", when), pytest.raises(InvocationKilled):
        cloud.run_tasks()
    assert len(item_names(cloud)) == (2 if when == "after" else 1)
    # A second delivery right away cannot know the first is dead: it fails, so Lambda retries it later.
    cloud.pending_tasks.append(task)
    with pytest.raises(Busy):
        cloud.run_tasks()
    cloud.pending_tasks.clear()
    assert len(item_names(cloud)) == (2 if when == "after" else 1)
    [result] = retried_by_lambda(cloud, task, monkeypatch)
    assert result == {"item_id": "ACME-003"}
    assert item_names(cloud) == [
        ("ACME-002", "Public liability insurance"),
        ("ACME-003", "Window cleaning contract"),
    ]
    assert audit(cloud, "ACME-003") == [("sheet_append", OWNER)]
    assert card_text(cloud, message).endswith(": added to the sheet as ACME-003 (row 3).")
    # Lambda gives up after two retries, but an extra delivery changes nothing either.
    retried_by_lambda(cloud, task, monkeypatch)
    assert len(item_names(cloud)) == 2 and audit(cloud, "ACME-003") == [("sheet_append", OWNER)]


def test_an_append_killed_after_its_audit_row_is_finished_with_that_one_row(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = propose(cloud)
    task = approved_task(cloud, message)
    with killed_at_write("ew-audit", "after"), pytest.raises(InvocationKilled):
        cloud.run_tasks()
    retried_by_lambda(cloud, task, monkeypatch)
    assert len(item_names(cloud)) == 2 and audit(cloud, "ACME-003") == [("sheet_append", OWNER)]
    assert card_text(cloud, message).endswith("as ACME-003 (row 3).")


def test_an_approval_killed_after_queueing_its_append_appends_once_when_the_next_click_takes_over(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = propose(cloud)
    click = button_click(message, "proposal_approve", OWNER)
    with killed_in(runtime, "defer_task", "after"), pytest.raises(InvocationKilled):
        cloud.slack_click(click, run_tasks=False)
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        assert cloud.slack_click(button_click(message, "proposal_approve", OTHER))["statusCode"] == 200
    # The decision was completed as first recorded (by the owner); its append was queued twice.
    assert len(cloud.tasks_run) == 2
    assert item_names(cloud)[1:] == [("ACME-003", "Window cleaning contract")]
    assert audit(cloud, "proposal:p-crash-1") == [("proposal_approve", OWNER)]
    assert audit(cloud, "ACME-003") == [("sheet_append", OWNER)]


def reserving(params: dict[str, Any]) -> bool:
    return str(params.get("Item", {}).get("pk", {}).get("S", "")).startswith("item-id#")


@pytest.mark.parametrize(("when", "first", "second"), [("before", "ACME-004", "ACME-003"),
                                                       ("after", "ACME-003", "ACME-004")])  # fmt: skip
def test_an_append_killed_around_reserving_its_id_and_another_approval_meanwhile_add_two_ids(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, when: str, first: str, second: str
) -> None:
    message = propose(cloud)
    task = approved_task(cloud, message)
    with killed_around("dynamodb", "PutItem", when, match=reserving), pytest.raises(InvocationKilled):
        cloud.run_tasks()  # ACME-003 is noted in the task's claim, and reserved if killed after
    other = propose(cloud, "p-crash-2", "Fire alarm service")
    assert approved_task(cloud, other)
    # A reserved id is skipped even if its append never comes back (a gap, never a duplicate).
    assert cloud.run_tasks() == [{"item_id": second}]
    [result] = retried_by_lambda(cloud, task, monkeypatch)
    assert result == {"item_id": first}
    assert item_names(cloud) == [
        ("ACME-002", "Public liability insurance"),
        (second, "Fire alarm service"),
        (first, "Window cleaning contract"),
    ]
    assert audit(cloud, first) == [("sheet_append", OWNER)] == audit(cloud, second)
    assert card_text(cloud, message).endswith(f": added to the sheet as {first} (row 4).")
    retried_by_lambda(cloud, task, monkeypatch)
    assert len(item_names(cloud)) == 3


# -- the renewal's write-back ----------------------------------------------------------------------


def renew_view(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    """The Renew modal the owner opens from the card."""
    cloud.slack_click(button_click(message, "renew", OWNER))
    [opened] = cloud.slack.calls("views.open")
    return dict(opened.params["view"])


def renew(cloud: LocalCloud, message: dict[str, Any], run_tasks: bool = True) -> dict[str, Any]:
    view = renew_view(cloud, message)
    return cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=run_tasks)


@pytest.mark.parametrize(
    "kill_it",
    [
        lambda: killed_in(SheetTable, "update_if_unchanged", "before"),
        lambda: killed_in(SheetTable, "update_if_unchanged", "after"),
        lambda: killed_at_write("ew-audit", "after"),
    ],
    ids=["before the sheet write", "after the sheet write", "after its audit row"],
)
def test_a_write_back_killed_anywhere_writes_the_sheet_and_one_audit_row_after_lambdas_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, kill_it: Callable[[], Any]
) -> None:
    message = alert(cloud)
    renew(cloud, message, run_tasks=False)
    [task] = cloud.pending_tasks
    with kill_it(), pytest.raises(InvocationKilled):
        cloud.run_tasks()
    assert retried_by_lambda(cloud, task, monkeypatch) == [{"result": "written"}]
    assert cloud.sheet_rows()[1][3] == "2027-12-15"
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    assert cloud.slack.calls("chat.postMessage")[1:] == []  # nobody was told it could not be written


def test_a_renewal_killed_after_queueing_its_write_back_renews_once_when_the_next_click_takes_over(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    view = renew_view(cloud, message)
    with killed_in(runtime, "defer_task", "after"), pytest.raises(InvocationKilled):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))
    assert len(cloud.tasks_run) == 2  # the write-back was queued by both attempts
    assert acks(cloud) == [("renew", OWNER)]
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    assert cloud.sheet_rows()[1][3] == "2027-12-15"
    assert "new expiry 15 Dec 2027" in card_text(cloud, message)


def renewed_by_owner(text: str) -> bool:
    return text.startswith(f":white_check_mark: Renewed by <@{OWNER}> on ") and text.endswith(
        ": new expiry 15 Dec 2027."
    )


def sheet_writes(cloud: LocalCloud) -> int:
    return len(cloud.google.calls("values:batchUpdate"))


def test_a_renewal_killed_right_after_its_ack_still_writes_the_sheet_once(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    view = renew_view(cloud, message)
    with killed_at_write("ew-ack", "after") as killed, pytest.raises(InvocationKilled):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    assert killed == ["after TransactWriteItems"]
    assert acks(cloud) == [("renew", OWNER)]  # the watcher treats the item as renewed ...
    cloud.run_tasks()  # ... and Lambda runs the write-back queued before the ack
    assert cloud.sheet_rows()[1][3] == "2027-12-15"
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    # The person submits again (the modal showed an error): nothing is recorded twice.
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))
    assert acks(cloud) == [("renew", OWNER)]
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    assert cloud.sheet_rows()[1][3] == "2027-12-15" and sheet_writes(cloud) == 1
    assert renewed_by_owner(card_text(cloud, message))
    assert cloud.store.chain_pings("ACME-002") == []
    assert cloud.slack.calls("chat.postMessage")[1:] == []  # nobody was told it could not be written


def test_a_renewal_killed_after_its_ack_and_never_retried_is_not_recorded_again_by_drive_sync(
    cloud: LocalCloud,
) -> None:
    message = alert(cloud)
    view = renew_view(cloud, message)
    with killed_at_write("ew-ack", "after"), pytest.raises(InvocationKilled):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    cloud.run_tasks()
    # drive-sync sees the sheet's new expiry while the chain is still open (the click died before
    # archiving it): it closes the chain, but the click's ack and audit row already record the renewal.
    report = cloud.drive_sync()
    assert (report["renewals"], report["archived"], report["cards_updated"]) == (0, 1, 0)
    assert cloud.store.chain_pings("ACME-002") == []
    assert acks(cloud) == [("renew", OWNER)]
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    assert cloud.sheet_rows()[1][3] == "2027-12-15" and sheet_writes(cloud) == 1


def test_a_renewal_killed_right_before_its_ack_renews_once_on_the_resubmit(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    view = renew_view(cloud, message)
    with killed_at_write("ew-ack", "before") as killed, pytest.raises(InvocationKilled):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    assert killed == ["before TransactWriteItems"]
    assert acks(cloud) == [] and audit(cloud, "ACME-002") == []
    assert cloud.sheet_rows()[1][3] == "2026-12-15"
    assert card_text(cloud, message) == message["text"]  # the card still asks
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))  # and Lambda runs what is queued
    assert len(cloud.tasks_run) == 2  # the write-back was queued by both attempts ...
    assert cloud.sheet_rows()[1][3] == "2027-12-15" and sheet_writes(cloud) == 1  # ... and written once
    assert acks(cloud) == [("renew", OWNER)]
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_write", OWNER)]
    assert renewed_by_owner(card_text(cloud, message))


def test_a_renewal_killed_before_its_ack_then_closed_by_drive_sync_is_acked_once_on_the_resubmit(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    view = renew_view(cloud, message)
    with killed_at_write("ew-ack", "before"), pytest.raises(InvocationKilled):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    cloud.run_tasks()  # the write-back queued before the ack lands: a renewal typed into the sheet
    report = cloud.drive_sync()
    assert (report["renewals"], report["archived"], report["cards_updated"]) == (1, 1, 1)
    assert card_text(cloud, message) == ":white_check_mark: Renewed in the sheet: new expiry 15 Dec 2027."
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))
    assert acks(cloud) == [("renew", OWNER)]  # one renewal for the digest and the summary
    # The trail says both what drive-sync saw and who renewed; the sheet was written once.
    assert audit(cloud, "ACME-002") == [("renew", OWNER), ("sheet_renewal", "drive-sync"),
                                        ("sheet_write", OWNER)]  # fmt: skip
    assert cloud.sheet_rows()[1][3] == "2027-12-15" and sheet_writes(cloud) == 1
    assert renewed_by_owner(card_text(cloud, message))
    assert cloud.drive_sync()["renewals"] == 0


# -- the answer itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "when"),
    [("ew-ack", "after"), ("ew-audit", "before"), ("ew-audit", "after"), ("ew-state", "after")],
    ids=["after the ack", "before the audit row", "after the audit row", "after the click's claim"],
)
def test_a_click_killed_around_its_writes_is_completed_once_by_the_next_click(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, table: str, when: str
) -> None:
    message = alert(cloud)
    click = button_click(message, "ack_only", OWNER)
    with killed_at_write(table, when) as killed, pytest.raises(InvocationKilled):
        cloud.slack_click(click)
    assert killed
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(click, retry=1)  # Slack's retry of the killed request
        cloud.slack_click(button_click(message, "ack_only", OTHER))  # someone clicks again
    assert acks(cloud) == [("ack_only", OWNER)]
    assert audit(cloud, "ACME-002") == [("ack_only", OWNER)]
    assert "Acknowledged by <@U04FIN0001>" in card_text(cloud, message)


def test_a_click_killed_after_slack_updated_the_card_leaves_it_right(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    click = button_click(message, "ack_only", OWNER)
    with killed_in(SlackGateway, "update", "after"), pytest.raises(InvocationKilled):
        cloud.slack_click(click)
    assert "Acknowledged by <@U04FIN0001>" in card_text(cloud, message)
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(click, retry=1)
    assert acks(cloud) == [("ack_only", OWNER)] and audit(cloud, "ACME-002") == [("ack_only", OWNER)]
    assert "Acknowledged by <@U04FIN0001>" in card_text(cloud, message)


def test_an_email_answer_killed_before_the_link_is_marked_used_is_told_once_on_the_next_post(
    cloud: LocalCloud,
) -> None:
    alert(cloud)
    claims = {"i": "ACME-002", "c": "2026-12-15", "n": 0, "a": "ack_only", "b": "li@acme.example"}
    form = urlencode({"t": sign(LINK_SECRET.encode(), claims, datetime.now(UTC) + timedelta(days=14))})
    real_put = StateTable.put

    def put_then_die(self: StateTable, pk: str, *args: Any, **kwargs: Any) -> None:
        if pk.startswith("link#"):
            kill()
        real_put(self, pk, *args, **kwargs)

    StateTable.put = put_then_die
    try:
        with pytest.raises(InvocationKilled):
            cloud.http("POST", "/email", form)
    finally:
        StateTable.put = real_put
    again = cloud.http("POST", "/email", form)  # the person presses again, or the browser resends
    assert again["statusCode"] == 200 and "Already answered" in again["body"]
    assert acks(cloud) == [("ack_only", "li@acme.example")]
    assert audit(cloud, "ACME-002") == [("ack_only", "li@acme.example")]
    assert cloud.http("POST", "/email", form)["statusCode"] == 409  # now marked used


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_discard_killed_around_its_audit_row_is_recorded_once_by_the_next_click(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    message = propose(cloud)
    with killed_at_write("ew-audit", when), pytest.raises(InvocationKilled):
        cloud.slack_click(button_click(message, "proposal_discard", OWNER))
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(button_click(message, "proposal_discard", OTHER))
        cloud.slack_click(button_click(message, "proposal_approve", OTHER))  # too late: it was discarded
    assert audit(cloud, "proposal:p-crash-1") == [("proposal_discard", OWNER)]
    assert card_text(cloud, message).startswith("Discarded by <@U04FIN0001>")
    assert len(item_names(cloud)) == 1 and cloud.tasks_run == []
