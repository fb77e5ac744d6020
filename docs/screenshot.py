"""Retake docs/workspace.png, the README's picture of `ew serve`: `uv run python docs/screenshot.py`.

The owner's DM after a Renew (through its modal) and an Ack only. Needs Debian's chromium and
chromium-driver (and fonts-noto-color-emoji for the emoji a card shows)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ew_local.cloud import LocalCloud
from ew_local.demo import EXAMPLE_SLACK_USERS
from ew_local.serve import CHANNELS
from ew_local.workspace.server import WorkspaceServer
from ew_local.workspace.session import Workspace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "acme"
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example",
            "digest_channel": "C04DIGEST1", "intake_channel": "C04INTAKE1"}  # fmt: skip


def press(browser: webdriver.Chrome, card: str, label: str) -> None:
    button = browser.find_element(By.CSS_SELECTOR, card).find_element(
        By.XPATH, f".//button[normalize-space()='{label}']"
    )
    button.click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(button))


def main() -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    browser.set_window_size(1100, 780)
    try:
        with (
            LocalCloud(SETTINGS, slack_users=EXAMPLE_SLACK_USERS) as cloud,
            Workspace(cloud, date(2026, 11, 23), "Europe/London", CHANNELS) as workspace,
        ):
            cloud.mirror(
                *((EXAMPLE / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt"))
            )
            workspace.first_tick()
            with WorkspaceServer(workspace) as server:
                browser.get(server.url + "/?c=D04FIN0001")
                # Renew the first card through its modal, Ack only the last: two answered cards, one open.
                press(browser, "#conversation .message:first-child", "Renew")
                submit = browser.find_element(By.ID, "modal-submit")
                submit.click()
                WebDriverWait(browser, 10).until(expected_conditions.staleness_of(submit))
                press(browser, "#conversation .message:last-child", "Ack only")
                browser.get(server.url + "/?c=D04FIN0001")  # from the top (the click's answer scrolls)
                browser.save_screenshot(str(ROOT / "docs" / "workspace.png"))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
