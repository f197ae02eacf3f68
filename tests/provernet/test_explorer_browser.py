"""The explorer in a real browser: a small devnet (two honest rollers and one that signs invalid
proofs, proving the small circuit on the CPU) started with its explorer, and Debian's Chromium,
headless, driven through its chromedriver. The page must show finalized blocks with their draws
recomputed and matching, the slashed roller and its evidence, and follow the chain: a block
finalized on L1 appears without a reload.

It also measures what a user waits for: the page's load (navigation to the overview's data on
screen, the page's own performance mark) and its update latency (a block finalized on L1 to the
page's DOM showing it, seen by a mutation observer). With PROVERNET_EXPLORER_SCREENSHOTS=DIR it
saves the main pages there (docs/img/ holds the ones docs/explorer.md shows); with
PROVERNET_EXPLORER_MEASURE=FILE it writes the measurements there as JSON.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import trio

from market_contracts.rules import MarketParams
from provernet.devnet import Devnet, DevnetConfig

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Headless, and nothing that reaches past loopback (no update checks, sync or QUIC probes).
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000")
#: Short deadlines, batches of two blocks: the run takes a minute or two on two cores.
PARAMS = MarketParams.devnet().replace(k=2, t=10, late_window=20, t_agg=10)
RUN_LIMIT_S = 420
#: seconds one thing may take to appear on the page once L1 has it
PAGE_WAIT_S = 60
#: seconds a finalized batch may take to settle (its late windows close first)
SETTLE_WAIT_S = 120
#: Where the measurements go, when asked for, and how many of each are then taken: one of each
#: otherwise (every update seen is a finalized batch, about ten seconds here).
MEASURE = (Path(os.environ["PROVERNET_EXPLORER_MEASURE"])
           if os.environ.get("PROVERNET_EXPLORER_MEASURE") else None)
LOADS, UPDATES = (10, 5) if MEASURE else (1, 1)
#: where the main pages' screenshots go, when asked for
SCREENSHOTS = (Path(os.environ["PROVERNET_EXPLORER_SCREENSHOTS"])
               if os.environ.get("PROVERNET_EXPLORER_SCREENSHOTS") else None)
#: Marks the page (`notReloaded`), and records in `seenAt` when (ms since the epoch) the
#: overview's finalized count first reaches arguments[0]: a mutation observer runs as the DOM
#: changes, before the browser paints it.
SEEN_AT = """
const target = arguments[0];
window.notReloaded = true;
window.seenAt = null;
new MutationObserver((_, observer) => {
  const shown = document.querySelector('[data-testid=finalized-count]');
  if (shown && Number(shown.textContent) >= target) {
    window.seenAt = Date.now();
    observer.disconnect();
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


async def _wait_until(predicate, *args, poll: float = 0.5) -> None:
    while not await trio.to_thread.run_sync(predicate, *args):
        await trio.sleep(poll)


def _slashed(devnet: Devnet) -> str | None:
    (invalid,) = [r.account.address for r in devnet.rollers if r.behaviour == "invalid"]
    return invalid if devnet.market.roller_info(invalid).rep == 0 else None


class Page:
    """A Chromium tab on the explorer; every call blocks (run it in a thread)."""

    def __init__(self, url: str, profile: Path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        for binary in (CHROMIUM, CHROMEDRIVER):
            assert Path(binary).exists(), f"{binary} is missing: `make setup` installs Debian's " \
                                          "chromium and chromium-driver"
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
            options.add_argument(arg)
        # The driver's path, given: Selenium Manager (which would download one) never runs.
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.url = url

    def close(self) -> None:
        self.driver.quit()

    def open(self, route: str) -> None:
        self.driver.get(self.url + route)

    def go(self, route: str) -> None:
        """Follow a hash route in the same page, as a click on a link does (no reload)."""
        self.driver.execute_script("location.hash = arguments[0]", route)

    def wait_for(self, css: str, text=None, timeout: float = PAGE_WAIT_S):
        """The first element matching `css` (whose text passes `text`, if given)."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def found(driver):
            try:
                for element in driver.find_elements(By.CSS_SELECTOR, css):
                    if text is None or text(element.text):
                        return element
            except StaleElementReferenceException:
                pass  # re-rendered under us: look again
            return False

        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            found, f"nothing matched {css} within {timeout} s")

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def first_data_ms(self) -> float:
        """Milliseconds from the navigation's start to the first data on screen: the page's
        first "provernet:shown" performance mark."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('mark')"
            ".find(m => m.name.startsWith('provernet:shown')).startTime")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _number(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


async def test_the_explorer_shows_the_market_live_in_chromium(tmp_path):
    config = DevnetConfig(datadir=tmp_path / "devnet", params=PARAMS, rollers=2,
                          bad_rollers=(("invalid", 1),), l1_port=None, block_interval=4.0,
                          load=0.25, backend="cpu", explorer_port=0)
    devnet = Devnet(config)
    measured = {}
    with trio.fail_after(RUN_LIMIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(devnet.run)
            assert devnet.explorer_url.startswith("http://127.0.0.1:")
            await _wait_until(lambda: devnet.rollup.last_finalized() >= PARAMS.k
                              and _slashed(devnet) is not None)
            slashed = await trio.to_thread.run_sync(_slashed, devnet)
            page = await trio.to_thread.run_sync(Page, devnet.explorer_url, tmp_path / "chromium")
            try:
                await _check_pages(page, devnet, slashed, measured)
            finally:
                await trio.to_thread.run_sync(page.close)
            nursery.cancel_scope.cancel()
    if MEASURE:
        MEASURE.write_text(json.dumps(measured, indent=2) + "\n")
    print("explorer measurements:", json.dumps(measured))


async def _check_pages(page: Page, devnet: Devnet, slashed: str, measured: dict) -> None:
    run = trio.to_thread.run_sync

    # The overview, loaded from nothing: finalized blocks and a slash are there.
    await run(page.open, "#/")
    await run(page.wait_for, "[data-testid=finalized-count]",
              lambda t: (_number(t) or 0) >= PARAMS.k)
    assert _number(await run(lambda: page.wait_for("[data-testid=slash-count]").text)) >= 1
    measured["page_load_ms"] = [round(await run(page.first_data_ms))]
    await run(page.wait_for, "[data-testid=l1-status][data-reachable=true]")
    # Every finalized block's draw recomputes from L1 and matches the log and the settlement.
    await run(page.wait_for, "tr[data-block='1'][data-check=match]")
    assert await run(page.all, "[data-check=mismatch]") == []

    # A block's page: its rounds, drawn rollers and slots, outcomes and the draw's check.
    await run(page.go, "#/blocks/1")
    await run(page.wait_for, "[data-testid=draw-check] [data-check=match]")
    await run(page.wait_for, "[data-testid=finalize-tx] code")
    assert await run(page.all, ".round[data-round='0']")

    # The blocks list: every finalized block's draw matches (once the coordinator has published
    # it: a block may finalize before its last assignment is decided), and none mismatches.
    await run(page.go, "#/blocks")
    await run(page.wait_for, "tr[data-status=settled], tr[data-status=finalized]")
    done = await run(lambda: [r.get_attribute("data-block") for r in page.all(
        "tr[data-status=settled], tr[data-status=finalized]")])
    assert len(done) >= PARAMS.k
    for number in done:
        await run(page.wait_for, f"tr[data-block='{number}'][data-check=match]")
    assert await run(page.all, "[data-check=mismatch]") == []

    # The slashed roller: in the table, on its own page with its charts, and its evidence.
    await run(page.go, "#/rollers")
    await run(page.wait_for, f"tr[data-roller='{slashed}'][data-slashed=true]")
    await run(page.go, f"#/rollers/{slashed}")
    await run(page.wait_for, "[data-testid=roller-rep]", lambda t: t == "0")
    await run(page.wait_for, "[data-testid=roller-slashed]", lambda t: not t.startswith("0 "))
    assert len(await run(page.all, ".chart canvas")) == 2
    await run(page.go, "#/slashes")
    await run(page.wait_for, f"tr[data-slashed-roller='{slashed}'] .check-match")

    # Live: back on the overview, the next finalizations show up without a reload.
    await run(page.go, "#/")
    await run(page.wait_for, "[data-testid=finalized-count]", lambda t: _number(t) is not None)
    measured["update_latency_ms"] = []
    for _ in range(UPDATES):
        target = await run(devnet.rollup.last_finalized) + PARAMS.k
        await run(page.driver.execute_script, SEEN_AT, target)
        while await run(devnet.rollup.last_finalized) < target:
            await trio.sleep(0.05)
        on_l1 = time.time()
        await run(page.wait_for, "[data-testid=finalized-count]",
                  lambda t: (_number(t) or 0) >= target)
        seen_at = await run(page.driver.execute_script,
                            "return window.notReloaded && window.seenAt")
        assert seen_at, "the page was reloaded"
        measured["update_latency_ms"].append(round(seen_at - on_l1 * 1000))

    # Loads from nothing again, for the measurement.
    for _ in range(LOADS - 1):
        await run(page.driver.refresh)
        await run(page.wait_for, "[data-testid=finalized-count]", lambda t: t.isdigit())
        measured["page_load_ms"].append(round(await run(page.first_data_ms)))

    if SCREENSHOTS:
        await _screenshots(page, slashed)


async def _screenshots(page: Page, slashed: str) -> None:
    """The main pages, once block 1 is settled (so that its page shows what it paid)."""
    run = trio.to_thread.run_sync
    await run(page.go, "#/blocks/1")
    await run(lambda: page.wait_for("[data-status=settled]", timeout=SETTLE_WAIT_S))
    await run(page.wait_for, "[data-testid=rewards]")
    await run(page.screenshot, "explorer-block")
    for route, name, ready in (("#/", "explorer-overview", "[data-testid=finalized-count]"),
                               ("#/rollers", "explorer-rollers", "tr[data-roller]"),
                               (f"#/rollers/{slashed}", "explorer-roller", ".chart canvas")):
        await run(page.go, route)
        await run(page.wait_for, ready)
        await run(page.screenshot, name)
