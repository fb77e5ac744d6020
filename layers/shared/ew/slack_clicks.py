"""Slack interactivity (DESIGN.md §8, §9): the Renew / Snooze / Ack only buttons, their modals, and the
proposal buttons. Nothing is parsed before the Slack signature is checked."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from ew import click_rules, proposal_clicks, proposals
from ew.answers import AckDeps, act, mark_answered, modal_errors
from ew.chain import ACK_ONLY, ACTIONS, RENEW, SNOOZE, PingRef
from ew.items import DEFAULT_TERM, add_term
from opskit.http_answer import HttpAnswer
from opskit.slack import SlackUnavailable, message_location, verify_request

log = logging.getLogger(__name__)


def handle_slack(body: bytes, headers: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    verify_request(body, headers, deps.signing_secret, deps.clock().timestamp())
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
    except (KeyError, ValueError, UnicodeDecodeError):
        return HttpAnswer(400, json.dumps({"error": "expected a Slack interactivity payload"}))
    retry = headers.get("x-slack-retry-num")
    kind = payload.get("type")
    if kind == "block_actions":
        return _block_action(payload, deps, retried=bool(retry))
    if kind == "view_submission":
        return _view_submission(payload, deps)
    return HttpAnswer(200)


def _block_action(payload: dict[str, Any], deps: AckDeps, retried: bool) -> HttpAnswer:
    action = payload["actions"][0]
    action_id = action.get("action_id")
    if action_id in proposals.ACTIONS:
        return proposal_clicks.button(payload, deps, retried)
    if action_id not in ACTIONS:
        return HttpAnswer(200)
    value = json.loads(action["value"])
    ref = PingRef.from_value(action["value"])
    user = payload["user"]["id"]
    channel, ts = message_location(payload)
    if action_id == ACK_ONLY:
        acted = act(deps, ref, ACK_ONLY, user, None)
        mark_answered(deps, channel, ts, payload.get("message", {}), acted.line)
        return HttpAnswer(200)
    if retried:
        # The first delivery already opened the modal; its trigger_id has expired anyway.
        return HttpAnswer(200)
    today = deps.today()
    initial = date.fromisoformat(value["d"]) if action_id == RENEW and value.get("d") else None
    if initial is None or initial <= today:
        # A card without a usable date (or with one already past): a term from today.
        initial = click_rules.snooze_default(today) if action_id == SNOOZE else add_term(today, DEFAULT_TERM)
    blocks = tuple(payload.get("message", {}).get("blocks") or ())
    context = click_rules.ModalContext(ref, channel, ts, value.get("x") or ref.item_id, blocks)
    if deps.slack is not None:
        try:
            deps.slack.open_view(payload["trigger_id"], click_rules.date_modal(action_id, context, initial))
        except SlackUnavailable as exc:
            log.warning("could not open the %s modal: %s", action_id, exc)
    return HttpAnswer(200)


def _view_submission(payload: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    view = payload["view"]
    action = view.get("callback_id")
    if action == proposals.EDIT:
        return proposal_clicks.edited(payload, deps)
    if action not in (RENEW, SNOOZE):
        return HttpAnswer(200)
    context = click_rules.ModalContext.loads(view["private_metadata"])
    picked_text = click_rules.picked_date(view["state"]["values"])
    picked, error = click_rules.check_date(action, picked_text, deps.today())
    if error is None and picked is not None:
        acted = act(deps, context.ref, action, payload["user"]["id"], picked)
        if acted.first:
            message = {"blocks": list(context.blocks)} if context.blocks else None
            mark_answered(deps, context.channel, context.ts, message, acted.line)
            return HttpAnswer(200, json.dumps({"response_action": "clear"}))
        error = "Already answered. " + acted.line
    return modal_errors({click_rules.DATE_BLOCK: error})
