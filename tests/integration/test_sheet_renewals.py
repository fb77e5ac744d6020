"""A renewal typed into the sheet (an item's expiry moved later while its chain is open): drive-sync
updates the open Slack card and archives the chain; and wherever the run dies, the next one finishes
the job without writing anything twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alerts import ADMIN, ADMIN_SLACK, admin_messages, current, set_expiry
from crashes import killed_around, killed_at_write, killed_in

from ew.audit import AuditLog
from ew_local.cloud import RULES_DOC_ID, InvocationKilled, LocalCloud
from opskit.slack import SlackGateway

SHEET = (
    "item_id,item,category,expiry_date,owner,renewal_term\n"
    "A-1,Office lease,contract,2027-03-31,U04LEASE01,1 year\n"
    "A-2,Van insurance,insurance,1 Jan 2027,U04FIN0001,1 year\n"
)
RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
TICK = datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": ADMIN}, slack_users={ADMIN: ADMIN_SLACK}) as local:
        local.publish(SHEET.encode(), RULES, "")
        local.drive_sync()
        local.tick(TICK)  # A-2 gets its first alert, a Slack card to U04FIN0001
        yield local


def card(cloud: LocalCloud, item_id: str = "A-2") -> dict[str, Any]:
    """The open card of the item's one ping, with where it is (channel, ts)."""
    [record] = cloud.store.chain_pings(item_id)
    assert record.message_ref
    channel, ts = record.message_ref.split("/")
    return {**current(cloud, {"channel": channel, "ts": ts}), "channel": channel, "ts": ts}


def archived(cloud: LocalCloud, item_id: str) -> list[dict[str, Any]]:
    rows = cloud.dynamodb.query(
        TableName="ew-pings-archive",
        KeyConditionExpression="item_id = :i",
        ExpressionAttributeValues={":i": {"S": item_id}},
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in row.items()} for row in rows]


def killed_at_s3_write(key: str, when: str) -> Any:
    """The next S3 write of `key` kills the run: `before` it reaches S3, or right `after` S3 took it."""
    return killed_around("s3", "PutObject", when, match=lambda params: params.get("Key") == key)


def test_a_renewal_typed_into_the_sheet_updates_the_open_card_and_archives_the_chain(
    cloud: LocalCloud,
) -> None:
    before = card(cloud)
    assert any(block["type"] == "actions" for block in before["blocks"])
    set_expiry(cloud, "A-2", "1 Jan 2028")

    report = cloud.drive_sync()
    assert (report["renewals"], report["archived"], report["cards_updated"]) == (1, 1, 1)
    after = current(cloud, before)
    assert after["text"] == ":white_check_mark: Renewed in the sheet: new expiry 1 Jan 2028."
    assert [b["type"] for b in after["blocks"]] == ["section", "context", "context"]
    assert after["blocks"][0] == before["blocks"][0]  # the message itself still reads as sent
    assert after["blocks"][-1]["elements"][0]["text"] == after["text"]
    assert cloud.store.chain_pings("A-2") == []
    [row] = archived(cloud, "A-2")
    assert (row["cycle_expiry"], row["move"], row["recipient"]) == ("2027-01-01", "first_alert", "U04FIN0001")
    [entry] = [e for e in AuditLog(cloud.dynamodb, "ew-audit").for_item("A-2")]
    assert (entry.action, entry.by_user, entry.before, entry.after) == (
        "sheet_renewal", "drive-sync", {"expiry_date": "2027-01-01"}, {"expiry_date": "2028-01-01"}
    )  # fmt: skip

    again = cloud.drive_sync()
    assert (again["renewals"], again["written"]) == (0, [])
    assert len(cloud.slack.calls("chat.update")) == 1
    # The next tick starts the new cycle quietly: 1 Jan 2028 is far off.
    tick, sent = cloud.tick(datetime(2026, 11, 24, 8, tzinfo=UTC))
    assert tick["moves"] == {} and sent == []


def test_an_earlier_expiry_or_an_item_without_pings_is_no_renewal(cloud: LocalCloud) -> None:
    set_expiry(cloud, "A-2", "15 Dec 2026")  # a correction, not a renewal
    set_expiry(cloud, "A-1", "2028-03-31")  # renewed, but it had no open chain
    report = cloud.drive_sync()
    assert report["written"] == ["registry.csv"] and report["renewals"] == 0
    assert cloud.slack.calls("chat.update") == []
    assert len(cloud.store.chain_pings("A-2")) == 1


def test_death_right_after_writing_the_registry_is_finished_by_the_next_run(cloud: LocalCloud) -> None:
    where = card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    with killed_at_s3_write("registry.csv", "after"), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    assert cloud.versions("registry.csv") == 2  # the new registry is in force ...
    assert cloud.slack.calls("chat.update") == []  # ... but the card was not updated yet

    report = cloud.drive_sync()
    assert report["written"] == [] and cloud.versions("registry.csv") == 2  # not written twice
    assert (report["renewals"], report["cards_updated"]) == (1, 1)
    assert current(cloud, where)["text"].startswith(":white_check_mark: Renewed in the sheet")
    assert cloud.store.chain_pings("A-2") == []


