"""Email-link clicks (DESIGN.md §8): every alert email carries signed links (HMAC: item, chain, action,
expiry). A GET only shows a small confirmation page, because mail scanners fetch links; the POST from
that page acts once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ew import click_rules, pages
from ew.answers import AckDeps, act
from ew.chain import ACTIONS, RENEW, SNOOZE, PingRef
from opskit.http_answer import HttpAnswer
from opskit.signed_links import LinkError, LinkExpired, verify


def _verified(token: str, deps: AckDeps) -> dict[str, Any] | HttpAnswer:
    """The link's claims, or the page that says why the link cannot be used."""
    if not deps.link_secret:
        return _page(
            503, pages.problem_page("Email links are switched off", "Use the Slack message instead.")
        )
    try:
        return verify(deps.link_secret, token, deps.clock())
    except LinkExpired as exc:
        return _page(410, pages.problem_page("This link has expired", str(exc)))
    except LinkError as exc:
        return _page(400, pages.problem_page("This link does not work", str(exc)))


def email_page(token: str, deps: AckDeps) -> HttpAnswer:
    """GET: only a confirmation page. Mail scanners fetch links; a GET never acts."""
    claims = _verified(token, deps)
    if isinstance(claims, HttpAnswer):
        return claims
    if deps.state.get(f"link#{claims['jti']}", "used"):
        return _page(409, pages.problem_page("This link was already used", "Nothing more to do."))
    return _page(200, pages.confirm_page(claims, token, _default_date(claims, deps), error=None))


def email_post(form: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    """POST from the confirmation page: act once."""
    token = form.get("t", "")
    claims = _verified(token, deps)
    if isinstance(claims, HttpAnswer):
        return claims
    action = claims.get("a")
    value: date | None = None
    if action in (RENEW, SNOOZE):
        value, error = click_rules.check_date(action, form.get("date"), deps.today())
        if error:
            return _page(400, pages.confirm_page(claims, token, _default_date(claims, deps), error=error))
    if action not in ACTIONS:
        return _page(400, pages.problem_page("This link does not work", "this link is not valid"))
    if deps.state.claim(f"link#{claims['jti']}", "used", {"a": action}, deps.clock()):
        return _page(409, pages.problem_page("This link was already used", "Nothing more to do."))
    ref = PingRef(str(claims["i"]), date.fromisoformat(str(claims["c"])), int(claims["n"]))
    acted = act(deps, ref, str(action), str(claims.get("b") or "email link"), value)
    return _page(200, pages.done_page(claims, acted.line, acted.first))


def _default_date(claims: Mapping[str, Any], deps: AckDeps) -> date | None:
    if claims.get("a") == RENEW and claims.get("d"):
        return date.fromisoformat(str(claims["d"]))
    if claims.get("a") == SNOOZE:
        return click_rules.snooze_default(deps.today())
    return None


def _page(status: int, html: str) -> HttpAnswer:
    return HttpAnswer(status, html, "text/html; charset=utf-8")
