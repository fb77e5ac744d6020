"""The workspace server's routes over HTTP, without a browser: pages, clicks and modals answered with
redirects (POST-redirect-GET), the clock, and ack-handler's Function URL on the same port."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from ew_local.cloud import LocalCloud
from ew_local.workspace.server import WorkspaceServer
from ew_local.workspace.session import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
MONDAY = date(2026, 11, 23)
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}
HOSTILE = "<script>alert('x')</script> \"Keane\" & Co"
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed,notes\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15,"
    f'"{HOSTILE.replace(chr(34), chr(34) * 2)}"\n'
    "ACME-004,Company vehicle insurance,insurance,2027-01-20,sam.ortiz@acme.example,,1 year,2026-01-20,\n"
)


class Client:
    """HTTP to the server, redirects not followed (the test looks at them)."""

    def __init__(self, server: WorkspaceServer):
        self.port = urlsplit(server.url).port

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = urlencode(form or {}) if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        result = answer.status, answer.getheader("Location") or "", answer.read().decode()
        connection.close()
        return result

    def get(self, path: str) -> str:
        status, _, body = self.request("GET", path)
        assert status == 200, body
        return body

    def post(self, path: str, form: dict[str, str]) -> str:
        """The redirect's target."""
        status, location, body = self.request("POST", path, form)
        assert status == 303, body
        return location


def start(day: date) -> Iterator[tuple[WorkspaceServer, Client]]:
    rules, voice = (EXAMPLE / "rules.txt").read_bytes(), (EXAMPLE / "voice.txt").read_bytes()
    with (
        LocalCloud(SETTINGS) as cloud,
        Workspace(cloud, day, "Europe/London", {"C04DIGEST1": "digest"}) as ws,
    ):
        cloud.mirror(SHEET.encode(), rules, voice)
        ws.first_tick()
        with WorkspaceServer(ws) as server:
            yield server, Client(server)
        assert server.errors == []


@pytest.fixture
def monday() -> Iterator[tuple[WorkspaceServer, Client]]:
    yield from start(MONDAY)


