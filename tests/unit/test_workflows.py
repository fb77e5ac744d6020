"""The GitHub workflows, read as data: a commit is deployed only after CI passed on it, only the deploy job
can get AWS credentials, and every action is pinned by commit SHA (DESIGN.md §12, issue 12)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
MAIN = "github.ref == 'refs/heads/main'"
# `if:` functions that let a job run although a job it needs failed or was cancelled.
STATUS_OVERRIDES = ("always()", "failure()", "cancelled()")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
CI_TARGETS = ["lint", "lint-workflows", "validate", "build", "layer-size", "test"]


def _load(path: Path) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def _jobs(path: Path) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = _load(path)["jobs"]
    return jobs


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).split("@")[0] == action]


def _deploying_jobs() -> list[tuple[Path, str]]:
    """Every job, in any workflow, that can get AWS credentials or an OIDC token."""
    return [
        (path, name)
        for path in WORKFLOWS
        for name, job in _jobs(path).items()
        if _uses(job, "aws-actions/configure-aws-credentials")
        or (job.get("permissions") or {}).get("id-token") == "write"
        or "uses" in job  # a reusable workflow would carry its caller's permissions
    ]


def test_the_only_job_that_can_deploy_is_cis_deploy_job():
    assert WORKFLOWS, "no workflows"
    assert _deploying_jobs() == [(CI, "deploy")]
    for path in WORKFLOWS:
        triggers = _load(path)["on"]
        # workflow_run would run with the default branch's code and secrets on another run's event.
        assert "workflow_run" not in triggers and "pull_request_target" not in triggers, path.name


def test_deploy_runs_only_after_ci_passed_on_the_same_commit():
    workflow = _load(CI)
    jobs = workflow["jobs"]
    deploy, ci = jobs["deploy"], jobs["ci"]
    # Same workflow run (so the same commit), and `needs` the CI job: if it fails or is cancelled the
    # deploy is skipped, unless the condition overrides that, which it must not.
    assert deploy["needs"] == ["ci"]
    condition = str(deploy["if"])
    assert not any(override in condition for override in STATUS_OVERRIDES), condition
    assert MAIN in condition and "github.event_name != 'pull_request'" in condition
    # CI runs on every push, so a push to main always has its CI job; nothing in CI may fail softly.
    assert workflow["on"]["push"] is None or "main" in workflow["on"]["push"].get("branches", ["main"])
    assert "continue-on-error" not in ci and not any("continue-on-error" in s for s in _steps(ci))
    assert not any(str(s.get("if", "")).strip() in STATUS_OVERRIDES for s in _steps(ci))
    # The CI job runs what .ci/run runs, the build and the tests of that build among them.
    ci_script = "\n".join(str(s.get("run", "")) for s in _steps(ci))
    ci_targets = re.findall(r"^make ([\w-]+)$", ci_script, re.M)
    assert ci_targets == CI_TARGETS
    dot_ci_run = (ROOT / ".ci" / "run").read_text()
    assert re.findall(r"^make ([\w-]+)$", dot_ci_run, re.M) == ["setup", "sam", *CI_TARGETS]
    # What deploys is CI's build, handed over as an artifact of this run, not a build of its own.
    deploy_script = "\n".join(str(s.get("run", "")) for s in _steps(deploy))
    assert "sam build" not in deploy_script and "make build" not in deploy_script
    (upload,) = _uses(ci, "actions/upload-artifact")
    (download,) = _uses(deploy, "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"] == "sam-build"
    assert upload["if"] == deploy["if"]


def test_permissions_are_granted_per_job():
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow["permissions"] == {}, f"{path.name}: grant nothing at the workflow level"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} must say what it needs"
            permissions = job["permissions"]
            assert all(
                level in {"read", "none"} for scope, level in permissions.items() if scope != "id-token"
            )
    jobs = _jobs(CI)
    assert jobs["ci"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_two_deploys_never_overlap():
    concurrency = _jobs(CI)["deploy"]["concurrency"]
    assert concurrency["group"] == "deploy-${{ github.repository }}"
    assert concurrency["cancel-in-progress"] is False  # never stop a deploy mid-stack


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha_with_the_tag_in_a_comment(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?uses: (\S+) # (v\d+(?:\.\d+)*)", line)
        assert match, f"{path.name}: not `uses: owner/repo@<sha> # vX.Y.Z`: {line.strip()}"
        assert PINNED.fullmatch(match[1]), line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_keep_credentials(path):
    for job in _jobs(path).values():
        for step in _uses(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False


def test_the_ses_stack_is_deployed_only_when_it_changed():
    steps = {s.get("name", ""): s for s in _steps(_jobs(CI)["deploy"])}
    check = steps["Did the SES inbound rule set change?"]
    assert check["id"] == "ses"
    # Compared with what is deployed: the stack's template and parameters.
    assert "get-template" in check["run"] and "ses-rules.yaml" in check["run"]
    assert "Stacks[0].Parameters" in check["run"]
    for name in ("Deploy the SES inbound rule set", "Activate the SES inbound rule set"):
        assert steps[name]["if"] == "steps.ses.outputs.changed == 'true'", name
    ses_steps = [s for s in steps.values() if "ses-rules.yaml" in str(s.get("run", ""))]
    assert [s["name"] for s in ses_steps] == [
        "Did the SES inbound rule set change?",
        "Deploy the SES inbound rule set",
    ]
