"""Clicks as production will try them (issue 7): a write that fails after the claim, a process killed
mid-answer, signed payloads of odd shapes, clicks on pings that do not exist, and exact replays.
Everything goes through the real ack-handler behind its Function URL on the local cloud."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from alerts import alert, current, email_links, proposal_card, token
from botocore.exceptions import ClientError
from crashes import failing, later  # the clicks are signed at the handler's clock, so they stay fresh

from ew.answers import BUSY, CLAIM_LEASE, FAILED
from ew.audit import AuditLog
from ew.click_rules import UNKNOWN_PING
from ew_local.cloud import LINK_SECRET, InvocationKilled, LambdaContext, LocalCloud, function_url_event
from ew_local.slack_payloads import button_click, modal_submission
from opskit.signed_links import sign

EVENTS = Path(__file__).resolve().parents[2] / "events"
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
OWNER, OTHER = "U04FIN0001", "U04OTHER01"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as local:
        local.mirror(SHEET.encode())
        yield local


def acks(cloud: LocalCloud) -> list[tuple[str, str, str]]:
    return [(a.item_id, a.action, a.by) for a in cloud.store.load()[1]]


def audit(cloud: LocalCloud, item_id: str = "ACME-002") -> list[tuple[str, str]]:
    return [(e.action, e.by_user) for e in AuditLog(cloud.dynamodb, "ew-audit").for_item(item_id)]


def state_rows(cloud: LocalCloud) -> list[dict[str, Any]]:
    return list(cloud.dynamodb.scan(TableName="ew-state")["Items"])


def has_buttons(current: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in current["blocks"])


def updates(cloud: LocalCloud) -> int:
    return len(cloud.slack.calls("chat.update"))


def throttled() -> ClientError:
    error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}
    return ClientError({"Error": error}, "PutItem")


# -- defect 3: a failed write after the claim loses nothing --------------------------------------------


def test_a_failed_ack_write_is_said_and_slacks_retry_records_it_once(cloud: LocalCloud) -> None:
    message = alert(cloud)
    click = button_click(message, "ack_only", OWNER)
    with failing("ew-ack", throttled):
        first = cloud.slack_click(click)
    # The user is told it did not work (Slack marks the click failed), never "Acknowledged".
    assert (first["statusCode"], first["body"]) == (503, FAILED)
    assert acks(cloud) == [] and audit(cloud) == [] and updates(cloud) == 0
    assert has_buttons(current(cloud, message))

    retried = cloud.slack_click(click, retry=1)
    assert retried["statusCode"] == 200
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)]
    assert audit(cloud) == [("ack_only", OWNER)]
    assert updates(cloud) == 1 and current(cloud, message)["text"].startswith(
        ":ok_hand: Acknowledged by <@U04FIN0001>"
    )


def test_an_ack_and_its_audit_row_are_written_together_or_not_at_all(cloud: LocalCloud) -> None:
    message = alert(cloud)
    with failing("ew-audit", throttled):
        assert cloud.slack_click(button_click(message, "ack_only", OWNER))["statusCode"] == 503
    assert acks(cloud) == [] and audit(cloud) == []  # never an ack without its audit row
    assert cloud.slack_click(button_click(message, "ack_only", OWNER), retry=1)["statusCode"] == 200
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)] and audit(cloud) == [("ack_only", OWNER)]


def test_after_a_failed_write_the_next_click_completes_the_first_answer_once(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    # The ack and its audit row went in; marking the answer done (the fourth write to ew-state, after
    # the click's and the answer's claims and the ack's transaction, which records the card's version
    # there) did not, so the answer's claim is left to its lease.
    with failing("ew-state", throttled, skip=3):
        assert cloud.slack_click(button_click(message, "ack_only", OWNER))["statusCode"] == 503
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)] and audit(cloud) == [("ack_only", OWNER)]
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        cloud.slack_click(button_click(message, "ack_only", OTHER))
    # Completed as first recorded: the same ack row (same time), its one audit row, one card update.
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)]
    assert audit(cloud) == [("ack_only", OWNER)]
    assert updates(cloud) == 1 and "<@U04FIN0001>" in current(cloud, message)["text"]


def test_a_failed_renewal_keeps_the_modal_open_and_a_resubmit_renews_once(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button_click(message, "renew", OWNER))
    [opened] = cloud.slack.calls("views.open")
    view = opened.params["view"]
    with failing("ew-ack", throttled):
        answer = json.loads(cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))["body"])
    assert answer == {"response_action": "errors", "errors": {"date": FAILED}}
    assert acks(cloud) == [] and cloud.store.get("ACME-002", 0) is not None  # nothing archived
    # The write-back is queued before the ack (so a renewal never stays out of the sheet): it lands.
    assert cloud.sheet_rows()[1][3] == "2027-12-15"
    assert sorted(audit(cloud)) == [("sheet_write", OWNER)]

    again = json.loads(cloud.slack_click(modal_submission(view, "2027-12-15", OWNER))["body"])
    assert again == {"response_action": "clear"}
    assert acks(cloud) == [("ACME-002", "renew", OWNER)]
    assert sorted(audit(cloud)) == [("renew", OWNER), ("sheet_write", OWNER)]
    assert cloud.store.get("ACME-002", 0) is None and cloud.sheet_rows()[1][3] == "2027-12-15"
    assert len(cloud.google.calls("values:batchUpdate")) == 1  # the resubmit's write-back wrote nothing
    assert updates(cloud) == 1


def test_a_handler_killed_mid_answer_blocks_only_for_its_lease(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    click = button_click(message, "ack_only", OWNER)
    with failing("ew-ack", InvocationKilled), pytest.raises(InvocationKilled):
        cloud.slack_click(click)
    # Right after, the killed attempt may still be alive as far as anyone can tell: nothing is recorded
    # twice, and the person is told to try again shortly.
    busy = cloud.slack_click(button_click(message, "ack_only", OTHER))
    assert (busy["statusCode"], busy["body"]) == (503, BUSY)
    assert acks(cloud) == [] and updates(cloud) == 0
    # Once the lease has run out, Slack's retry of the killed request completes it, exactly once.
    with later(monkeypatch, CLAIM_LEASE + timedelta(seconds=1)):
        assert cloud.slack_click(click, retry=1)["statusCode"] == 200
        cloud.slack_click(click, retry=2)
        cloud.slack_click(button_click(message, "ack_only", OTHER))
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)]
    assert audit(cloud) == [("ack_only", OWNER)]
    assert "<@U04FIN0001>" in current(cloud, message)["text"]


def test_a_failed_email_answer_keeps_the_link_usable(cloud: LocalCloud) -> None:
    link = token(email_links(cloud)["Ack only"])
    form = urlencode({"t": link})
    with failing("ew-ack", throttled):
        page = cloud.http("POST", "/email", form)
    assert page["statusCode"] == 503 and "could not be recorded just now" in page["body"]
    assert 'method="post"' in page["body"]  # the same form, to press again
    assert acks(cloud) == []
    assert cloud.http("GET", "/email", query={"t": link})["statusCode"] == 200  # not marked used
    done = cloud.http("POST", "/email", form)
    assert done["statusCode"] == 200 and '<h1 id="result">Done</h1>' in done["body"]
    assert acks(cloud) == [("ACME-002", "ack_only", "li@acme.example")]
    assert cloud.http("POST", "/email", form)["statusCode"] == 409


def propose(cloud: LocalCloud) -> dict[str, Any]:
    fields = {"item": "Window cleaning contract", "expiry_date": "2027-05-31", "owner": "U04OPS0001"}
    return proposal_card(cloud, "p-reliability-1", fields)


def test_a_failed_approval_is_completed_by_the_next_click_and_appends_once(cloud: LocalCloud) -> None:
    message = propose(cloud)
    click = button_click(message, "proposal_approve", OWNER)
    with failing("ew-audit", throttled):
        assert cloud.slack_click(click)["statusCode"] == 503
    assert len(cloud.sheet_rows()) == 2 and updates(cloud) == 0
    assert cloud.slack_click(click, retry=1)["statusCode"] == 200
    cloud.slack_click(click, retry=2)
    assert [row[1] for row in cloud.sheet_rows()[1:]] == [
        "Public liability insurance",
        "Window cleaning contract",
    ]
    assert audit(cloud, f"proposal:{message['id']}") == [("proposal_approve", OWNER)]
    assert current(cloud, message)["text"].endswith(": added to the sheet as ACME-003 (row 3).")


# -- defect 6: the renew write-back writes the columns the sheet has -------------------------------------


def test_a_renewal_on_a_sheet_without_last_renewed_writes_the_expiry_and_says_what_it_skipped(
    cloud: LocalCloud,
) -> None:
    header, row = cloud.sheet_rows()
    keep = [i for i, name in enumerate(header) if name != "last_renewed"]
    cloud.google.add_sheet(
        "local-registry-sheet", "Registry", [[header[i] for i in keep], [row[i] for i in keep]]
    )
    message = alert(cloud)
    cloud.slack_click(button_click(message, "renew", OWNER))
    [opened] = cloud.slack.calls("views.open")
    cloud.slack_click(modal_submission(opened.params["view"], "2027-12-15", OWNER))
    assert cloud.sheet_rows()[1][header.index("expiry_date")] == "2027-12-15"
    [write] = [
        e for e in AuditLog(cloud.dynamodb, "ew-audit").for_item("ACME-002") if e.action == "sheet_write"
    ]
    assert write.after["expiry_date"] == "2027-12-15" and "last_renewed" not in write.after
    assert write.after["not_in_sheet"] == ["last_renewed"]
    assert cloud.pending_tasks == []  # the task finished: no failed invoke for Lambda to retry


# -- defect 5: signed but malformed payloads are a 400 and a reason -------------------------------------


def _payload(body: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(body)})


def _click(
    message: dict[str, Any], change: Callable[[dict[str, Any]], None], action_id: str = "ack_only"
) -> str:
    payload = button_click(message, action_id, OWNER)
    change(payload)
    return _payload(payload)


def _submission(message: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> str:
    value = json.loads(button_click(message, "renew", OWNER)["actions"][0]["value"])
    metadata = {"ref": json.dumps({k: value[k] for k in ("i", "c", "n")}), "channel": message["channel"],
                "ts": message["ts"], "label": "Public liability insurance"}  # fmt: skip
    view = {"callback_id": "renew", "private_metadata": json.dumps(metadata)}
    payload = modal_submission(view, "2027-12-15", OWNER)
    change(payload)
    return _payload(payload)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets (or with value ..., deletes) a dotted path like "actions.0.value"."""

    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key: Any = int(last) if isinstance(target, list) else last
        if value is ...:
            del target[key]
        else:
            target[key] = value

    return change


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "no payload field": (
        lambda m: urlencode({"text": "hello"}),
        "expected a Slack interactivity payload (a payload= form field)",
    ),
    "payload=[1]": (lambda m: urlencode({"payload": "[1]"}), "the payload is not a JSON object"),
    "payload not JSON": (lambda m: urlencode({"payload": "{not json"}), "the payload is not JSON"),
    "no type": (lambda m: _click(m, _set("type", ...)), "the payload has no type"),
    "block_actions without actions": (
        lambda m: _click(m, _set("actions", ...)),
        "the block_actions payload has no actions",
    ),
    "empty actions": (lambda m: _click(m, _set("actions", [])), "the block_actions payload has no actions"),
    "button value not JSON": (
        lambda m: _click(m, _set("actions.0.value", "renew-it")),
        "the button value is not JSON",
    ),
    "button value without its index": (
        lambda m: _click(m, _set("actions.0.value", '{"i": "ACME-002", "c": "2026-12-15"}')),
        "the button value does not name a ping (item, cycle and index)",
    ),
    "button value with a bad date": (
        lambda m: _click(m, _set("actions.0.value", '{"i": "ACME-002", "c": "soon", "n": 0}')),
        "the button value does not name a ping (item, cycle and index)",
    ),
    "button value with an empty item": (
        lambda m: _click(m, _set("actions.0.value", '{"i": "", "c": "2026-12-15", "n": 0}')),
        "the button value does not name a ping (item, cycle and index)",
    ),
    "button without a value": (lambda m: _click(m, _set("actions.0.value", ...)), "the button has no value"),
    "missing user": (lambda m: _click(m, _set("user", ...)), "the payload has no user"),
    "user without id": (lambda m: _click(m, _set("user", {"name": "li"})), "the payload's user has no id"),
    "renew without trigger_id": (
        lambda m: _click(m, _set("trigger_id", ...), "renew"),
        "the block_actions payload has no trigger_id",
    ),
    "view_submission without view": (
        lambda m: _submission(m, _set("view", ...)),
        "the view_submission payload has no view",
    ),
    "empty private_metadata": (
        lambda m: _submission(m, _set("view.private_metadata", "")),
        "the view has no private_metadata",
    ),
    "private_metadata not JSON": (
        lambda m: _submission(m, _set("view.private_metadata", "ACME-002")),
        "the view's private_metadata is not one this app wrote",
    ),
    "private_metadata without the ping": (
        lambda m: _submission(m, _set("view.private_metadata", '{"channel": "D1", "ts": "1", "label": "x"}')),
        "the view's private_metadata is not one this app wrote",
    ),
    "view without state": (lambda m: _submission(m, _set("view.state", ...)), "the view has no state"),
    "submission without user": (lambda m: _submission(m, _set("user", ...)), "the payload has no user"),
    "proposal editor with bad metadata": (
        lambda m: _submission(
            m, lambda p: p["view"].update(callback_id="proposal_edit", private_metadata="[]")
        ),
        "the view's private_metadata is not a JSON object",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_signed_but_malformed_payload_is_a_400_with_its_reason(cloud: LocalCloud, case: str) -> None:
    message = alert(cloud)
    build, reason = MALFORMED[case]
    answer = cloud.slack_request(build(message))
    assert (answer["statusCode"], answer["body"]) == (400, reason)
    assert acks(cloud) == [] and audit(cloud) == [] and state_rows(cloud) == []
    assert cloud.slack.calls("chat.update") == [] and cloud.slack.calls("views.open") == []


def test_a_body_that_is_not_base64_is_a_400(cloud: LocalCloud) -> None:
    event = function_url_event("POST", "/slack/actions", "not*base64!", {}, {}, is_base64=True)
    answer = cloud.ack_handler(event, LambdaContext("ew-ack-handler"))
    assert (answer["statusCode"], answer["body"]) == (400, "the body is not valid base64")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"i": "ACME-002", "c": "someday", "n": 0, "a": "ack_only"}, "this link does not name an alert"),
        ({"i": "ACME-002", "c": "2026-12-15", "n": 0, "a": "delete"}, "this link does not name an answer"),
    ],
)
def test_a_signed_link_with_odd_claims_is_a_400_page(
    cloud: LocalCloud, claims: dict[str, Any], reason: str
) -> None:
    token = sign(LINK_SECRET.encode(), claims, datetime.now(UTC) + timedelta(days=1))
    for answer in (
        cloud.http("GET", "/email", query={"t": token}),
        cloud.http("POST", "/email", urlencode({"t": token, "date": "2027-01-01"})),
    ):
        assert answer["statusCode"] == 400 and "This link does not work" in answer["body"]
        assert reason in answer["body"] and "text/html" in answer["headers"]["Content-Type"]
    assert acks(cloud) == [] and state_rows(cloud) == []


