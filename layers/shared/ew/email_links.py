"""Email-link clicks (DESIGN.md §8): every alert email carries signed links (HMAC: item, chain, action,
expiry). A GET only shows a small confirmation page, because mail scanners fetch links; the POST from
that page acts once.

The answer itself is claimed by `act` (once per ping and action, a lease while its writes run); the
link is marked used only after the answer is recorded, so a failed write leaves the link usable and
the next POST completes the answer. A link whose claims are not what we sign is a 400 page
(Malformed, answered in ack-handler's one handler); a link to a ping the watcher has no record of is a
404 page; neither writes anything."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from ew import click_rules, pages
from ew.answers import AckDeps, NotRecorded, act, ping_known
from ew.chain import ACTIONS, RENEW, SNOOZE, PingRef
from opskit.http_answer import HttpAnswer, Malformed
from opskit.signed_links import LinkError, LinkExpired, verify

log = logging.getLogger(__name__)

USED = pages.problem_page("This link was already used", "Nothing more to do.")
UNKNOWN = pages.problem_page(
    "This alert is out of date", "The watcher has no record of it. Nothing was recorded."
)


@dataclass(frozen=True)
class Link:
    claims: dict[str, Any]
    ref: PingRef
    action: str

    @property
    def used_key(self) -> str:
        return f"link#{self.claims['jti']}"


def _link(token: str, deps: AckDeps) -> Link | HttpAnswer:
    """The verified link, not used yet, or the page that says why it cannot be used."""
    if not deps.link_secret:
        return _page(
            503, pages.problem_page("Email links are switched off", "Use the Slack message instead.")
        )
    try:
        claims = verify(deps.link_secret, token, deps.clock())
    except LinkExpired as exc:
        return _page(410, pages.problem_page("This link has expired", str(exc)))
    except LinkError as exc:
        return _page(400, pages.problem_page("This link does not work", str(exc)))
    # Signed by us, so normally well formed; a link from an older format must still not crash.
    action = claims.get("a")
    try:
        ref = PingRef(str(claims["i"]), date.fromisoformat(str(claims["c"])), int(claims["n"]))
    except (KeyError, TypeError, ValueError):
        raise Malformed("this link does not name an alert") from None
    if action not in ACTIONS or not ref.item_id or not isinstance(claims.get("jti"), str):
        raise Malformed("this link does not name an answer to an alert")
    link = Link(claims, ref, str(action))
    if deps.state.get(link.used_key, "used"):
        return _page(409, USED)
    return link


def email_page(token: str, deps: AckDeps) -> HttpAnswer:
    """GET: only a confirmation page. Mail scanners fetch links; a GET never acts."""
    link = _link(token, deps)
    if isinstance(link, HttpAnswer):
        return link
    seen = ping_known(deps.store, link.ref)
    if seen is None:
        return _page(404, UNKNOWN)
    return _page(
        200, pages.confirm_page(link.claims, token, _default_date(link, deps, seen.timezone), error=None)
    )


def email_post(form: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    """POST from the confirmation page: act once."""
    token = form.get("t", "")
    link = _link(token, deps)
    if isinstance(link, HttpAnswer):
        return link
    seen = ping_known(deps.store, link.ref)
    zone = seen.timezone if seen else None
    value: date | None = None
    if link.action in (RENEW, SNOOZE):
        value, error = click_rules.check_date(link.action, form.get("date"), deps.today(zone))
        if error:
            shown = _default_date(link, deps, zone)
            return _page(400, pages.confirm_page(link.claims, token, shown, error=error))
    if seen is None:
        return _page(404, UNKNOWN)
    try:
        acted = act(deps, link.ref, link.action, str(link.claims.get("b") or "email link"), value, zone)
    except NotRecorded as exc:
        shown = value or _default_date(link, deps, zone)
        return _page(503, pages.confirm_page(link.claims, token, shown, error=str(exc)))
    # Marked once the answer is recorded. If this write fails, the answer stands: the link's next use
    # is told who answered (act is once per ping and action) and records nothing more.
    try:
        deps.state.put(link.used_key, "used", {"a": link.action}, deps.clock())
    except ClientError as exc:
        log.warning("could not mark an email link used: %s", exc)
    return _page(200, pages.done_page(link.claims, acted.line, acted.first))


def _default_date(link: Link, deps: AckDeps, zone: str | None) -> date | None:
    if link.action == RENEW and link.claims.get("d"):
        try:
            return date.fromisoformat(str(link.claims["d"]))
        except ValueError:
            return None
    if link.action == SNOOZE:
        return click_rules.snooze_default(deps.today(zone))
    return None


def _page(status: int, html: str) -> HttpAnswer:
    return HttpAnswer(status, html, "text/html; charset=utf-8")
