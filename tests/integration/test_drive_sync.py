"""drive-sync through the real handler: the sheet and docs read from the Google stand-in with the real
Google client, mirrored into moto's S3 only when changed and only when they read; the admin told once
per problem and once when it is fixed; the tick reads what was mirrored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alerts import ADMIN, ADMIN_SLACK, admin_messages
from crashes import killed_in, run_without_waiting

from ew import runtime
from ew.drive_sync import run_sync
from ew_local.cloud import (
    RULES_DOC_ID,
    SHEET_ID,
    SHEET_TAB,
    VOICE_DOC_ID,
    InvocationKilled,
    LocalCloud,
    load_handler,
)
from opskit.slack import SlackGateway

SA_EMAIL = "ops-sync@fake-project.iam.gserviceaccount.com"
SHEET = (
    "item_id,item,category,expiry_date,owner\n"
    "A-1,Office lease,contract,2027-03-31,U04LEASE01\n"
    "A-2,Van insurance,insurance,1 Jan 2027,U04FIN0001\n"
)
RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
VOICE = "[first_alert]\nHeads up: {item} runs out on {expiry_date}.\n"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    settings = {"timezone": "Europe/London", "admin": ADMIN}
    with LocalCloud(settings, slack_users={ADMIN: ADMIN_SLACK}) as local:
        local.publish(SHEET.encode(), RULES, VOICE)
        yield local


def all_versions(cloud: LocalCloud) -> dict[str, int]:
    return {key: cloud.versions(key) for key in ("registry.csv", "problems.json", "rules.txt", "voice.txt")}


def edit_cell(cloud: LocalCloud, item_id: str, column: str, value: str) -> None:
    """Someone types into the sheet."""
    header, *rows = cloud.sheet_rows()
    for row in rows:
        if row[0] == item_id:
            row += [""] * (len(header) - len(row))
            row[header.index(column)] = value
    cloud.google.add_sheet(SHEET_ID, SHEET_TAB, [header, *rows])


# -- mirroring only what changed ------------------------------------------------------------------------


def test_the_first_sync_mirrors_the_sheet_and_both_docs(cloud: LocalCloud) -> None:
    report = cloud.drive_sync()
    assert report["written"] == ["registry.csv", "problems.json", "rules.txt", "voice.txt"]
    assert cloud.read_source("registry.csv") == SHEET.encode()
    assert cloud.read_source("rules.txt") == RULES.encode()  # Google's BOM and CRLFs taken out
    assert cloud.read_source("voice.txt") == VOICE.encode()
    assert json.loads(cloud.read_source("problems.json") or b"") == {"count": 0, "problems": []}
    assert admin_messages(cloud) == []
    # ... and the tick reads them.
    tick, _ = cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert tick["items"] == 2 and tick["moves"] == {"first_alert": 1}


def test_an_unchanged_sheet_and_docs_write_nothing(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    for _ in range(3):
        report = cloud.drive_sync()
        assert report["written"] == []
    assert all_versions(cloud) == {"registry.csv": 1, "problems.json": 1, "rules.txt": 1, "voice.txt": 1}


def test_a_changed_document_is_written_once_and_nothing_else_is(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    edit_cell(cloud, "A-1", "item", "Office lease - 14 Harbour St")
    assert cloud.drive_sync()["written"] == ["registry.csv"]
    assert cloud.drive_sync()["written"] == []
    assert b"Office lease - 14 Harbour St" in (cloud.read_source("registry.csv") or b"")

    cloud.google.add_doc(VOICE_DOC_ID, VOICE + "\n[reminder]\nStill open: {item}.\n")
    assert cloud.drive_sync()["written"] == ["voice.txt"]
    assert all_versions(cloud) == {"registry.csv": 2, "problems.json": 1, "rules.txt": 1, "voice.txt": 2}


def test_serial_number_dates_are_understood(cloud: LocalCloud) -> None:
    # A date cell formatted as a number shows (and is delivered) as its serial: 46478 is 1 Apr 2027.
    edit_cell(cloud, "A-1", "expiry_date", "46478")
    cloud.drive_sync()
    assert b"A-1,Office lease,contract,2027-04-01,U04LEASE01" in (cloud.read_source("registry.csv") or b"")
    tick, _ = cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert tick["skipped"] == []


# -- last known good ------------------------------------------------------------------------------------


def test_a_header_without_a_required_column_is_kept_out_and_the_admin_told_once(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    good = cloud.read_source("registry.csv")
    _, *rows = cloud.sheet_rows()
    cloud.google.add_sheet(SHEET_ID, SHEET_TAB, [["Item ID", "item", "category", "expires", "owner"], *rows])
    for _ in range(3):
        report = cloud.drive_sync()
        assert report["kept_out"] == ["registry.csv"]
    assert cloud.read_source("registry.csv") == good
    assert admin_messages(cloud) == [
        "The registry sheet was not taken in: 1 problem to fix.\n"
        "• header: the header has no expiry_date column; the sheet needs item_id, item, expiry_date and owner\n\n"
        "The watcher keeps using the last version that read cleanly until it is fixed. "
        "You will hear from me again when it is."
    ]
    # the tick still runs on the last good registry
    assert cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))[0]["items"] == 2

    cloud.google.add_sheet(
        SHEET_ID, SHEET_TAB, [["Item ID", "item", "category", "expiry_date", "owner"], *rows]
    )
    assert cloud.drive_sync()["written"] == ["registry.csv"]
    cloud.drive_sync()
    assert admin_messages(cloud)[1:] == ["The registry sheet reads cleanly again and is now in force."]


@pytest.mark.parametrize(
    ("doc_id", "key", "broken", "problem", "label"),
    [
        (RULES_DOC_ID, "rules.txt", RULES.replace("7 days before", "7 days after"),
         '• line 4: escalate: expected "N days before", found "7 days after"', "The rules doc"),
        (VOICE_DOC_ID, "voice.txt", VOICE + "[reminder]\nHi {itme}\n",
         "• line 4: unknown placeholder {itme}: use one of", "The voice doc"),
    ],
)  # fmt: skip
def test_a_doc_that_does_not_parse_is_kept_out_until_fixed(
    cloud: LocalCloud, doc_id: str, key: str, broken: str, problem: str, label: str
) -> None:
    cloud.drive_sync()
    good = cloud.google.doc_text(doc_id)
    cloud.google.add_doc(doc_id, broken)
    for _ in range(3):
        assert cloud.drive_sync()["kept_out"] == [key]
    assert cloud.read_source(key) == good.encode()
    [told] = admin_messages(cloud)
    assert told.startswith(f"{label} was not taken in: 1 problem to fix.\n")
    assert problem in told

    # A second, different mistake is a new message; the same one again is not.
    cloud.google.add_doc(doc_id, broken + "\n[nonsense]\nx\n")
    cloud.drive_sync()
    cloud.drive_sync()
    assert len(admin_messages(cloud)) == 2

    cloud.google.add_doc(doc_id, good + "\n")
    assert cloud.drive_sync()["written"] == [key]
    cloud.drive_sync()
    assert admin_messages(cloud)[2:] == [f"{label} reads cleanly again and is now in force."]
    assert cloud.versions(key) == 2


def test_the_admin_without_slack_is_emailed(cloud: LocalCloud) -> None:
    cloud.without_slack()
    cloud.google.add_doc(RULES_DOC_ID, "[default]\nfirst alert: soon\n")
    cloud.drive_sync()
    cloud.drive_sync()
    [sent] = cloud.sent_emails()
    assert sent["destinations"] == [ADMIN]
    assert "Subject: Expiry Watcher: the rules doc has a problem and was not taken in" in sent["raw_data"]


# -- row problems do not block ------------------------------------------------------------------------------


def test_bad_rows_are_listed_for_the_digest_and_told_once_each(cloud: LocalCloud) -> None:
    edit_cell(cloud, "A-2", "expiry_date", "sometime")
    report = cloud.drive_sync()
    assert "registry.csv" in report["written"] and report["rows_skipped"] == 1
    assert json.loads(cloud.read_source("problems.json") or b"") == {
        "count": 1,
        "problems": [{"where": "row 3, column expiry_date",
                      "message": '"sometime" is not a date: write it like 2026-03-01 or 1 Mar 2026'}],
    }  # fmt: skip
    cloud.drive_sync()
    edit_cell(cloud, "A-1", "owner", "bob")
    cloud.drive_sync()
    cloud.drive_sync()
    first, second = admin_messages(cloud)
    assert first.startswith("1 new problem in the registry sheet (1 row skipped in all until fixed;")
    assert "• row 3, column expiry_date:" in first
    assert second.startswith("1 new problem in the registry sheet (2 rows skipped in all until fixed;")
    assert "• row 2, column owner:" in second and "row 3" not in second

    edit_cell(cloud, "A-1", "owner", "U04LEASE01")
    edit_cell(cloud, "A-2", "expiry_date", "1 Jan 2027")
    cloud.drive_sync()
    cloud.drive_sync()
    assert admin_messages(cloud)[2:] == [
        "The registry sheet reads cleanly again: every row and column is read."
    ]
    assert json.loads(cloud.read_source("problems.json") or b"")["count"] == 0


# -- Google says no ------------------------------------------------------------------------------------------


def test_a_sheet_not_shared_is_told_once_with_whom_to_share_it(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    cloud.google.unshare(SHEET_ID)
    for _ in range(3):
        assert cloud.drive_sync()["unreadable"] == ["registry"]
    assert admin_messages(cloud) == [
        "I cannot read the registry sheet: Google Sheets refused the request (403): the service account has "
        f"no access to the sheet — share it with {SA_EMAIL}.\n\nUntil then the last version I read stays in force."
    ]
    cloud.google.share(SHEET_ID)
    cloud.drive_sync()
    assert admin_messages(cloud)[1:] == ["The registry sheet reads cleanly again and is now in force."]


def test_a_doc_with_a_wrong_id_is_told_once(cloud: LocalCloud) -> None:
    cloud.google.unshare(VOICE_DOC_ID)
    cloud.drive_sync()
    cloud.drive_sync()
    [told] = admin_messages(cloud)
    assert told.startswith(
        f"I cannot read the voice doc: Google Drive refused the request (404): the voice doc ({VOICE_DOC_ID}) "
        f"was not found: check its ID, and share it with {SA_EMAIL} (Viewer is enough)."
    )


def sync_without_waiting(cloud: LocalCloud) -> tuple[dict[str, Any], list[float]]:
    return run_without_waiting("drive_sync", run_sync)


def test_429s_are_retried_with_backoff(cloud: LocalCloud) -> None:
    cloud.google.fail("/values/", 429, times=2)
    cloud.google.fail("/export", 403, times=1, reason="rateLimitExceeded")
    report, waits = sync_without_waiting(cloud)
    assert report["written"] == ["registry.csv", "problems.json", "rules.txt", "voice.txt"]
    assert len(waits) == 3 and report["failed"] == []
    assert admin_messages(cloud) == []


def test_google_down_keeps_everything_and_fails_the_run_without_telling_the_admin(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    edit_cell(cloud, "A-1", "item", "Changed")
    cloud.google.fail("/values/", 503, times=100)
    report, waits = sync_without_waiting(cloud)
    assert report["failed"] == ["registry"] and report["unchanged"] == ["rules.txt", "voice.txt"]
    assert len(waits) == 4  # five tries in all
    assert cloud.versions("registry.csv") == 1 and admin_messages(cloud) == []
    # Through the handler the run fails, so a lasting outage reaches the Errors alarm.
    cloud.google.reset()
    cloud.google.fail("/values/", 503, times=100)
    handler = load_handler("drive_sync")
    handler.RESERVE_SECONDS = 10**6  # no time left for retries: fail at once
    try:
        with pytest.raises(handler.SyncIncomplete, match="Google did not answer in time for: registry"):
            cloud.drive_sync()
    finally:
        handler.RESERVE_SECONDS = 20


def test_no_admin_configured_fails_loudly(cloud: LocalCloud) -> None:
    import boto3

    boto3.client("ssm").delete_parameter(Name="/ew/config/admin")
    runtime.reset()
    cloud.google.add_doc(RULES_DOC_ID, "nonsense")
    from ew.admin import AdminUnreachable

    with pytest.raises(AdminUnreachable, match="set /ew/config/admin to a Slack user ID or an email"):
        cloud.drive_sync()


def test_the_sample_scheduler_event_runs_the_handler(cloud: LocalCloud) -> None:
    from ew_local.cloud import ROOT, LambdaContext

    event = json.loads((ROOT / "events" / "drive_sync" / "scheduled.json").read_text())
    report = cloud.drive_sync_handler(event, LambdaContext("ew-drive-sync", 1024))
    assert report["written"] == ["registry.csv", "problems.json", "rules.txt", "voice.txt"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_run_killed_around_telling_the_admin_tells_them_at_least_once_and_then_no_more(
    cloud: LocalCloud, when: str
) -> None:
    """README: the admin hears of a problem once; a run that dies between the message and its record
    says it once more (never not at all)."""
    cloud.drive_sync()
    cloud.google.add_doc(RULES_DOC_ID, "[default]\nfirst alert: soon\n")
    with killed_in(SlackGateway, "post", when), pytest.raises(InvocationKilled):
        cloud.drive_sync()
    for _ in range(3):
        cloud.drive_sync()
    told = admin_messages(cloud)
    assert len(told) == (2 if when == "after" else 1)
    assert len(set(told)) == 1 and told[0].startswith("The rules doc was not taken in")
