"""A late card update never replaces a newer one (opskit.message_versions), through the real handlers.

A click's card update that Slack refused for the moment (429) is retried in an asynchronous invocation
(CARD_TASK), a minute later or more, and asynchronous invocations are not ordered. Meanwhile the same
card may be updated again: a later answer on it (its buttons were still there), drive-sync recording a
renewal typed into the sheet, an approval's append. What the person sees is asserted: the card shows the
newest fact, whatever order the updates land in, whoever died between recording and Slack."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alerts import alert
from crashes import killed_in, later

from ew import proposals, runtime
from ew.answers import CARD_TASK
from ew_local.cloud import InvocationKilled, LocalCloud
from ew_local.slack_payloads import button_click, modal_submission
from opskit.slack import SlackGateway, SlackUnavailable, make_client
from opskit.state import StateTable

SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
OWNER = "U04FIN0001"
ACKNOWLEDGED = f":ok_hand: Acknowledged by <@{OWNER}> on "
RENEWED_IN_SHEET = ":white_check_mark: Renewed in the sheet: new expiry 15 Dec 2027."
LATER = timedelta(seconds=30)  # the next thing someone does to the card
LAMBDA_RETRY = timedelta(minutes=1)  # when Lambda runs the queued (or retried) card update


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as local:
        local.publish(SHEET.encode(), RULES, "")
        local.drive_sync()  # registry.csv in force, from the sheet drive-sync will see renewed
        yield local


def card(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    found = cloud.slack.message(message["channel"], message["ts"])
    assert found is not None
    return found


def has_buttons(found: dict[str, Any]) -> bool:
    return any(block["type"] == "actions" for block in found["blocks"])


def renewed_by_owner(text: str) -> bool:
    return text.startswith(f":white_check_mark: Renewed by <@{OWNER}> on ") and text.endswith(
        ": new expiry 15 Dec 2027."
    )


def refused_ack(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    """Ack only clicked; Slack answers the card update with a 429, so it is queued: returns that task."""
    cloud.slack.rate_limit("chat.update", retry_after=60)
    assert cloud.slack_click(button_click(message, "ack_only", OWNER), run_tasks=False)["statusCode"] == 200
    [task] = [t for t in cloud.pending_tasks if t["task"] == CARD_TASK]
    assert has_buttons(card(cloud, message))  # not updated yet
    return copy.deepcopy(task)


def renew_view(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    """The Renew modal opened from the card (its buttons are still there)."""
    cloud.slack_click(button_click(message, "renew", OWNER), run_tasks=False)
    opened = cloud.slack.calls("views.open")[-1]
    return dict(opened.params["view"])


def renew(cloud: LocalCloud, message: dict[str, Any]) -> None:
    """The owner renews on the same card: the card then says so at once."""
    view = renew_view(cloud, message)
    assert (
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)["statusCode"] == 200
    )


def propose(cloud: LocalCloud) -> dict[str, Any]:
    """A proposal card in the intake channel, as intake-parser posts it."""
    fields = {"item": "Window cleaning contract", "expiry_date": "2027-05-31", "owner": "U04OPS0001"}
    proposal = proposals.Proposal("intake-0001", fields, "email from ana@acme.example")
    slack = SlackGateway(make_client("xoxb-local-demo-token", base_url=cloud.slack.url))
    state = StateTable(cloud.dynamodb, "ew-state")
    ts = proposals.propose(state, slack, "C04INTAKE1", proposal, runtime.utc_now())
    posted = cloud.slack.message("C04INTAKE1", ts)
    assert posted is not None
    return {"channel": "C04INTAKE1", "ts": ts, "text": posted["text"], "blocks": posted["blocks"]}


def results(outcomes: list[dict[str, Any]]) -> list[str]:
    return [str(o.get("result")) for o in outcomes]


# -- the defect: a late retry put an older line back ---------------------------------------------------


def test_a_late_retry_does_not_replace_a_renewal_made_on_the_card_since(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    with later(monkeypatch, LATER):
        renew(cloud, message)
    assert renewed_by_owner(card(cloud, message)["text"])
    with later(monkeypatch, LAMBDA_RETRY):
        outcomes = cloud.run_tasks()  # the queued Ack only update, then the sheet write-back
    assert renewed_by_owner(card(cloud, message)["text"])  # not "Acknowledged" again
    assert not has_buttons(card(cloud, message))
    assert results(outcomes) == ["newer card shown", "written"]


def test_a_late_retry_does_not_replace_the_renewal_drive_sync_found_in_the_sheet(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    header, *rows = cloud.sheet_rows()
    rows[0][header.index("expiry_date")] = "2027-12-15"  # someone renews it in the sheet
    cloud.google.add_sheet("local-registry-sheet", "Registry", [header, *rows])
    with later(monkeypatch, LATER):
        assert cloud.drive_sync()["cards_updated"] == 1
    assert card(cloud, message)["text"] == RENEWED_IN_SHEET
    with later(monkeypatch, LAMBDA_RETRY):
        outcomes = cloud.run_tasks()  # the queued Ack only update
    assert card(cloud, message)["text"] == RENEWED_IN_SHEET  # not "Acknowledged" again
    assert results(outcomes) == ["newer card shown"]


def test_a_late_retry_of_an_approval_does_not_replace_where_the_row_went(cloud: LocalCloud) -> None:
    message = propose(cloud)
    cloud.slack.rate_limit("chat.update", retry_after=60)
    # Approve: the click's card update is refused and queued after the append; the append's own card
    # update lands first, then the queued one.
    assert cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))["statusCode"] == 200
    text = card(cloud, message)["text"]
    assert text.startswith("Approved by <@U04BOSS001> on ")
    assert text.endswith(": added to the sheet as ACME-003 (row 3).")  # not "adding it to the sheet"
    assert cloud.tasks_run == [{"item_id": "ACME-003"}, {"result": "newer card shown"}]


def test_an_approval_whose_append_updates_the_card_during_the_click_keeps_where_the_row_went(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = propose(cloud)
    real = SlackGateway.update
    raced: list[bool] = []

    def append_lands_first(self: SlackGateway, *args: Any) -> None:
        # A slow Slack: the append queued by the click runs, and updates the card, before the click's
        # own update ("adding it to the sheet") lands.
        if not raced:
            raced.append(True)
            assert cloud.run_tasks() == [{"item_id": "ACME-003"}]
        real(self, *args)

    monkeypatch.setattr(SlackGateway, "update", append_lands_first)
    assert cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))["statusCode"] == 200
    assert raced and card(cloud, message)["text"].endswith(": added to the sheet as ACME-003 (row 3).")


def test_retries_landing_in_any_order_leave_the_newest_card(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    with later(monkeypatch, LATER):
        view = renew_view(cloud, message)
        cloud.slack.rate_limit("chat.update", retry_after=60)  # the renewal's card update is refused too
        cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    assert has_buttons(card(cloud, message))
    # Lambda runs asynchronous invocations in no set order: the renewal's update first, the Ack's last.
    cloud.pending_tasks.reverse()
    with later(monkeypatch, LAMBDA_RETRY):
        outcomes = cloud.run_tasks()
    assert renewed_by_owner(card(cloud, message)["text"])
    assert sorted(results(outcomes)) == ["newer card shown", "updated", "written"]


# -- the same update again, and the plain retry -------------------------------------------------------


def test_the_same_retry_twice_shows_the_same_card(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    message = alert(cloud)
    task = refused_ack(cloud, message)
    cloud.slack.rate_limit("chat.update", retry_after=60)  # Slack still refuses the first run
    with later(monkeypatch, LAMBDA_RETRY), pytest.raises(SlackUnavailable):
        cloud.run_tasks()  # raised: Lambda tries it again
    assert has_buttons(card(cloud, message))
    shown = []
    for retry in (2 * LAMBDA_RETRY, 3 * LAMBDA_RETRY):  # Lambda's retry, then a duplicate delivery
        with later(monkeypatch, retry):
            cloud.pending_tasks.append(copy.deepcopy(task))
            assert results(cloud.run_tasks()) == ["updated"]
        shown.append(card(cloud, message))
    assert shown[0]["text"].startswith(ACKNOWLEDGED) and shown[0] == shown[1]
    assert not has_buttons(shown[1])


def test_a_deferred_retry_with_nothing_newer_updates_the_card(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    with later(monkeypatch, LAMBDA_RETRY):
        assert results(cloud.run_tasks()) == ["updated"]
    found = card(cloud, message)
    assert found["text"].startswith(ACKNOWLEDGED) and not has_buttons(found)
    assert found["blocks"][:-1] == [b for b in message["blocks"] if b["type"] != "actions"]  # content kept


# -- death between recording a version and the Slack call; two updates at once ----------------------------


def test_a_newer_answer_whose_click_died_before_slack_is_shown_by_the_late_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    with later(monkeypatch, LATER):
        view = renew_view(cloud, message)
        # The renewal and its card's version are recorded; the click dies before Slack hears of it.
        with killed_in(SlackGateway, "update", "before"), pytest.raises(InvocationKilled):
            cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
    assert has_buttons(card(cloud, message))
    with later(monkeypatch, LAMBDA_RETRY):
        cloud.run_tasks()  # the older update shows the newest recorded, not its own line
    assert renewed_by_owner(card(cloud, message)["text"])


def test_a_retry_killed_before_its_slack_call_is_finished_by_lambdas_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    task = refused_ack(cloud, message)
    killed = killed_in(SlackGateway, "update", "before")
    with later(monkeypatch, LAMBDA_RETRY), killed, pytest.raises(InvocationKilled):
        cloud.run_tasks()  # its version is recorded, the card not updated
    with later(monkeypatch, 2 * LAMBDA_RETRY):
        cloud.pending_tasks.append(task)
        assert results(cloud.run_tasks()) == ["updated"]
    assert card(cloud, message)["text"].startswith(ACKNOWLEDGED)


def test_a_newer_update_that_lands_during_a_late_retry_is_put_back(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = alert(cloud)
    refused_ack(cloud, message)
    view = renew_view(cloud, message)
    real = SlackGateway.update
    raced: list[bool] = []

    def renewal_lands_first(self: SlackGateway, *args: Any) -> None:
        # The retry read its version as the newest; before its own call reaches Slack the owner renews
        # (recorded, and shown at once), and then the retry's older line lands.
        if not raced:
            raced.append(True)
            cloud.slack_click(modal_submission(view, "2027-12-15", OWNER), run_tasks=False)
            assert renewed_by_owner(card(cloud, message)["text"])
        real(self, *args)

    monkeypatch.setattr(SlackGateway, "update", renewal_lands_first)
    with later(monkeypatch, LAMBDA_RETRY):
        cloud.run_tasks()
    assert raced and renewed_by_owner(card(cloud, message)["text"])


def test_a_retry_queued_before_cards_had_versions_still_updates_the_card(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CARD_TASK queued by the code before this one (in flight during a deploy) names no version: it
    # ranks below every recorded answer, and still updates a card nothing newer touched.
    message = alert(cloud)
    task = refused_ack(cloud, message)
    cloud.pending_tasks.clear()
    del task["version"]
    cloud.pending_tasks.append(task)
    # ... and the click that queued it recorded no version of the card either.
    key = {"pk": {"S": f"message#{message['channel']}#{message['ts']}"}, "sk": {"S": "versions"}}
    cloud.dynamodb.delete_item(TableName="ew-state", Key=key)
    with later(monkeypatch, LAMBDA_RETRY):
        assert results(cloud.run_tasks()) == ["updated"]
    assert card(cloud, message)["text"].startswith(ACKNOWLEDGED)
