"""The local workspace (`ew serve`) in a real headless Chromium: the clock's Next day delivers the
weekend's deferred alert, the card's Renew opens the modal, a bad date comes back next to the field, a
good one updates the card in place and writes the sheet row; Snooze and Ack only update their cards; a
contract dropped on the page arrives in #intake as a proposal whose Approve adds the sheet row.

Everything behind the page is real: signed Slack interactivity payloads through ack-handler on a
LocalCloud (moto + fake Slack + fake Google)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ew_local.cloud import LocalCloud
from ew_local.sample_documents import WASTE_AGREEMENT, text_pdf
from ew_local.workspace.server import WorkspaceServer
from ew_local.workspace.session import Workspace

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
SUNDAY = date(2026, 11, 22)  # the first tick's alerts wait for Monday 08:00
INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example",
            "intake_channel": INTAKE}  # fmt: skip
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed,notes\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15,Broker: Keane & Co\n"
    "ACME-010,Accounting software subscription,subscription,2026-12-20,U04FIN0001,,1 year,2025-12-20,\n"
)
WAIT_SECONDS = 10


@pytest.fixture
def server(browser: WebDriver) -> Iterator[WorkspaceServer]:
    browser.set_window_size(1200, 800)
    with (
        LocalCloud(SETTINGS) as cloud,
        Workspace(cloud, SUNDAY, "Europe/London", {INTAKE: "intake"}) as workspace,
    ):
        cloud.mirror(
            SHEET.encode(), (EXAMPLE / "rules.txt").read_bytes(), (EXAMPLE / "voice.txt").read_bytes()
        )
        workspace.first_tick()
        with WorkspaceServer(workspace) as local:
            yield local
        assert local.errors == []


def press(browser: WebDriver, button: WebElement) -> None:
    """Click something that loads a new page, and wait for it. While the old page goes, chromedriver
    sometimes answers "Node with given id does not belong to the document" instead of "stale": retry."""
    button.click()
    wait = WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=[WebDriverException])
    wait.until(expected_conditions.staleness_of(button))


def card(browser: WebDriver, item: str) -> WebElement:
    return next(m for m in browser.find_elements(By.CSS_SELECTOR, "#conversation .message") if item in m.text)


def button(element: WebElement, label: str) -> WebElement:
    return element.find_element(By.XPATH, f".//button[normalize-space()='{label}']")


def type_date(browser: WebDriver, field_id: str, picked: date) -> None:
    """As a person types a date: click the field's label (the caret lands in the first segment), then
    the digits in the en-US order, mm dd yyyy."""
    browser.find_element(By.CSS_SELECTOR, f'label[for="{field_id}"]').click()
    field = browser.switch_to.active_element
    assert field.get_attribute("id") == field_id
    field.send_keys(picked.strftime("%m%d%Y"))
    assert field.get_property("value") == picked.isoformat()


def next_day_to_the_first_card(browser: WebDriver, server: WorkspaceServer) -> None:
    browser.get(server.url + "/")
    assert browser.find_element(By.ID, "clock").text.startswith("Sun 22 Nov 2026, 08:")
    assert browser.find_elements(By.CSS_SELECTOR, "#conversation .message") == []  # waiting for Monday
    press(browser, browser.find_element(By.ID, "next-day"))
    assert browser.find_element(By.ID, "clock").text.startswith("Mon 23 Nov 2026, 08:")
    assert "li@acme.example (U04FIN0001)" in browser.find_element(By.CSS_SELECTOR, "aside a.active").text


def test_renew_with_a_bad_date_then_a_good_one_updates_the_card_and_the_sheet(
    browser: WebDriver, server: WorkspaceServer
) -> None:
    next_day_to_the_first_card(browser, server)
    insurance = card(browser, "Public liability insurance")
    assert "Broker: Keane & Co" in insurance.text  # the sheet's & shown as typed, not as &amp;
    press(browser, button(insurance, "Renew"))

    modal = browser.find_element(By.ID, "modal")
    assert modal.find_element(By.CLASS_NAME, "modal-title").text == "Renew"
    assert browser.find_element(By.ID, "field-date").get_property("value") == "2027-12-15"
    type_date(browser, "field-date", date(2026, 11, 20))
    press(browser, browser.find_element(By.ID, "modal-submit"))
    error = browser.find_element(By.ID, "error-date")
    assert error.text == "The new expiry date must be after today (23 Nov 2026)."
    # next to its field: in the same field group, right under it
    assert error.find_element(By.XPATH, "..").find_element(By.ID, "field-date")
    assert browser.find_element(By.ID, "field-date").get_property("value") == "2026-11-20"  # kept as typed

    type_date(browser, "field-date", date(2028, 1, 31))
    press(browser, browser.find_element(By.ID, "modal-submit"))
    assert browser.find_elements(By.ID, "modal") == []
    insurance = card(browser, "Public liability insurance")
    assert "Renewed by @U04FIN0001 on 23 Nov 2026: new expiry 31 Jan 2028." in insurance.text
    assert insurance.find_elements(By.TAG_NAME, "button") == []  # chat.update took the buttons away

    press(browser, browser.find_element(By.LINK_TEXT, "Sheet"))
    row = browser.find_element(By.CSS_SELECTOR, "#sheet tr.changed")
    assert row.get_attribute("data-row") == "2"
    assert "2028-01-31" in [c.text for c in row.find_elements(By.CSS_SELECTOR, "td.changed")]
    header, first = server.workspace.sheet()[0], server.workspace.sheet()[1][0]
    assert dict(zip(header, first, strict=True))["expiry_date"] == "2028-01-31"

    press(browser, browser.find_element(By.LINK_TEXT, "Audit trail"))
    audit = browser.find_element(By.ID, "audit").text
    assert "renew" in audit and "sheet_write" in audit


def test_snooze_and_ack_only_update_their_cards(browser: WebDriver, server: WorkspaceServer) -> None:
    next_day_to_the_first_card(browser, server)
    press(browser, button(card(browser, "Public liability insurance"), "Snooze"))
    assert browser.find_element(By.CLASS_NAME, "modal-title").text == "Snooze"
    assert browser.find_element(By.ID, "field-date").get_property("value") == "2026-11-30"  # a week on
    press(browser, browser.find_element(By.ID, "modal-submit"))
    assert (
        "Snoozed by @U04FIN0001 on 23 Nov 2026 until 30 Nov 2026." in card(browser, "Public liability").text
    )

    press(browser, button(card(browser, "Accounting software subscription"), "Ack only"))
    assert browser.find_elements(By.ID, "modal") == []  # one tap, no modal
    accounting = card(browser, "Accounting software subscription")
    assert "Acknowledged by @U04FIN0001 on 23 Nov 2026." in accounting.text
    assert accounting.find_elements(By.TAG_NAME, "button") == []
    acks = {(a.item_id, a.action) for a in server.workspace.cloud.store.load()[1]}
    assert acks == {("ACME-002", "snooze"), ("ACME-010", "ack_only")}


# What a file dropped from the desktop gives the page: a drag over it, then the drop, carrying the file.
DROP = """
const [data, name, type, target] = arguments;
const file = new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, {type: type});
const carried = new DataTransfer();
carried.items.add(file);
for (const kind of ["dragenter", "dragover", "drop"]) {
  target.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: carried}));
}
"""


def test_a_contract_dropped_on_the_page_arrives_as_a_proposal_whose_approve_adds_the_row(
    browser: WebDriver, server: WorkspaceServer, tmp_path: Path
) -> None:
    browser.get(server.url + f"/?c={INTAKE}")
    assert "No messages here yet." in browser.find_element(By.CLASS_NAME, "pane").text

    # Chosen with the file input and sent with Forward (the page without its script): refused in words.
    unread = tmp_path / "contracts.zip"
    unread.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    browser.find_element(By.ID, "forward-file").send_keys(str(unread))
    press(browser, browser.find_element(By.ID, "forward-submit"))
    said = browser.find_element(By.ID, "forwarded")
    assert said.get_attribute("role") == "alert"
    assert said.text.startswith("contracts.zip was not forwarded: .zip files are not read;")
    assert browser.find_elements(By.CSS_SELECTOR, "#conversation .message") == []

    # Dropped on the page: forwarded to the inbound address, read by intake-parser, proposed in #intake.
    pdf = text_pdf(WASTE_AGREEMENT, title="Commercial Waste Collection Agreement")
    zone = browser.find_element(By.ID, "drop-zone")
    browser.execute_script(
        DROP, base64.b64encode(pdf).decode(), "waste-agreement.pdf", "application/pdf", zone
    )
    WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=[WebDriverException]).until(
        expected_conditions.staleness_of(zone)
    )
    assert browser.find_element(By.ID, "forwarded").text == (
        "waste-agreement.pdf reached expires@acme.example: intake-parser proposes a row expiring "
        "31 Jan 2027 in #intake. Approve adds it to the sheet."
    )
    proposal = card(browser, "Proposed new item")
    assert "Expiry date: 2027-01-31" in proposal.text
    assert "Owner (Slack user ID or email): ops@acme.example" in proposal.text
    assert "Evidence: “The initial term ends on 31 January 2027.”" in proposal.text

    press(browser, button(proposal, "Approve"))
    proposal = card(browser, "Proposed new item")
    assert "added to the sheet as ACME-011 (row 4)." in proposal.text
    assert proposal.find_elements(By.TAG_NAME, "button") == []

    press(browser, browser.find_element(By.LINK_TEXT, "Sheet"))
    row = browser.find_element(By.CSS_SELECTOR, "#sheet tr.changed")
    assert row.get_attribute("data-row") == "4"
    cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "td.changed")]
    assert "2027-01-31" in cells and "ops@acme.example" in cells and "ACME-011" in cells
