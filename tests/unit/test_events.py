import json
from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.stub import Stubber

from opskit.events import MAX_ENTRY_BYTES, event_entry, put_all


@pytest.fixture
def aws(moto_aws):
    yield


class Recorder:
    """Counts PutEvents calls made through a client."""

    def __init__(self, client):
        self.calls = 0
        client.meta.events.register("before-call.events.PutEvents", self._count)

    def _count(self, **_):
        self.calls += 1


def _bus_with_queue():
    """The default bus with a rule sending every "test.source" event to an SQS queue to read back."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="captured")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="capture", EventPattern=json.dumps({"source": ["test.source"]}))
    events.put_targets(Rule="capture", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return events, sqs, queue_url


def _drain(sqs, queue_url):
    bodies: list[dict] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_event_entry_serialises_dates_as_iso_strings():
    entry = event_entry(
        "test.source",
        "thing.happened",
        {"day": date(2026, 3, 1), "at": datetime(2026, 3, 1, 8, 0, tzinfo=UTC), "n": 1},
        bus="custom-bus",
    )
    assert entry["Source"] == "test.source"
    assert entry["DetailType"] == "thing.happened"
    assert entry["EventBusName"] == "custom-bus"
    assert json.loads(entry["Detail"]) == {"day": "2026-03-01", "at": "2026-03-01T08:00:00+00:00", "n": 1}


def test_event_entry_refuses_an_oversized_detail_in_plain_words():
    with pytest.raises(ValueError, match=r"at most 262144 bytes per event"):
        event_entry("test.source", "big", {"blob": "x" * MAX_ENTRY_BYTES})


def test_event_entry_refuses_values_json_cannot_carry():
    with pytest.raises(TypeError, match="cannot put a set into JSON"):
        event_entry("test.source", "bad", {"tags": {"a"}})


def test_25_entries_go_out_in_3_calls_and_all_arrive(aws):
    events, sqs, queue_url = _bus_with_queue()
    recorder = Recorder(events)
    entries = [event_entry("test.source", "thing.happened", {"n": n}) for n in range(25)]

    assert put_all(events, entries, sleep=pytest.fail) == []

    assert recorder.calls == 3
    received = _drain(sqs, queue_url)
    assert sorted(body["detail"]["n"] for body in received) == list(range(25))
    assert {body["detail-type"] for body in received} == {"thing.happened"}


def test_batches_also_respect_the_total_request_size(aws):
    events, sqs, queue_url = _bus_with_queue()
    recorder = Recorder(events)
    # Three entries of ~150 KB: any two together pass 256 KB, so each goes alone.
    entries = [event_entry("test.source", "big", {"n": n, "blob": "x" * 150_000}) for n in range(3)]

    assert put_all(events, entries) == []

    assert recorder.calls == 3
    assert sorted(body["detail"]["n"] for body in _drain(sqs, queue_url)) == [0, 1, 2]


def _ok(n):
    return {"EventId": f"id-{n}"}


def _fail(code):
    return {"ErrorCode": code, "ErrorMessage": "try again"}


def test_only_the_failed_entries_are_sent_again(aws):
    client = boto3.client("events")
    entries = [event_entry("test.source", "thing", {"n": n}) for n in range(4)]
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 2,
                "Entries": [_ok(0), _fail("InternalFailure"), _ok(2), _fail("ThrottlingException")],
            },
            {"Entries": entries},
        )
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [_ok(1), _ok(3)]},
            {"Entries": [entries[1], entries[3]]},
        )
        assert put_all(client, entries, sleep=sleeps.append) == []
        stub.assert_no_pending_responses()
    assert len(sleeps) == 1 and 0 < sleeps[0] < 1


def test_entries_still_failing_after_max_attempts_are_returned_with_their_error(aws):
    client = boto3.client("events")
    entries = [event_entry("test.source", "thing", {"n": n}) for n in range(2)]
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [_ok(0), _fail("InternalFailure")]},
            {"Entries": entries},
        )
        for _ in range(2):
            stub.add_response(
                "put_events",
                {"FailedEntryCount": 1, "Entries": [_fail("InternalFailure")]},
                {"Entries": [entries[1]]},
            )
        failed = put_all(client, entries, max_attempts=3, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert failed == [{**entries[1], "ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]
    assert sleeps == sorted(sleeps) and len(sleeps) == 2  # backs off, growing


def test_errors_that_cannot_heal_are_not_retried(aws):
    client = boto3.client("events")
    entries = [event_entry("test.source", "thing", {"n": n}) for n in range(2)]
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [_fail("MalformedDetail"), _ok(1)]},
            {"Entries": entries},
        )
        failed = put_all(client, entries, sleep=pytest.fail)
        stub.assert_no_pending_responses()
    assert [f["ErrorCode"] for f in failed] == ["MalformedDetail"]
    assert json.loads(failed[0]["Detail"]) == {"n": 0}


def test_a_call_that_fails_as_a_whole_returns_its_batch(aws):
    client = boto3.client("events")
    entries = [event_entry("test.source", "thing", {"n": n}) for n in range(12)]
    with Stubber(client) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [_ok(n) for n in range(10)]})
        stub.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)
        failed = put_all(client, entries, sleep=pytest.fail)
    assert [json.loads(f["Detail"])["n"] for f in failed] == [10, 11]
    assert {f["ErrorCode"] for f in failed} == {"AccessDeniedException"}


def test_max_attempts_below_one_is_refused(aws):
    with pytest.raises(ValueError):
        put_all(boto3.client("events"), [], max_attempts=0)
