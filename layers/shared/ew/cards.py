"""What an owner sees: the Slack card and the email for a move (DESIGN.md §3, §8).

The buttons carry a `PingRef` (item, cycle, chain index) so a click names exactly the ping it answers;
the email carries the same reference inside signed links.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ew.chain import ACK_ONLY, RENEW, SNOOZE, Move, PingRef
from ew.items import DEFAULT_TERM, Item, add_term
from ew.voice import Voice
from opskit.dates import human_date
from opskit.mail import render_html
from opskit.slack import buttons_block, context, escape_mrkdwn, text_section

PING_BLOCK = "ew_ping"
_BOLD = re.compile(r"\*([^*\n]+)\*")
BUTTONS = ((RENEW, "Renew"), (SNOOZE, "Snooze"), (ACK_ONLY, "Ack only"))


def message_values(item: Item, move: Move) -> dict[str, object]:
    """The placeholder values the voice doc can use."""
    return {
        "item": item.item,
        "category": item.category or "uncategorised",
        "expiry_date": human_date(item.expiry_date),
        "days_left": move.days_left,
        "owner": item.owner,
        "notes": item.notes,
        "renewal_link": item.renewal_link,
        "escalated_from": move.escalated_from or "",
    }


def details_line(item: Item, move: Move) -> str:
    parts = [f"Expires {human_date(item.expiry_date)}"]
    if item.notice_date:
        parts.append(f"notice by {human_date(item.notice_date)}")
    if move.days_left < 0:
        parts.append(f"{-move.days_left} days overdue")
    else:
        parts.append(f"{move.days_left} days left")
    if item.category:
        parts.append(item.category)
    if item.renewal_link:
        parts.append(f"<{item.renewal_link}|renewal page>")
    return " · ".join(parts)


def slack_card(item: Item, move: Move, voice: Voice) -> tuple[str, list[dict]]:
    """(fallback text, Block Kit blocks) for chat.postMessage."""
    # Slack reads <, > and & as markup: a sheet cell must not turn into a link or a mention.
    values = {k: escape_mrkdwn(v) if isinstance(v, str) else v for k, v in message_values(item, move).items()}
    text = voice.render(move.move, values)
    buttons = [(action, label, button_value(item, move, action)) for action, label in BUTTONS]
    blocks = [
        text_section(text),
        context(details_line(item, move)),
        buttons_block(PING_BLOCK, buttons, {RENEW: "primary"}),
    ]
    return text, blocks


def renewal_default(item: Item) -> date:
    """The Renew modal's prefilled date: expiry + renewal term (DEFAULT_TERM when the sheet gives none)."""
    try:
        return add_term(item.expiry_date, item.renewal_term or DEFAULT_TERM)
    except ValueError:
        return add_term(item.expiry_date, DEFAULT_TERM)


def button_value(item: Item, move: Move, action: str) -> str:
    """The ping reference, plus what the modal needs without reading the sheet (Slack's 3 s)."""
    extra = {"x": item.item[:100]}
    if action == RENEW:
        extra["d"] = renewal_default(item).isoformat()
    return PingRef.of(move).to_value(**extra)


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def email_content(item: Item, move: Move, voice: Voice, links: Mapping[str, str]) -> Email:
    """The alert as an email; `links` maps each action to its signed URL (none when not configured)."""
    values = message_values(item, move)
    # The voice doc is written for Slack: *bold* reads as stray asterisks in a plain-text email.
    body = _BOLD.sub(r"\1", voice.render(move.move, values))
    details = details_line(item, move).replace(f"<{item.renewal_link}|renewal page>", item.renewal_link)
    labelled = [(label, links[action]) for action, label in BUTTONS if action in links]
    text = f"{body}\n\n{details}"
    if labelled:
        text += "\n\n" + "\n".join(f"{label}: {url}" for label, url in labelled)
    return Email(
        subject=voice.render("email_subject", values),
        text=text,
        html=render_html(f"{body}\n\n{details}", labelled),
    )
