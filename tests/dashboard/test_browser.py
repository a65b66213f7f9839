"""End to end in a real browser: `docflywheel dashboard` on a free port, Debian's Chromium through Playwright.

Labels an item with the mouse, one with the keyboard shortcut, skips one by shortcut, checks the labels
are in the store, saves a screenshot of every page (the folder is printed; run pytest with -s to see it)
and downloads a data set.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PAGES = {"review": "Review queue", "agreement": "Agreement with people", "flywheel": "Flywheel",
         "datasets": "Data sets"}
CHARTS = {"review": 0, "agreement": 6, "flywheel": 5, "datasets": 1}  # Altair charts each page draws here

NAV = {"review": "Review queue", "agreement": "Agreement", "flywheel": "Flywheel", "datasets": "Data sets"}

pytestmark = pytest.mark.slow


def _screenshot(page: Any, path: Path, charts: int) -> None:
    """A full-page screenshot once the script has finished and its lazily loaded elements have drawn."""
    page.wait_for_function(
        "([charts]) => !document.querySelector('[data-testid^=stStatusWidget], [data-testid^=stSkeleton]')"
        " && !/computing/i.test(document.body.innerText)"
        " && document.querySelectorAll('[data-testid=stVegaLiteChart]').length >= charts"
        " && Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart]'))"
        "      .every(chart => chart.querySelector('canvas, svg'))", arg=[charts], timeout=120_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)


def _idle(page: Any) -> None:
    """Wait until the script run has finished (Streamlit shows stale elements of the last run until then)."""
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid^=stStatusWidget]')", timeout=60_000)


def _label_the_rest(flywheel: Flywheel) -> None:
    """Two people's scores for every generation the rubric judge scored, near the judge's own."""
    store = flywheel.store
    judged = [j for rows in store.judgments_for([g.id for g in store.generations()], judge_kind="rubric").values()
              for j in rows]
    store.insert("human_labels", [{"id": f"{who}-{j['id']}", "generation_id": j["generation_id"],
                                   "criterion": j["criterion"], "score": min(5.0, max(1.0, j["score"] + shift)),
                                   "annotator": who, "status": "labelled"}
                                  for j in judged for who, shift in (("grace", 0), ("alan", 1))])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(flywheel: Flywheel, tmp_path: Path) -> Iterator[str]:
    """The dashboard command serving the flywheel store; yields its URL."""
    port = _free_port()
    log = open(tmp_path / "dashboard.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "docflywheel.cli", "dashboard", "--db", str(flywheel.store.path),
                                "--port", str(port)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dashboard did not start:\n{(tmp_path / 'dashboard.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_label_an_item_in_chromium_and_find_it_in_the_store(flywheel: Flywheel, served: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots of every page: {shots}")
    first, second, third = flywheel.review
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 2400})
        try:
            page = browser.new_page()
            page.goto(served, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("heading", name="pkg.mod.add0")).to_be_visible(timeout=30_000)
            _screenshot(page, shots / "review.png", CHARTS["review"])
            page.get_by_role("textbox", name="Annotator").fill("ada")
            page.get_by_role("textbox", name="Annotator").press("Enter")
            _idle(page)

            page.get_by_role("radiogroup", name="Content adequacy").get_by_text("4", exact=True).click()
            page.get_by_role("button", name="Save and next").click()
            expect(page.get_by_text(f"Saved 1 label(s) for {first[:8]}")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("heading", name="pkg.mod.add1")).to_be_visible(timeout=30_000)
            _idle(page)

            page.get_by_role("radiogroup", name="Fluency and understandability").get_by_text("2", exact=True).click()
            page.keyboard.press("Alt+S")  # the Save shortcut, with the focus still on the score
            expect(page.get_by_text(f"Saved 1 label(s) for {second[:8]}")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("heading", name="pkg.mod.add2")).to_be_visible(timeout=30_000)
            _idle(page)  # until the run ends, the last item's stale form (and its Skip button) is still shown
            expect(page.get_by_role("button", name="Skip")).to_be_visible(timeout=30_000)
            page.keyboard.press("Alt+K")  # the Skip shortcut
            expect(page.get_by_text(f"Skipped {third[:8]}")).to_be_visible(timeout=30_000)

            _label_the_rest(flywheel)  # from this process, while the dashboard runs: the agreement page has data
            for name, heading in PAGES.items():
                if name != "review":
                    page.get_by_role("link", name=NAV[name]).click()
                    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
                    if name == "datasets":
                        expect(page.get_by_role("button", name="Download JSON lines")).to_be_visible(timeout=60_000)
                    _screenshot(page, shots / f"{name}.png", CHARTS[name])
            assert page.get_by_role("textbox", name="Annotator").input_value() == "ada"  # kept across pages
            with page.expect_download(timeout=120_000) as download:
                page.get_by_role("button", name="Download JSON lines").click()
            download.value.save_as(tmp_path / "sft.zip")
        finally:
            browser.close()
    with zipfile.ZipFile(tmp_path / "sft.zip") as archive:
        lines = archive.read("train.jsonl").decode().splitlines()
        assert "README.md" in archive.namelist()
    assert [json.loads(line) for line in lines] == [r["data"] for r in flywheel.store.dataset_rows(flywheel.dataset)]
    labels = {g: [l for l in rows if l["annotator"] == "ada"]
              for g, rows in flywheel.store.labels_for([first, second, third]).items()}
    assert [(l["criterion"], l["score"]) for l in labels[first]] == [("content_adequacy", 4.0)]
    assert [(l["criterion"], l["score"]) for l in labels[second]] == [("fluency", 2.0)]
    assert [l["status"] for l in labels[third]] == ["skipped"]
    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{name}.png" for name in PAGES)
    assert all(p.stat().st_size > 10_000 for p in shots.iterdir())