def test_death_before_the_registry_write_leaves_the_renewal_for_the_next_run(cloud: LocalCloud) -> None:
    where = card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    with killed_at_s3_write("registry.csv", "before"), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    assert cloud.versions("registry.csv") == 1 and len(cloud.store.chain_pings("A-2")) == 1

    report = cloud.drive_sync()
    assert report["written"] == ["registry.csv"] and report["renewals"] == 1
    assert current(cloud, where)["text"].startswith(":white_check_mark: Renewed in the sheet")


def test_a_renewal_taken_back_before_the_next_run_is_dropped(cloud: LocalCloud) -> None:
    card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    with killed_at_s3_write("registry.csv", "after"), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    set_expiry(cloud, "A-2", "1 Jan 2027")  # a typo, put right
    report = cloud.drive_sync()
    assert report["written"] == ["registry.csv"] and report["renewals"] == 0
    assert cloud.slack.calls("chat.update") == [] and len(cloud.store.chain_pings("A-2")) == 1
    assert cloud.drive_sync()["renewals"] == 0  # and it stays dropped


def test_slack_down_keeps_the_renewal_until_the_card_can_be_updated(cloud: LocalCloud) -> None:
    where = card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    cloud.slack.fail("chat.update", "internal_error", status=500, times=3)  # every retry of one call
    report = cloud.drive_sync()
    assert report["renewals"] == 0 and len(cloud.store.chain_pings("A-2")) == 1
    report = cloud.drive_sync()
    assert (report["renewals"], report["archived"]) == (1, 1)
    assert current(cloud, where)["text"].startswith(":white_check_mark: Renewed in the sheet")


def test_death_after_a_fixed_doc_is_written_still_tells_the_admin_it_is_fixed(cloud: LocalCloud) -> None:
    cloud.google.add_doc(RULES_DOC_ID, "[default]\nfirst alert: soon\n")
    cloud.drive_sync()
    cloud.google.add_doc(RULES_DOC_ID, RULES + "\n")
    with killed_at_s3_write("rules.txt", "after"), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    told = admin_messages(cloud)
    assert len(told) == 1  # only the problem so far
    report = cloud.drive_sync()
    assert report["written"] == [] and cloud.versions("rules.txt") == 2
    told = admin_messages(cloud)
    assert told[1:] == ["The rules doc reads cleanly again and is now in force."]


@pytest.mark.parametrize(
    "kill_it",
    [
        lambda: killed_in(SlackGateway, "update", "after"),
        lambda: killed_around(
            "dynamodb", "BatchWriteItem", "after", match=lambda p: "ew-pings-archive" in p["RequestItems"]
        ),
        lambda: killed_at_write("ew-audit", "before"),
        lambda: killed_at_write("ew-audit", "after"),
    ],
    ids=["after the card update", "after the archive copy", "before the audit row", "after the audit row"],
)
def test_death_while_closing_a_renewed_chain_is_finished_by_the_next_run_once(
    cloud: LocalCloud, kill_it: Callable[[], Any]
) -> None:
    where = card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    with kill_it(), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    cloud.drive_sync()
    cloud.drive_sync()
    assert current(cloud, where)["text"].startswith(":white_check_mark: Renewed in the sheet")
    assert cloud.store.chain_pings("A-2") == [] and len(archived(cloud, "A-2")) == 1
    entries = [e for e in AuditLog(cloud.dynamodb, "ew-audit").for_item("A-2") if e.action == "sheet_renewal"]
    assert len(entries) == 1 and entries[0].after == {"expiry_date": "2028-01-01"}


def test_a_card_slack_would_not_update_is_updated_after_the_tick_archived_its_chain(
    cloud: LocalCloud,
) -> None:
    where = card(cloud)
    set_expiry(cloud, "A-2", "1 Jan 2028")
    cloud.slack.fail("chat.update", "internal_error", status=500, times=3)  # every retry of one call
    assert cloud.drive_sync()["renewals"] == 0
    # The next morning's tick reads the new expiry and archives the old cycle's chain itself.
    tick, sent = cloud.tick(datetime(2026, 11, 24, 8, tzinfo=UTC))
    assert tick["archived"] == 1 and sent == [] and cloud.store.chain_pings("A-2") == []

    report = cloud.drive_sync()
    assert (report["renewals"], report["cards_updated"], report["archived"]) == (1, 1, 0)
    after = current(cloud, where)
    assert after["text"] == ":white_check_mark: Renewed in the sheet: new expiry 1 Jan 2028."
    assert not any(block["type"] == "actions" for block in after["blocks"])
    assert cloud.drive_sync()["renewals"] == 0
    assert len(archived(cloud, "A-2")) == 1
    entries = [e for e in AuditLog(cloud.dynamodb, "ew-audit").for_item("A-2") if e.action == "sheet_renewal"]
    assert len(entries) == 1 and entries[0].after == {"expiry_date": "2028-01-01"}
