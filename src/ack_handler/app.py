"""ack-handler: Slack clicks and email-link clicks behind the public Function URL (DESIGN.md §8, §9).

Routes: POST /slack/actions (Slack interactivity), GET /email (confirmation page), POST /email (act).
An event with a "task" key is this function invoking itself asynchronously for slow work.

Slack gives a click 3 seconds, a cold start included, so this module imports only what a Slack click
needs: the email routes and the tasks import theirs when they run (benchmarks/README.md, cold start).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime, slack_clicks
from ew.answers import APPEND_TASK, CARD_TASK, SHEET_TASK, AckDeps, update_card
from opskit.function_url import UrlRequest, response, route
from opskit.http_answer import HttpAnswer, Refused
from opskit.slack import MAX_REQUEST_BODY

logger = Logger()
metrics = Metrics()


def deps(email: bool = True) -> AckDeps:
    """What a request needs. A Slack click has no use for the email link secret: not read for one."""
    return AckDeps(
        store=runtime.chain_store(),
        audit=runtime.audit_log(),
        state=runtime.state_table(),
        cards=runtime.message_versions(),
        slack=runtime.slack(timeout=2, quick=True),
        signing_secret=runtime.signing_secret(),
        link_secret=runtime.link_secret() if email else None,
        settings=runtime.settings,
        defer=runtime.defer_task,
        clock=runtime.utc_now,
    )


def refused(request: UrlRequest, refused: Refused) -> HttpAnswer:
    """The one answer to every request refused before anything was written: forged, stale or oversized
    (401/413), or signed but malformed (400). One plain line; a page for a person on the email routes."""
    if request.path.startswith("/slack"):
        if refused.status == 401:
            metrics.add_metric(name="SlackVerificationFailures", unit=MetricUnit.Count, value=1)
        logger.warning("refused a Slack request", reason=refused.reason, status=refused.status)
        return HttpAnswer(refused.status, refused.reason, "text/plain")
    from ew.pages import problem_page

    logger.warning("refused an email-link request", reason=refused.reason, status=refused.status)
    page = problem_page("This link does not work", refused.reason)
    return HttpAnswer(refused.status, page, "text/html; charset=utf-8")


def slack_actions(request: UrlRequest) -> HttpAnswer:
    return slack_clicks.handle_slack(request.raw_body(MAX_REQUEST_BODY), request.headers, deps(email=False))


def email_page(request: UrlRequest) -> HttpAnswer:
    from ew import email_links

    return email_links.email_page(request.query.get("t", ""), deps())


def email_post(request: UrlRequest) -> HttpAnswer:
    from ew import email_links

    text = request.raw_body(MAX_REQUEST_BODY).decode("utf-8", "replace")
    form = {key: values[0] for key, values in parse_qs(text).items()}
    return email_links.email_post(form, deps())


ROUTES = {
    ("POST", "/slack/actions"): slack_actions,
    ("GET", "/email"): email_page,
    ("POST", "/email"): email_post,
}


def run_task(event: dict[str, Any]) -> dict[str, Any]:
    from ew.writebacks import append_approved, write_renewal

    if event["task"] == CARD_TASK:
        return {"result": update_card(event, runtime.slack(), runtime.message_versions(), runtime.utc_now())}
    # Both sheet tasks write the sheet, audit it, tell the clicker and act once (a claim in ew-state).
    sheet, audit, slack, state = (
        runtime.registry_sheet(),
        runtime.audit_log(),
        runtime.slack(),
        runtime.state_table(),
    )
    if event["task"] == SHEET_TASK:
        result = write_renewal(event, sheet, audit, slack, state, runtime.utc_now)
        logger.info("sheet write-back", item_id=event.get("item_id"), result=result)
        return {"result": result}
    item_id = append_approved(event, sheet, audit, slack, state, runtime.utc_now)
    logger.info("proposal appended", proposal_id=event.get("proposal_id"), item_id=item_id)
    return {"item_id": item_id}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("task") in (SHEET_TASK, APPEND_TASK, CARD_TASK):
        return run_task(event)
    request = UrlRequest.from_event(event)
    try:
        answer = route(request, ROUTES)
    except Refused as exc:
        answer = refused(request, exc)
    return response(answer)