# -- defect 5: a click on a ping the watcher does not know records nothing ---------------------------------


def _unknown(message: dict[str, Any], action_id: str, item: str, index: int) -> dict[str, Any]:
    payload = button_click(message, action_id, OWNER)
    payload["actions"][0]["value"] = json.dumps({"i": item, "c": "2026-12-15", "n": index, "x": "Old item"})
    return payload


@pytest.mark.parametrize(("item", "index"), [("ACME-002", 7), ("GONE-001", 0)])
def test_a_click_on_an_unknown_ping_is_told_on_the_card_and_records_nothing(
    cloud: LocalCloud, item: str, index: int
) -> None:
    message = alert(cloud)
    for action_id in ("ack_only", "renew"):
        assert cloud.slack_click(_unknown(message, action_id, item, index))["statusCode"] == 200
        assert current(cloud, message)["text"] == UNKNOWN_PING
    assert cloud.slack.calls("views.open") == []  # no modal to fill in for nothing
    assert acks(cloud) == [] and audit(cloud) == [] and audit(cloud, item) == [] and state_rows(cloud) == []


def test_a_modal_for_an_unknown_ping_says_so_under_the_date(cloud: LocalCloud) -> None:
    message = alert(cloud)
    body = _submission(message, lambda p: None).replace("ACME-002", "GONE-001")
    answer = json.loads(cloud.slack_request(body)["body"])
    assert answer == {"response_action": "errors", "errors": {"date": UNKNOWN_PING}}
    assert acks(cloud) == [] and state_rows(cloud) == []


