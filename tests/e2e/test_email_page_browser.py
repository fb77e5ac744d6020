"""The email-link pages in a real headless Chromium (DESIGN.md §8): the alert email's Renew link opens a
confirmation page that changes nothing, the button renews once (ack recorded, sheet written back), a
second submit from the same page is refused, and an expired link says so.

The browser talks to the real ack-handler through FunctionUrlServer, a local stand-in for the Lambda
Function URL, on a LocalCloud (moto + fake Slack + fake Google). Needs Debian's chromium and
chromium-driver (the `browser` fixture is in conftest.py): skipped without them locally, a failure in CI
(which installs them)."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ew_local.cloud import LINK_SECRET, LocalCloud
from ew_local.url_server import FunctionUrlServer
from opskit.signed_links import sign

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]  # one Chromium, one worker

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = {"timezone": "Europe/London", "admin": "ops@acme.example"}
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
WAIT_SECONDS = 10


@pytest.fixture
def server(cloud: LocalCloud) -> Iterator[FunctionUrlServer]:
    with FunctionUrlServer(cloud) as local:
        yield local
    assert local.errors == []


def email_links(cloud: LocalCloud) -> dict[str, str]:
    """Slack is down, so the first alert goes by email; its action links by label."""
    cloud.slack.fail("chat.postMessage", status=500, times=10)
    cloud.dispatch(_event("dispatch/first_alert.json"))
    [sent] = cloud.sent_emails()
    body = email.message_from_string(sent["raw_data"], policy=policy.default).get_body(("plain",))
    assert body is not None
    return dict(re.findall(r"^(Renew|Snooze|Ack only): (\S+)", body.get_content(), re.M))


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def local(url: str, server: FunctionUrlServer) -> str:
    """The link as the email has it, pointed at the local Function URL (path and token unchanged)."""
    parts = urlsplit(url)
    return f"{server.url}{parts.path}?{parts.query}"


def heading(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "h1").text


def submit(driver: WebDriver) -> None:
    button = driver.find_element(By.ID, "confirm")
    button.click()
    # While the old page goes, chromedriver sometimes answers "Node with given id does not belong to
    # the document" instead of "stale": keep asking.
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[WebDriverException])
    wait.until(expected_conditions.staleness_of(button))
    WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "result"))
    )


def type_date(driver: WebDriver, picked: date) -> None:
    """Type a date as a person does: click the field's label (which puts the caret in the first
    segment, where clicking the field itself lands on whichever segment is under the pointer), then
    the digits in the en-US order, mm dd yyyy; the field moves from segment to segment by itself."""
    driver.find_element(By.CSS_SELECTOR, 'label[for="date"]').click()
    field = driver.switch_to.active_element
    assert field.get_attribute("id") == "date"
    field.send_keys(picked.strftime("%m%d%Y"))


def test_renew_from_the_email_page_acts_once_and_writes_the_sheet(
    browser: WebDriver, cloud: LocalCloud, server: FunctionUrlServer, tmp_path: Path
) -> None:
    renew = local(email_links(cloud)["Renew"], server)

    browser.get(renew)
    assert heading(browser) == "Renew: Public liability insurance?"
    field = browser.find_element(By.ID, "date")
    assert field.get_property("value") == "2027-12-15"  # expiry + the 1 year renewal term
    assert cloud.store.load()[1] == []  # opening the page (or a scanner prefetching it) acts on nothing

    picked = date(2028, 1, 31)
    type_date(browser, picked)
    assert field.get_property("value") == picked.isoformat()
    browser.save_screenshot(str(tmp_path / "confirm.png"))
    submit(browser)

    assert heading(browser) == "Done"
    assert f"new expiry {picked.day} {picked:%b %Y}" in browser.find_element(By.TAG_NAME, "body").text
    browser.save_screenshot(str(tmp_path / "done.png"))
    [ack] = cloud.store.load()[1]
    assert (ack.item_id, ack.action, ack.new_expiry) == ("ACME-002", "renew", picked)
    header, row = cloud.sheet_rows()
    assert dict(zip(header, row, strict=True))["expiry_date"] == picked.isoformat()

    browser.back()  # the confirmation page again, as the browser kept it
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "confirm"))
    )
    submit(browser)
    assert heading(browser) == "This link was already used"
    assert len(cloud.store.load()[1]) == 1


def test_an_expired_link_says_so(browser: WebDriver, cloud: LocalCloud, server: FunctionUrlServer) -> None:
    claims = {"i": "ACME-002", "c": "2026-12-15", "n": 0, "a": "renew", "d": "2027-12-15"}
    expired = sign(LINK_SECRET.encode(), claims, datetime.now(UTC) - timedelta(days=1))
    browser.get(f"{server.url}/email?t={expired}")
    assert heading(browser) == "This link has expired"
    assert browser.find_elements(By.ID, "confirm") == []
    assert cloud.store.load()[1] == []
