"""Headless Chromium for browser tests: Debian's ``chromium`` and ``chromedriver``, driven by Selenium.

Nothing is downloaded: the driver path is given explicitly so Selenium Manager never reaches for the network.
Screenshots go to ``$KNIT_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the checkout), which CI keeps.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def artifacts_dir(*parts: str) -> Path:
    root = Path(os.environ.get("KNIT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium(width: int = 1280, height: int = 900):
    """A fresh headless Chromium session; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        raise RuntimeError("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    options = Options()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))
