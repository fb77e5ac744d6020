"""The summary function through its real handler on the local cloud, with Bedrock's Converse API stubbed
on a real bedrock-runtime client (botocore Stubber: moto does not implement converse). The email is
read back from moto's SES."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date, datetime, time
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.stub import Stubber

from ew import runtime
from ew.monthly_summary import MODEL_ID, SummaryError, build_figures
from ew.summary import SYSTEM_PROMPT, MonthFigures, narrative_prompt, plain_paragraph
from ew_local.cloud import LambdaContext, LocalCloud, load_handler
from ew_local.report import replay
from ew_local.simulate import ScriptedAck, Simulation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
LONDON = ZoneInfo("Europe/London")
SETTINGS = {
    "timezone": "Europe/London",
    "holidays": "GB-ENG",
    "admin": "ops@acme.example",
    "summary_recipients": "ceo@acme.example, cfo@acme.example",
}
FIRST_MONDAY = datetime.combine(date(2026, 12, 7), time(9), LONDON)


@pytest.fixture(scope="module")
def november() -> Iterator[LocalCloud]:
    """November 2026 on the example, replayed once: clicks included, one of them a renewal."""
    with LocalCloud(SETTINGS) as cloud:
        cloud.mirror(*((EXAMPLE / n).read_bytes() for n in ("registry.csv", "rules.txt", "voice.txt")))
        from ew.items import load_registry

        sim = Simulation(cloud, load_registry((EXAMPLE / "registry.csv").read_bytes()).items, "Europe/London")
        clicks = [
            ScriptedAck(date(2026, 11, 24), "ACME-002", "renew", date(2027, 12, 15), 1),
            ScriptedAck(date(2026, 11, 25), "ACME-010", "snooze", date(2026, 12, 2), 2),
            ScriptedAck(date(2026, 11, 26), "ACME-013", "ack_only", None, 3),
        ]
        replay(sim, date(2026, 11, 16), date(2026, 11, 30), clicks)
        yield cloud


@pytest.fixture
def cloud(november: LocalCloud) -> Iterator[LocalCloud]:
    """The replayed month, with this test's summary claim and stand-in forgotten afterwards."""
    yield november
    november.dynamodb.delete_item(TableName="ew-state", Key={"pk": {"S": "summary"}, "sk": {"S": "2026-11"}})
    runtime.use_client("bedrock-runtime", None)


