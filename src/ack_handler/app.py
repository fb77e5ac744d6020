"""ack-handler: Slack clicks and email-link clicks behind the public Function URL (DESIGN.md §8, §9).

Routes: POST /slack/actions (Slack interactivity), GET /email (confirmation page), POST /email (act).
An event with a "task" key is this function invoking itself asynchronously for slow work.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import email_links, runtime, slack_clicks
from ew.answers import APPEND_TASK, CARD_TASK, SHEET_TASK, AckDeps, update_card
from ew.pages import problem_page
from ew.writebacks import append_approved, write_renewal
from opskit.http_answer import HttpAnswer, Malformed, Refused, unrouted
from opskit.slack import MAX_REQUEST_BODY

logger = Logger()
metrics = Metrics()
app = LambdaFunctionUrlResolver()
ROUTES = {"/slack/actions": ("POST",), "/email": ("GET", "POST")}  # as routed below


def deps() -> AckDeps:
    return AckDeps(
        store=runtime.chain_store(),
        audit=runtime.audit_log(),
        state=runtime.state_table(),
        slack=runtime.slack(timeout=2, quick=True),
        signing_secret=runtime.signing_secret(),
        link_secret=runtime.link_secret(),
        settings=runtime.settings(),
        defer=runtime.defer_task,
        clock=runtime.utc_now,
    )


def _answer(answer: HttpAnswer) -> Response[str]:
    return Response(
        status_code=answer.status, content_type=answer.content_type, body=answer.body, headers=answer.headers
    )


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    # Refuse a flood before decoding it: base64 makes it a third bigger.
    if len(body) > MAX_REQUEST_BODY * 4 // 3 + 4:
        raise Refused(413, "request body too large")
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise Malformed("the body is not valid base64") from None


@app.exception_handler(Refused)
def refused(refused: Refused) -> Response[str]:
    """The one answer to every request refused before anything was written: forged, stale or oversized
    (401/413), or signed but malformed (400). One plain line; a page for a person on the email routes."""
    path = app.current_event.path
    if path.startswith("/slack"):
        if refused.status == 401:
            metrics.add_metric(name="SlackVerificationFailures", unit=MetricUnit.Count, value=1)
        logger.warning("refused a Slack request", reason=refused.reason, status=refused.status)
        return Response(status_code=refused.status, content_type="text/plain", body=refused.reason)
    logger.warning("refused an email-link request", reason=refused.reason, status=refused.status)
    page = problem_page("This link does not work", refused.reason)
    return Response(status_code=refused.status, content_type="text/html; charset=utf-8", body=page)


@app.not_found
def not_routed(_: Exception) -> Response[str]:
    """Any other path or method: 404 or 405, one plain line."""
    return _answer(unrouted(app.current_event.http_method, app.current_event.path, ROUTES))


@app.post("/slack/actions")
def slack_actions() -> Response[str]:
    return _answer(slack_clicks.handle_slack(_raw_body(), app.current_event.headers, deps()))


@app.get("/email")
def email_page() -> Response[str]:
    token = app.current_event.get_query_string_value("t", "") or ""
    return _answer(email_links.email_page(token, deps()))


@app.post("/email")
def email_post() -> Response[str]:
    form = {key: values[0] for key, values in parse_qs(_raw_body().decode("utf-8", "replace")).items()}
    return _answer(email_links.email_post(form, deps()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("task") == SHEET_TASK:
        result = write_renewal(
            event,
            runtime.registry_sheet(),
            runtime.audit_log(),
            runtime.slack(),
            runtime.state_table(),
            runtime.utc_now,
        )
        logger.info("sheet write-back", item_id=event.get("item_id"), result=result)
        return {"result": result}
    if event.get("task") == CARD_TASK:
        return {"result": update_card(event, runtime.slack())}
    if event.get("task") == APPEND_TASK:
        item_id = append_approved(
            event,
            runtime.registry_sheet(),
            runtime.audit_log(),
            runtime.slack(),
            runtime.state_table(),
            runtime.utc_now,
        )
        logger.info("proposal appended", proposal_id=event.get("proposal_id"), item_id=item_id)
        return {"item_id": item_id}
    return app.resolve(event, context)
