"""A real headless browser for the dashboard tests: Debian's `chromium` driven over WebDriver
(`chromium-driver`) with Selenium. `scripts/test.sh` installs both packages when missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def start_browser(download_dir: Path | None = None):
    """A headless Chromium that keeps the page's console messages (and saves downloads in
    `download_dir`)."""
    if not browser_available():
        pytest.fail("chromium / chromedriver not installed (apt-get install chromium chromium-driver)",
                    pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if download_dir is not None:
        behavior = {"behavior": "allow", "downloadPath": str(download_dir), "eventsEnabled": False}
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", behavior)
    return driver


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (the log is consumed)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def foreign_requests(driver, origin: str) -> list[str]:
    """Resources the page loaded from anywhere but `origin`."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [u for u in urls if not u.startswith(origin) and not u.startswith("data:")]


def screenshot(driver, name: str) -> None:
    """Saves a screenshot when QUIVER_DASHBOARD_SCREENSHOTS names a directory (docs/dashboard)."""
    directory = os.environ.get("QUIVER_DASHBOARD_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(directory) / f"{name}.png"))
