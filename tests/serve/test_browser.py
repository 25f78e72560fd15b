"""A real browser on the real server: draw a 1, then a 0, with mouse strokes on the page."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from mnistlab.serve import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def page(trained_lenet5, live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with live_server(create_app(trained_lenet5)) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.set_default_timeout(15_000)
            requests_elsewhere = []
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(url) or r.url.startswith("data:")
                    else requests_elsewhere.append(r.url)
                ),
            )
            page.goto(url + "/")
            # Locator assertions, not wait_for_function: the page's CSP forbids eval().
            sync_api.expect(page.locator("#model-info")).to_contain_text("model: lenet5")
            sync_api.expect(page.locator("#bars li")).to_have_count(10)
            yield page
            assert not requests_elsewhere, f"the page fetched from elsewhere: {requests_elsewhere}"
        finally:
            browser.close()


def stroke(page, points: list[tuple[float, float]], canvas: str = "#pad") -> None:
    """Drag the mouse through points given in 0..1 canvas coordinates."""
    box = page.locator(canvas).bounding_box()
    xy = [(box["x"] + px * box["width"], box["y"] + py * box["height"]) for px, py in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()


def settled_digit(page) -> str:
    """The digit shown once the debounce has fired and no request is outstanding."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-busy", "false")
    expect(page.locator("#preview")).to_be_visible()
    return page.locator("#digit").inner_text().strip()


def test_draw_one_then_zero(page):
    stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
    assert settled_digit(page) == "1"
    bars = page.locator("#bars li")
    assert bars.count() == 10 and page.locator("#bars li.top").inner_text().startswith("1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the bars' width transition finish
    page.screenshot(path=str(ARTIFACTS / "page-drew-1.png"))

    page.click("#clear")
    assert page.locator("#digit").inner_text().strip() == ""
    assert page.locator("#preview").is_hidden()
    turn = [2 * math.pi * t / 24 for t in range(26)]  # a little past full circle, as people do
    ring = [(0.5 + 0.22 * math.sin(a), 0.5 - 0.33 * math.cos(a)) for a in turn]
    stroke(page, ring)
    assert settled_digit(page) == "0"
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "page-drew-0.png"))
    confidence = page.locator("#confidence").inner_text()
    assert confidence.endswith("% sure")


def test_write_a_number(page):
    """The wide pad beside the digit pad: a 1 and a 0 with a gap read as "10", boxes drawn."""
    from playwright.sync_api import expect

    page.locator("#number-pad").scroll_into_view_if_needed()
    stroke(page, [(0.30, 0.2 + 0.06 * i) for i in range(11)], canvas="#number-pad")
    turn = [2 * math.pi * t / 24 for t in range(26)]
    ring = [(0.5 + 0.08 * math.sin(a), 0.5 - 0.3 * math.cos(a)) for a in turn]
    stroke(page, ring, canvas="#number-pad")
    expect(page.locator("#number")).to_have_text("10")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-wrote-10.png"))
    page.click("#number-clear")
    expect(page.locator("#number")).to_have_text("\u00a0")


def test_a_face_is_not_sure(page):
    """A drawn face is no digit: the page says "not sure" rather than show a confident digit."""
    from playwright.sync_api import expect

    page.locator("#pad").scroll_into_view_if_needed()
    page.click("#clear")
    turn = [2 * math.pi * t / 30 for t in range(32)]
    stroke(page, [(0.5 + 0.4 * math.sin(a), 0.5 - 0.4 * math.cos(a)) for a in turn])
    stroke(page, [(0.35, 0.38), (0.36, 0.39)])  # two eyes
    stroke(page, [(0.65, 0.38), (0.66, 0.39)])
    stroke(page, [(0.3 + 0.04 * i, 0.62 + 0.1 * math.sin(math.pi * i / 10)) for i in range(11)])
    expect(page.locator("body")).to_have_attribute("data-busy", "false")
    expect(page.locator("#confidence")).to_have_text("not sure")
    assert page.locator("#digit").inner_text().strip() == "?"
    assert page.locator("#status").inner_text().strip()  # the reason is shown
