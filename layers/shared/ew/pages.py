"""The small HTML pages behind email action links. Everything shown is escaped."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from html import escape
from typing import Any

from ew.chain import RENEW, SNOOZE

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d1c1d}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#007a5a;color:#fff}"
    "input{font-size:1rem;padding:.4rem}.error{color:#b00020}"
)
_VERBS = {RENEW: "Renew", SNOOZE: "Snooze", "ack_only": "Acknowledge"}


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def confirm_page(claims: Mapping[str, Any], token: str, default: date | None, error: str | None) -> str:
    action = str(claims.get("a"))
    verb = _VERBS.get(action, "Confirm")
    label = escape(str(claims.get("x") or claims.get("i")))
    field = ""
    if action in (RENEW, SNOOZE):
        question = "New expiry date" if action == RENEW else "Remind me again on"
        value = default.isoformat() if default else ""
        field = (
            f'<p><label for="date">{question}</label><br>'
            f'<input type="date" id="date" name="date" value="{value}" required></p>'
        )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>{verb}: {label}?</h1>{problem}"
        '<form method="post" action="email">'
        f'<input type="hidden" name="t" value="{escape(token, quote=True)}">{field}'
        f'<p><button type="submit" id="confirm">{verb}</button></p></form>'
        "<p>Nothing happens until you press the button.</p>"
    )
    return _document(f"{verb}: {claims.get('x') or claims.get('i')}", body)


def done_page(claims: Mapping[str, Any], line: str, first: bool) -> str:
    heading = "Done" if first else "Already answered"
    label = escape(str(claims.get("x") or claims.get("i")))
    return _document(heading, f'<h1 id="result">{heading}</h1><p>{label}</p><p>{escape(plain(line))}</p>')


def problem_page(title: str, message: str) -> str:
    return _document(title, f'<h1 id="result">{escape(title)}</h1><p>{escape(message)}</p>')


def plain(line: str) -> str:
    """A Slack line for a web page: no emoji codes, mentions as plain IDs."""
    line = re.sub(r"^:[a-z_]+:\s*", "", line)
    return re.sub(r"<@([A-Z0-9]+)>", r"\1", line)