def test_an_email_link_to_an_unknown_ping_is_a_404_page(cloud: LocalCloud) -> None:
    claims = {"i": "ACME-002", "c": "2026-12-15", "n": 9, "a": "ack_only"}
    token = sign(LINK_SECRET.encode(), claims, datetime.now(UTC) + timedelta(days=1))
    for answer in (
        cloud.http("GET", "/email", query={"t": token}),
        cloud.http("POST", "/email", urlencode({"t": token})),
    ):
        assert answer["statusCode"] == 404 and "This alert is out of date" in answer["body"]
    assert acks(cloud) == [] and audit(cloud) == [] and state_rows(cloud) == []


def test_a_renewed_chains_pings_are_still_known(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button_click(message, "renew", OWNER))
    [opened] = cloud.slack.calls("views.open")
    cloud.slack_click(modal_submission(opened.params["view"], "2027-12-15", OWNER))
    assert cloud.store.get("ACME-002", 0) is None  # archived
    late = cloud.slack_click(button_click(message, "ack_only", OTHER))
    assert late["statusCode"] == 200 and current(cloud, message)["text"] != UNKNOWN_PING


# -- defect 5: an exact replay changes nothing and calls Slack no more ------------------------------------


def test_a_replayed_ack_click_updates_the_card_once(cloud: LocalCloud) -> None:
    message = alert(cloud)
    click = button_click(message, "ack_only", OWNER)
    for retry in (None, None, 1, 2):
        assert cloud.slack_click(click, retry=retry)["statusCode"] == 200
    assert updates(cloud) == 1
    assert acks(cloud) == [("ACME-002", "ack_only", OWNER)] and len(audit(cloud)) == 1


