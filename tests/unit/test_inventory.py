"""The seed's inventory is all in template.yaml (issue 12): eight functions, their triggers (five
schedules in the configured timezone, the moves rule, the S3 trigger and the Textract SNS path, the
Function URL), and memory/timeouts as the seed sizes them or with a comment saying why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_sam_template import _getatt, _props, _resources, _template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# logical id: (code folder, the seed's MemorySize, the seed's Timeout or None when it names none)
SEED = {
    "DriveSyncFunction": ("drive_sync", 256, 30),
    "CalendarSyncFunction": ("calendar_sync", 256, 30),
    "IntakeParserFunction": ("intake_parser", 512, 60),
    "DailyTickFunction": ("daily_tick", 512, 60),
    "DispatchFunction": ("dispatch", 256, 30),
    "AckHandlerFunction": ("ack_handler", 256, 15),
    "DigestFunction": ("digest", 256, None),
    "SummaryFunction": ("summary", 512, None),
}
SCHEDULES = {
    "DailyTickFunction": "cron(0 8 * * ? *)",
    "DriveSyncFunction": "rate(15 minutes)",
    "CalendarSyncFunction": "rate(1 hour)",
    "DigestFunction": "cron(0 18 ? * SUN *)",
    "SummaryFunction": "cron(0 9 ? * 2#1 *)",
}


def test_the_eight_functions_are_there_each_with_its_own_handler_folder() -> None:
    functions = _resources("AWS::Serverless::Function")
    assert set(functions) == set(SEED)
    for name, (folder, _, _) in SEED.items():
        assert _props(name)["CodeUri"].rstrip("/") == f"src/{folder}", name
        assert (TEMPLATE.parent / "src" / folder / "app.py").is_file(), name
    globals_ = _template()["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])


@pytest.mark.parametrize(("function", "expression"), sorted(SCHEDULES.items()))
def test_each_scheduled_function_runs_on_the_seeds_schedule_in_the_configured_timezone(
    function: str, expression: str
) -> None:
    schedules = [
        s["Properties"]
        for s in _resources("AWS::Scheduler::Schedule").values()
        if _getatt(s["Properties"]["Target"]["Arn"], "Arn") == function
    ]
    assert len(schedules) == 1, function
    (schedule,) = schedules
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}


def test_dispatch_is_driven_by_the_rule_on_the_three_moves() -> None:
    (rule,) = _resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert sorted(pattern["detail-type"]) == ["ew.escalate", "ew.first_alert", "ew.reminder"]
    (target,) = rule["Properties"]["Targets"]
    assert _getatt(target["Arn"], "Arn") == "DispatchFunction"


def test_forwarded_mail_and_textract_reach_intake_parser() -> None:
    events = _props("IntakeParserFunction")["Events"]
    kinds = {event["Type"]: event["Properties"] for event in events.values()}
    assert kinds["S3"]["Bucket"] == {"Ref": "RawMimeBucket"}
    assert kinds["S3"]["Events"].startswith("s3:ObjectCreated")
    topic = kinds["SNS"]["Topic"]
    topics = _resources("AWS::SNS::Topic")
    assert topic["Ref"] in topics  # Textract's completion notices, the scan's second half


def test_clicks_reach_ack_handler_through_its_public_function_url() -> None:
    assert _props("AckHandlerFunction")["FunctionUrlConfig"] == {"AuthType": "NONE"}


def _sizing_lines(function: str) -> dict[str, tuple[int, list[str]]]:
    """{"MemorySize": (value, the comment lines right above it), "Timeout": ...} as written."""
    lines = TEMPLATE.read_text().splitlines()
    start = lines.index(f"  {function}:")
    found: dict[str, tuple[int, list[str]]] = {}
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("  ") and not lines[i].startswith("   "):
            break  # the next resource
        key, _, value = lines[i].strip().partition(":")
        if key in ("MemorySize", "Timeout"):
            comments = []
            j = i - 1
            while lines[j].strip().startswith("#"):
                comments.append(lines[j].strip())
                j -= 1
            found[key] = (int(value.split("#")[0]), comments)
    return found


@pytest.mark.parametrize("function", sorted(SEED))
def test_memory_and_timeout_are_the_seeds_or_say_why_not(function: str) -> None:
    _, memory, timeout = SEED[function]
    sizing = _sizing_lines(function)
    # A comment above either line explains the sizing of both (they are usually argued together).
    explained = bool(sizing["MemorySize"][1] or sizing["Timeout"][1])
    for key, seed in (("MemorySize", memory), ("Timeout", timeout)):
        value = sizing[key][0]
        assert value == _props(function)[key]
        if seed is not None and value != seed:
            assert explained, f"{function}: {key} {value} departs from the seed's {seed} without a comment"


def test_the_inventory_check_reads_the_template_as_written() -> None:
    # The raw-text reading above and the decoded template agree on every function's sizing.
    for function in SEED:
        props: dict[str, Any] = _props(function)
        sizing = _sizing_lines(function)
        assert (sizing["MemorySize"][0], sizing["Timeout"][0]) == (props["MemorySize"], props["Timeout"])
