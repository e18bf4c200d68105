"""The app in a real browser: `streamlit run app.py` on 127.0.0.1, driven by Playwright with Debian's chromium.

The main flow is clicked through on a tiny default (30 demo images, the two 28-px MNIST CNNs): open the app (it
lands on Rank with the defaults chosen), press the rank button, wait for the ranking chart and the verdict, then
open Explore and wait for its projection. Screenshots are saved under the test's temporary folder.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
TINY_DEFAULTS = {"TRANSFER_SCOUT_DEMO_LIMIT": "30",
                 "TRANSFER_SCOUT_DEFAULT_MODELS": "zoo:cnn-mnist,zoo:cnn-mnist-random"}
START_TIMEOUT_S = 90
RANK_TIMEOUT_MS = 150_000

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="the real-browser test needs Debian's chromium, which is not installed here "
                             "(`make test` installs it with apt-get when run as root; or: apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer on {url} within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def app_url():
    port = _free_port()
    env = {**os.environ, **TINY_DEFAULTS}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port",
         str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def page(app_url):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="PyPI playwright is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        # tall: Streamlit scrolls inside its own container, so a full-page screenshot is one viewport
        context = browser.new_context(viewport={"width": 1400, "height": 2400})
        page = context.new_page()
        page.goto(app_url)
        yield page
        browser.close()


def test_one_click_ranks_the_defaults_and_shows_chart_and_verdict(page, tmp_path):
    button = page.get_by_role("button", name="Rank 2 models")
    button.wait_for(timeout=60_000)
    assert page.get_by_text("Textile defects").first.is_visible()
    button.click()
    page.locator(".js-plotly-plot").first.wait_for(timeout=RANK_TIMEOUT_MS)
    verdict = page.get_by_text("is the best bet").first
    verdict.wait_for(timeout=30_000)
    page.get_by_text("This run took").wait_for(timeout=RANK_TIMEOUT_MS)  # the final ranking, after the provisional
    shot = tmp_path / "rank.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.locator(".js-plotly-plot .bars, .js-plotly-plot .barlayer").count() >= 1
    assert "cnn-mnist" in verdict.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


def test_explore_shows_the_fisher_projection_of_the_ranked_models(page, tmp_path):
    page.get_by_role("link", name="Explore").first.click()
    page.get_by_text("Why the ranking of 2 models").wait_for(timeout=30_000)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    shot = tmp_path / "explore.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert "Fisher space" in chart.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