def text(html: str) -> str:
    """The page's words, one space apart."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_slack_page_shows_the_card_with_a_hostile_cell_escaped(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    _, client = monday
    page = client.get("/")
    assert '<span id="clock" title="simulated time">Mon 23 Nov 2026, 08:00 Europe/London</span>' in page
    assert "<h2># digest</h2>" not in page and "# digest" in page  # listed, not selected: the DM is
    assert "li@acme.example (U04FIN0001)</h2>" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Keane&quot; &amp; Co" in page
    assert (
        '<input type="hidden" name="action" value="renew"><button class="btn btn-primary">Renew</button>'
        in page
    )
    assert "Daily tick over 2 items: 2 first alert. Sent 1 on Slack and 1 by email." in text(page)
    assert '<form class="lanes" id="forward" method="post" action="/forward"' in page  # the Forward box
    assert "No messages here yet." in client.get("/?c=C04DIGEST1")


def test_renew_through_the_modal_with_a_bad_then_a_good_date(monday: tuple[WorkspaceServer, Client]) -> None:
    server, client = monday
    ts = server.workspace.conversations()[1].messages[0].ts
    assert client.post("/click", {"channel": "D04FIN0001", "ts": ts, "action": "renew"}) == (
        "/?c=D04FIN0001&modal=m1"
    )
    page = client.get("/?c=D04FIN0001&modal=m1")
    assert '<input type="date" id="field-date" name="date" value="2027-12-15">' in page

    assert client.post("/modal/m1", {"date": "2026-11-23"}) == "/?c=D04FIN0001&modal=m1"
    page = client.get("/?c=D04FIN0001&modal=m1")
    assert 'id="error-date" role="alert">The new expiry date must be after today (23 Nov 2026).</p>' in page
    assert 'value="2026-11-23"' in page  # what was typed stays

    assert client.post("/modal/m1", {"date": "2027-06-30"}) == "/?c=D04FIN0001"
    page = text(client.get("/?c=D04FIN0001"))
    assert "Renewed by @U04FIN0001 on 23 Nov 2026: new expiry 30 Jun 2027." in page
    assert client.post("/modal/m1", {"date": "2027-06-30"}) == "/"  # the back button: nothing twice

    sheet = client.get("/sheet")
    assert "Changed by li@acme.example&#x27;s Renew, Mon 23 Nov 08:" in sheet
    row = re.search(r'<tr class=changed data-row="2">.*?</tr>', sheet)
    assert row, sheet
    assert '<td class=changed title="2027-06-30">2027-06-30</td>' in row.group(0)
    assert '<td class=changed title="2026-11-23">2026-11-23</td>' in row.group(0)  # last_renewed
    audit = text(client.get("/audit"))
    assert "ACME-002 renew U04FIN0001 expiry_date: 2026-12-15 expiry_date: 2027-06-30" in " ".join(
        audit.split()
    )


def test_a_click_is_signed_by_the_simulated_clock_and_a_stale_button_says_so(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    ts = server.workspace.conversations()[1].messages[0].ts
    client.post("/click", {"channel": "D04FIN0001", "ts": ts, "action": "ack_only"})
    [ack] = server.workspace.cloud.store.load()[1]
    # Signed at the simulated moment (the real clock is days away: a real-time signature is refused).
    assert (ack.action, ack.at.astimezone(ZoneInfo("Europe/London")).date()) == ("ack_only", MONDAY)
    assert "Acknowledged by @U04FIN0001 on 23 Nov 2026." in text(client.get("/"))
    client.post("/click", {"channel": "D04FIN0001", "ts": ts, "action": "ack_only"})  # from a stale page
    assert "That button is gone: the message was updated in the meantime." in text(client.get("/"))


def test_a_failed_sheet_write_back_is_reported_on_the_page(monday: tuple[WorkspaceServer, Client]) -> None:
    server, client = monday
    server.workspace.cloud.google.fail("values", status=403, times=50)
    ts = server.workspace.conversations()[1].messages[0].ts
    client.post("/click", {"channel": "D04FIN0001", "ts": ts, "action": "renew"})
    assert client.post("/modal/m1", {"date": "2027-06-30"}) == "/?c=D04FIN0001"
    page = text(client.get("/"))
    assert "Renewed by @U04FIN0001" in page  # the click itself is recorded
    assert "The asynchronous write-back failed (AWS would retry it, then dead-letter it):" in page


def test_the_outbox_links_open_ack_handlers_pages_on_the_same_port(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    _, client = monday
    outbox = client.get("/outbox")
    assert "Subject:</strong> [Acme renewals] Company vehicle insurance: 58 days left" in outbox
    links = dict(
        (label, path)
        for path, label in re.findall(r'<a class="btn" href="(/email\?t=[^"]+)"[^>]*>([^<]+)</a>', outbox)
    )
    assert set(links) == {"Renew", "Snooze", "Ack only"}
    assert "<h1>Acknowledge: Company vehicle insurance?</h1>" in client.get(unescape(links["Ack only"]))
    assert client.request("GET", "/nowhere")[0] == 404  # the Function URL's answer for an unknown path


def test_next_day_fires_the_weekend_deferrals_and_comes_back_to_the_page() -> None:
    for server, client in start(date(2026, 11, 21)):  # a Saturday: the alerts wait for Monday
        page = client.get("/")
        assert "2 deferred, next due Mon 23 Nov 08:00" in page
        assert "Nothing has been posted to Slack yet." in page
        assert client.post("/clock/next", {"back": "/sheet"}) == "/sheet"
        assert "Sun 22 Nov 2026, 08:00" in client.get("/sheet")
        assert client.post("/clock/next", {"back": "/?c=D04FIN0001"}) == "/?c=D04FIN0001"
        page = client.get("/?c=D04FIN0001")
        assert "Mon 23 Nov 2026, 08:00" in page and 'class="waiting"' not in page
        assert "Public liability insurance" in page and '<span class="badge">new</span>' in page
        assert "(2 of them deferred from earlier)" in text(page)
        assert client.post("/clock/next", {"back": "//evil.example/"}) == "/"  # only our own pages
        assert '<span class="badge">new</span>' not in client.get("/?c=D04FIN0001")
        assert len(server.workspace.cloud.slack.messages()) == 1  # Monday's tick sent nothing twice
