"""docs/deploy.md, the operator's guide: every AWS command names its region, and the sections an operator
needs from an empty account to teardown are there (issue 12, item 5)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"

# Code blocks, also those indented inside a numbered step.
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
# An inline code span may wrap onto the next line of its paragraph, never across a blank line.
SPAN = re.compile(r"`((?:[^`\n]|\n(?!\s*\n))+)`")
# Where one shell command ends and the next begins (pipes, lists, command substitution).
SEPARATOR = re.compile(r"\|\||&&|\||;|\$\(")
# `aws <service>`, `sam deploy`, `sam delete` at a command position: not `/aws/lambda/...`, not `aws-actions`.
NEEDS_REGION = re.compile(r"(?<![\w/.-])(?:aws\s+[a-z][a-z0-9-]*|sam\s+(?:deploy|delete))\b")


def shell_lines(block: str) -> list[str]:
    """The logical lines of a shell block: lines ending in a backslash joined to the next, comments dropped."""
    joined = re.sub(r"\\\n", " ", block)
    return [line for line in joined.splitlines() if not line.lstrip().startswith("#")]


def commands(markdown: str) -> list[str]:
    """Every command the guide shows, from code blocks and from inline code in the prose and tables."""
    found: list[str] = []
    for block in FENCE.findall(markdown):
        found += shell_lines(block)
    prose = FENCE.sub("", markdown)
    found += [" ".join(span.split()) for span in SPAN.findall(prose)]
    return found


def commands_without_region(markdown: str) -> list[str]:
    missing = []
    for command in commands(markdown):
        if command.strip() in {"sam deploy", "sam delete"}:
            continue  # the name of a step ("the workflow runs `sam deploy`"), not a command to type
        for piece in SEPARATOR.split(command):
            if NEEDS_REGION.search(piece) and "--region" not in piece:
                missing.append(command.strip())
                break
    return missing


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def headings() -> list[str]:
    return [line.lstrip("#").strip() for line in guide().splitlines() if line.startswith("## ")]


def test_every_aws_and_sam_deploy_command_in_the_guide_passes_the_region() -> None:
    assert commands_without_region(guide()) == []


def test_the_region_check_catches_a_command_that_forgets_it() -> None:
    sample = (
        "Run `aws ssm put-parameter --name x` then:\n\n"
        "```sh\n"
        "aws cloudformation delete-stack \\\n"
        "  --stack-name expiry-watcher\n"
        "# aws s3 ls  (a comment, not a command)\n"
        'aws s3 ls --region "$AWS_REGION" | xargs aws s3 rm\n'
        "sam build\n"
        'sam deploy --region "$AWS_REGION"\n'
        "sam deploy --guided\n"
        "```\n\n"
        "1. A step with its own block, and a wrapped `aws sesv2 get-account\n"
        "   --query x`:\n\n"
        "   ```sh\n"
        "   aws logs tail /aws/lambda/ew-dispatch\n"
        "   ```\n\n"
        "Logs are in `/aws/lambda/ew-dispatch`; the workflow runs `sam deploy`.\n"
    )
    assert commands_without_region(sample) == [
        "aws cloudformation delete-stack    --stack-name expiry-watcher",
        'aws s3 ls --region "$AWS_REGION" | xargs aws s3 rm',
        "sam deploy --guided",
        "aws logs tail /aws/lambda/ew-dispatch",
        "aws ssm put-parameter --name x",
        "aws sesv2 get-account --query x",
    ]


def test_the_guide_sets_the_region_once_at_the_top() -> None:
    first_command = guide().index("aws ")
    assert guide().index("export AWS_REGION=") < first_command


def test_the_guide_has_the_operator_sections_through_teardown_and_cost() -> None:
    titles = " | ".join(headings()).lower()
    for wanted in ("bootstrap", "ses", "google", "secrets", "settings", "first deploy", "slack app"):
        assert wanted in titles, wanted
    for wanted in ("check that it works", "alarms", "rollback and teardown", "costs"):
        assert wanted in titles, wanted


def test_teardown_names_the_steps_that_otherwise_leave_things_behind() -> None:
    text = guide()
    teardown = text[text.index("## 13. Rollback and teardown") :]
    for step in (
        "continue-update-rollback",
        "rollback-stack",
        "delete-stack",
        "aws ses set-active-receipt-rule-set --region",  # deactivate: no rule set name
        "--force-delete-without-recovery",
        "/ew/config/",
        "list-object-versions",  # versioned buckets: versions and delete markers first
        "expiry-watcher-bootstrap",
    ):
        assert step in teardown, step


def test_the_cost_table_counts_the_alarms_and_secrets_the_stack_really_has() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    text = guide()
    cost = text[text.index("## 14.") :]
    assert f"{len(alarms)} alarms in template.yaml = ${len(alarms) * 0.10:.2f}" in cost
    secrets = re.findall(r"create-secret --region \"\$AWS_REGION\" --name (\S+)", text)
    assert f"{len(secrets)} secrets = ${len(secrets) * 0.40:.2f}" in cost
