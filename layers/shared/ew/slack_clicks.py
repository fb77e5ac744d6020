"""Slack interactivity (DESIGN.md §8, §9): the Renew / Snooze / Ack only buttons, their modals, and the
proposal buttons. Nothing is parsed before the Slack signature is checked.

A payload that is signed but not shaped as Slack sends it raises Malformed (ew.slack_payload), answered
400 in ack-handler's one handler. A click on a ping the watcher has no record of says so and records
nothing. Each exact request is handled once (answers.click_once): a replay, with or without
X-Slack-Retry-Num, changes nothing and calls Slack no more. An answer that could not be recorded
(NotRecorded) is said to the person, and the next click records it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from ew import click_rules, proposal_clicks, proposals, slack_payload
from ew.answers import (
    AckDeps,
    Card,
    NotRecorded,
    act,
    click_once,
    mark_answered,
    modal_errors,
    ping_known,
    recording,
    renewed,
)
from ew.chain import ACK_ONLY, ACTIONS, RENEW, SNOOZE
from ew.items import DEFAULT_TERM, add_term
from opskit.http_answer import HttpAnswer, Malformed
from opskit.slack import SlackUnavailable, message_location, verify_request

log = logging.getLogger(__name__)


def handle_slack(body: bytes, headers: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    verify_request(body, headers, deps.signing_secret, deps.clock().timestamp())
    payload = slack_payload.parse(body)
    kind = payload.get("type")
    request = hashlib.sha256(body).hexdigest()  # the same request again is a replay
    try:
        if kind == "block_actions":
            return _block_action(payload, deps, request, retried=bool(headers.get("x-slack-retry-num")))
        if kind == "view_submission":
            return _view_submission(payload, deps)
    except NotRecorded as exc:
        return _not_recorded(payload, str(exc))
    if not isinstance(kind, str) or not kind:
        raise Malformed("the payload has no type")
    return HttpAnswer(200)  # other interactions (a closed modal, a shortcut) need nothing


def _block_action(payload: dict[str, Any], deps: AckDeps, request: str, retried: bool) -> HttpAnswer:
    clicked = slack_payload.action(payload)
    action_id = clicked.get("action_id")
    if action_id in proposals.ACTIONS:
        return proposal_clicks.button(payload, clicked, deps, request, retried)
    if action_id not in ACTIONS:
        return HttpAnswer(200)  # a link button: Slack opens the link, nothing to record
    ref, label, renew_default = slack_payload.ping_value(clicked)
    user = slack_payload.user(payload)
    trigger = slack_payload.trigger(payload) if action_id != ACK_ONLY else ""
    channel, ts = message_location(payload)
    message = slack_payload.message(payload)
    card = Card(channel, ts, message)
    seen = ping_known(deps.store, ref)
    if seen is None:
        mark_answered(deps, card, click_rules.UNKNOWN_PING, None)  # states no fact: any answer outranks it
        return HttpAnswer(200)
    held = click_once(deps, request)
    if held is None:
        return HttpAnswer(200)  # a replay: the first delivery answered (or is answering) it
    with recording(), deps.state.holding(held):
        if action_id == ACK_ONLY:
            acted = act(deps, ref, ACK_ONLY, user, None, seen.timezone, card)
            mark_answered(deps, card, acted.line, acted.at, recorded=acted.card_recorded)
        elif (renewal := renewed(deps, ref)) is not None:  # no modal to fill in for a closed cycle
            mark_answered(deps, card, renewal.line, renewal.at)
        elif not retried:  # a retry's trigger_id has expired (3 s): the first delivery opened the modal
            today = deps.today(seen.timezone)
            initial = date.fromisoformat(renew_default) if action_id == RENEW and renew_default else None
            if initial is None or initial <= today:  # no usable date on the card: a term from today
                snoozing = action_id == SNOOZE
                initial = click_rules.snooze_default(today) if snoozing else add_term(today, DEFAULT_TERM)
            blocks = tuple(message["blocks"])
            context = click_rules.ModalContext(ref, channel, ts, label or ref.item_id, blocks)
            _open(deps, trigger, click_rules.date_modal(action_id, context, initial))
    return HttpAnswer(200)


def _open(deps: AckDeps, trigger: str, view: dict[str, Any]) -> None:
    if deps.slack is None:
        return
    try:
        deps.slack.open_view(trigger, view)
    except SlackUnavailable as exc:
        log.warning("could not open the %s modal: %s", view.get("callback_id"), exc)


def _view_submission(payload: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    view = slack_payload.view(payload)
    action = view.get("callback_id")
    if action == proposals.EDIT:
        return proposal_clicks.edited(payload, view, deps)
    if action not in (RENEW, SNOOZE):
        return HttpAnswer(200)
    context = slack_payload.modal_context(view)
    picked_text = click_rules.picked_date(slack_payload.state_values(view))
    user = slack_payload.user(payload)
    seen = ping_known(deps.store, context.ref)
    if seen is None:
        return modal_errors({click_rules.DATE_BLOCK: click_rules.UNKNOWN_PING})
    picked, error = click_rules.check_date(action, picked_text, deps.today(seen.timezone))
    if error is None and picked is not None:
        message = {"blocks": list(context.blocks)} if context.blocks else None
        card = Card(context.channel, context.ts, message)
        acted = act(deps, context.ref, action, user, picked, seen.timezone, card)
        if acted.first:
            mark_answered(deps, card, acted.line, acted.at, recorded=acted.card_recorded)
            return HttpAnswer(200, json.dumps({"response_action": "clear"}))
        error = "Already answered. " + acted.line
    return modal_errors({click_rules.DATE_BLOCK: error})


def _not_recorded(payload: dict[str, Any], reason: str) -> HttpAnswer:
    """A modal shows the reason under its input and stays open; a button click fails visibly in Slack
    (its message is left as it was, buttons and all, to click again)."""
    view = payload.get("view")
    if payload.get("type") == "view_submission" and isinstance(view, dict):
        block = "item" if view.get("callback_id") == proposals.EDIT else click_rules.DATE_BLOCK
        return modal_errors({block: reason})
    return HttpAnswer(503, reason, "text/plain; charset=utf-8")