def test_a_replayed_renew_click_opens_the_modal_once(cloud: LocalCloud) -> None:
    message = alert(cloud)
    click = button_click(message, "renew", OWNER)
    for retry in (None, None, 1):
        assert cloud.slack_click(click, retry=retry)["statusCode"] == 200
    assert len(cloud.slack.calls("views.open")) == 1 and acks(cloud) == []


def test_a_replayed_proposal_click_changes_nothing(cloud: LocalCloud) -> None:
    message = propose(cloud)
    click = button_click(message, "proposal_approve", OWNER)
    cloud.slack_click(click)
    calls = len(cloud.slack.calls())
    for retry in (None, 1):
        cloud.slack_click(click, retry=retry)
    assert len(cloud.slack.calls()) == calls and len(cloud.sheet_rows()) == 3


def test_a_replayed_modal_submission_changes_nothing(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button_click(message, "snooze", OWNER))
    [opened] = cloud.slack.calls("views.open")
    until = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    submission = modal_submission(opened.params["view"], until, OWNER)
    assert json.loads(cloud.slack_click(submission)["body"]) == {"response_action": "clear"}
    calls = len(cloud.slack.calls())
    cloud.slack_click(submission)
    cloud.slack_click(submission, retry=1)
    assert len(cloud.slack.calls()) == calls
    assert acks(cloud) == [("ACME-002", "snooze", OWNER)]
