"""The proposal buttons (DESIGN.md §8): Approve appends the row (asynchronously), Edit opens a prefilled
modal, Discard records it; each decision acts once, however often it is clicked."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ew import proposals
from ew.answers import APPEND_TASK, AckDeps, Acted, mark_answered, modal_errors
from opskit.http_answer import HttpAnswer
from opskit.slack import SlackUnavailable, message_location

log = logging.getLogger(__name__)


def decide_proposal(
    deps: AckDeps, proposal: proposals.Proposal, decision: str, by: str, fields: Mapping[str, str],
    channel: str, ts: str,
) -> Acted:  # fmt: skip
    """Approve (as proposed or edited) or discard, once; an approval appends the row asynchronously."""
    now = deps.clock()
    key = proposals.store_key(proposal.proposal_id)
    done = deps.state.claim(key, "decision", {"decision": decision, "by": by, "at": now.isoformat()}, now)
    if done is not None:
        first = done.data
        return Acted(
            False,
            proposals.decision_line(first["decision"], first["by"], datetime.fromisoformat(first["at"])),
        )
    audit_id = f"proposal:{proposal.proposal_id}"
    if decision == proposals.DISCARD:
        deps.audit.record(audit_id, decision, by, {"fields": dict(proposal.fields)}, {"discarded": True}, now)
        return Acted(True, proposals.decision_line(decision, by, now))
    deps.audit.record(
        audit_id, decision, by, {"fields": dict(proposal.fields)}, {"fields": dict(fields)}, now
    )
    deps.defer(
        {
            "task": APPEND_TASK,
            "proposal_id": proposal.proposal_id,
            "decision": decision,
            "fields": dict(fields),
            "source": proposal.source,
            "by": by,
            "channel": channel,
            "ts": ts,
        }
    )
    return Acted(True, proposals.decision_line(decision, by, now, ": adding it to the sheet"))


def button(payload: dict[str, Any], deps: AckDeps, retried: bool) -> HttpAnswer:
    """Approve / Edit / Discard pressed on a proposal card."""
    action = payload["actions"][0]
    user = payload["user"]["id"]
    channel, ts = message_location(payload)
    message = payload.get("message", {})
    proposal = proposals.load(deps.state, str(action.get("value")))
    if proposal is None:
        mark_answered(deps, channel, ts, message, "This proposal has expired; forward the document again.")
        return HttpAnswer(200)
    decision = action["action_id"]
    # An approval of a proposal that would not make a valid row opens the editor instead.
    if decision == proposals.APPROVE and proposals.check_fields(proposal.fields):
        decision = proposals.EDIT
    if decision == proposals.EDIT:
        decided = deps.state.get(proposals.store_key(proposal.proposal_id), "decision")
        if decided is not None:
            first = decided.data
            line = proposals.decision_line(
                first["decision"], first["by"], datetime.fromisoformat(first["at"])
            )
            mark_answered(deps, channel, ts, message, line)
        elif not retried and deps.slack is not None:
            try:
                deps.slack.open_view(payload["trigger_id"], proposals.edit_modal(proposal, channel, ts))
            except SlackUnavailable as exc:
                log.warning("could not open the proposal editor: %s", exc)
        return HttpAnswer(200)
    acted = decide_proposal(deps, proposal, decision, user, proposal.fields, channel, ts)
    mark_answered(deps, channel, ts, message, acted.line)
    return HttpAnswer(200)


def edited(payload: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    """The proposal editor submitted: validate, then approve the edited fields once."""
    view = payload["view"]
    meta = json.loads(view["private_metadata"])
    proposal = proposals.load(deps.state, meta["id"])
    if proposal is None:
        return modal_errors({"item": "This proposal has expired; forward the document again."})
    fields = proposals.edited_fields(view["state"]["values"])
    problems = proposals.check_fields(fields)
    if problems:
        return modal_errors(problems)
    acted = decide_proposal(
        deps, proposal, proposals.EDIT, payload["user"]["id"], fields, meta["channel"], meta["ts"]
    )
    if not acted.first:
        return modal_errors({"item": "Already decided. " + acted.line})
    _, blocks = proposals.card(proposals.Proposal(proposal.proposal_id, fields, proposal.source))
    mark_answered(deps, meta["channel"], meta["ts"], {"blocks": blocks}, acted.line)
    return HttpAnswer(200, json.dumps({"response_action": "clear"}))