def bedrock(cloud: LocalCloud) -> tuple[Any, Stubber, list[dict[str, Any]]]:
    """A real bedrock-runtime client, stubbed, served to the handler; and the requests it received."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse", lambda params, **_: sent.append(params)
    )
    stub = Stubber(client)
    runtime.use_client("bedrock-runtime", client)
    return client, stub, sent


def answer(text: str, stop: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 180, "outputTokens": 90, "totalTokens": 270},
        "metrics": {"latencyMs": 900},
    }


def run(cloud: LocalCloud) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("summary").handler(
        {"scheduled_time": FIRST_MONDAY.isoformat()}, LambdaContext("ew-summary", 512)
    )
    return result


def figures(cloud: LocalCloud) -> MonthFigures:
    return build_figures(load_handler("summary").deps(), date(2026, 11, 1))


def last_email(cloud: LocalCloud) -> email.message.EmailMessage:
    return email.message_from_string(cloud.sent_emails()[-1]["raw_data"], policy=policy.default)


def text_of(message: email.message.EmailMessage, kind: str = "plain") -> str:
    body = message.get_body(preferencelist=(kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_the_figures_of_the_replayed_month(cloud: LocalCloud) -> None:
    f = figures(cloud)
    assert (f.renewals, f.snoozes, f.ack_only) == (1, 1, 1)
    assert f.alerts_by_move == {"first_alert": 12, "reminder": 13, "escalate": 4}
    assert f.alerts == 29
    assert f.days_to_renewal == [8]  # ACME-002: renewed 8 days after its first alert
    assert f.expired == []  # nothing expired unrenewed in the replayed month


def test_the_board_gets_the_models_paragraph_when_every_number_is_a_figure(cloud: LocalCloud) -> None:
    f = figures(cloud)
    paragraph = (
        f"In November 2026 the watcher sent {f.alerts} alerts to owners. {f.renewals} item was renewed, "
        f"and owners snoozed {f.snoozes} reminder and acknowledged {f.ack_only} other."
    )
    _, stub, sent = bedrock(cloud)
    stub.add_response("converse", answer(paragraph))
    before = len(cloud.sent_emails())
    with stub:
        result = run(cloud)
    stub.assert_no_pending_responses()

    assert (result["status"], result["narrative"], result["fallback"]) == ("sent", "model", "")
    [request] = sent
    assert request["modelId"] == MODEL_ID == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert request["system"] == [{"text": SYSTEM_PROMPT}]
    assert request["messages"] == [{"role": "user", "content": [{"text": narrative_prompt(f)}]}]
    assert len(cloud.sent_emails()) == before + 1
    message = last_email(cloud)
    assert message["To"] == "ceo@acme.example, cfo@acme.example"
    assert message["Subject"] == "Expiry Watcher: November 2026 summary"
    body = text_of(message)
    assert body.startswith(paragraph + "\n\nThe figures for November 2026:\n- Alerts sent: ")
    assert "written by Claude Haiku 4.5 on Amazon Bedrock from these figures only" in body
    assert f"<p>{paragraph}</p>" in text_of(message, "html")

    # Once a month: the schedule delivering the same run again sends nothing and asks no model.
    assert run(cloud)["status"] == "duplicate"
    assert len(cloud.sent_emails()) == before + 1


def test_a_paragraph_with_an_invented_number_is_replaced_by_the_plain_one(cloud: LocalCloud) -> None:
    f = figures(cloud)
    _, stub, _ = bedrock(cloud)
    stub.add_response("converse", answer(f"The watcher sent {f.alerts + 7} alerts, up 12% on October."))
    with stub:
        result = run(cloud)
    assert (result["status"], result["narrative"]) == ("sent", "plain")
    assert (
        result["fallback"]
        == f"rejected the model's paragraph: numbers that are not among the figures: {f.alerts + 7}, 12%"
    )
    body = text_of(last_email(cloud))
    assert body.startswith(plain_paragraph(f) + "\n\n")
    assert str(f.alerts + 7) not in body and "written by Claude" not in body


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("ThrottlingException", "Bedrock is throttling requests"),
        ("AccessDeniedException", "access denied"),
        ("ServiceUnavailableException", "Bedrock is unavailable"),
        ("empty", "the answer had no text"),
        ("cut off", "the answer was cut off"),
    ],
)
def test_when_bedrock_fails_the_plain_figures_email_goes_out_anyway(
    cloud: LocalCloud, failure: str, reason: str
) -> None:
    _, stub, _ = bedrock(cloud)
    if failure == "empty":
        stub.add_response(
            "converse", {**answer(""), "output": {"message": {"role": "assistant", "content": []}}}
        )
    elif failure == "cut off":
        stub.add_response("converse", answer("In November 2026 the watcher sent", stop="max_tokens"))
    else:
        # A single error answer: the stubbed client does not retry (the real one tries twice).
        stub.add_client_error(
            "converse", service_error_code=failure, service_message="no", http_status_code=400
        )
    before = len(cloud.sent_emails())
    with stub:
        result = run(cloud)
    assert (result["status"], result["narrative"]) == ("sent", "plain")
    assert reason in result["fallback"]
    assert len(cloud.sent_emails()) == before + 1
    message = last_email(cloud)
    assert message["To"] == "ceo@acme.example, cfo@acme.example"
    body = text_of(message)
    f = figures(cloud)
    assert body.startswith(plain_paragraph(f) + "\n\nThe figures for November 2026:\n")
    assert f"- Renewals: {f.renewals}\n- Snoozes: {f.snoozes}\n- Ack only: {f.ack_only}\n" in body


def test_a_bad_month_and_nobody_to_send_to_are_said_in_plain_words(cloud: LocalCloud) -> None:
    with pytest.raises(SummaryError, match='"month" must look like 2026-11, found "Nov"'):
        load_handler("summary").handler({"month": "Nov"}, LambdaContext("ew-summary", 512))
    ssm = boto3.client("ssm")
    ssm.delete_parameter(Name="/ew/config/summary_recipients")
    ssm.put_parameter(Name="/ew/config/admin", Value="U04OPS0001", Type="String", Overwrite=True)
    runtime.reset()
    before = len(cloud.sent_emails())
    try:
        with pytest.raises(
            SummaryError, match="nobody to send the summary to: set /ew/config/summary_recipients"
        ):
            run(cloud)
    finally:
        ssm.put_parameter(
            Name="/ew/config/summary_recipients", Value=SETTINGS["summary_recipients"], Type="String"
        )
        ssm.put_parameter(Name="/ew/config/admin", Value=SETTINGS["admin"], Type="String", Overwrite=True)
        runtime.reset()
    assert len(cloud.sent_emails()) == before
    # Nothing was claimed: once the setting is fixed, the retry sends.
    assert run(cloud)["status"] == "sent"


def test_the_event_fixture_drives_the_handler(cloud: LocalCloud) -> None:
    import json

    event = json.loads((EXAMPLE.parents[1] / "events" / "summary" / "scheduled.json").read_text())
    result = load_handler("summary").handler(event, LambdaContext("ew-summary", 512))
    assert (result["status"], result["month"]) == ("sent", "2026-11")
