"""Helpers for the browser tests: Debian's Chromium driven by Playwright, pages
that record their console errors, and a barrier that makes two clicks land at once."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from playwright.async_api import Browser, ConsoleMessage, Error, Page, Route, ViewportSize, async_playwright

from tests.stack import ROOT, response_text  # noqa: F401 (re-exported for the browser tests)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
README_IMAGES = ROOT / "docs" / "images"

# Counts the tones the console plays (it synthesizes its notification sound).
COUNT_TONES = """
window.__tones = 0;
const originalOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return originalOscillator.apply(this, arguments);
};
"""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Chromium is not installed: run scripts/ensure-chromium.sh (make test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class ConsoleLog:
    """Every error a page reports: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page, name: str) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{name}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{name}: uncaught {error}"))

    def unexpected(self, expected: list[str]) -> list[str]:
        """The errors left after removing each expected one once (exact text)."""
        left = list(self.errors)
        for entry in expected:
            if entry in left:
                left.remove(entry)
        return left


async def open_page(browser: Browser, url: str, log: ConsoleLog, name: str, viewport: ViewportSize) -> Page:
    context = await browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 500, has_touch=True)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.add_init_script(COUNT_TONES)
    log.watch(page, name)
    await page.goto(url)
    return page


async def sign_in(page: Page, token: str) -> None:
    """Signs in to the console and waits until its live feed is connected."""
    await page.locator("#token-input").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator('#connection[data-status="live"]').wait_for()


@dataclass
class Simultaneous:
    """Holds matching requests until `count` of them were sent, then lets them all
    go: the clicks that sent them happened "at once", whatever the browsers' timing."""

    count: int
    statuses: list[int] = field(default_factory=list)
    _held: int = 0
    _all_sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, route: Route) -> None:
        self._held += 1
        if self._held >= self.count:
            self._all_sent.set()
        await asyncio.wait_for(self._all_sent.wait(), 20)
        try:
            response = await route.fetch()
        except Error:
            await route.abort()
            raise
        self.statuses.append(response.status)
        await route.fulfill(response=response)

    async def install(self, page: Page, url_glob: str) -> None:
        await page.route(url_glob, self.handle)
