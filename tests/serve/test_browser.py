"""A real browser on the real server: draw a 1, then a 0, with mouse strokes on the page."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
from collections.abc import Iterator
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
def site(trained_lenet5, live_server):
    """(browser, base URL): headless chromium and a live server with the trained lenet5."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with live_server(create_app(trained_lenet5)) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield browser, url
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(site, width: int, height: int, init_script: str | None = None) -> Iterator:
    """A fresh page of the drawing app at width x height, loaded and ready to draw; on leaving,
    checks it fetched nothing from elsewhere."""
    from playwright.sync_api import expect

    browser, url = site
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.set_default_timeout(15_000)
        if init_script:
            page.add_init_script(init_script)
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
        expect(page.locator("#model-info")).to_contain_text("model: lenet5")
        expect(page.locator("#bars li")).to_have_count(10)
        yield page
        assert not requests_elsewhere, f"the page fetched from elsewhere: {requests_elsewhere}"
    finally:
        page.close()


@pytest.fixture(scope="module")
def page(site):
    with open_page(site, 900, 700) as page:
        yield page


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


# Registered before the page's own scripts run (an init script, which the CSP does not cover):
# every layout shift from the first paint on, with the elements that moved.
SHIFT_OBSERVER = """
window.__shifts = [];
window.__shiftObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__shifts.push({
      value: e.value,
      recentInput: e.hadRecentInput,
      moved: e.sources.map((s) => [
        s.node ? s.node.id || s.node.className || s.node.nodeName : "?",
        [s.previousRect.y, s.previousRect.height, s.currentRect.y, s.currentRect.height],
      ]),
      at: Math.round(e.startTime),
    });
  }
});
window.__shiftObserver.observe({ type: "layout-shift", buffered: true });
"""
TAKE_SHIFTS = """() => {
  for (const e of window.__shiftObserver.takeRecords()) {
    window.__shifts.push({ value: e.value, recentInput: e.hadRecentInput, moved: [] });
  }
  return window.__shifts;
}"""
# The shifts since the first `n` (flushed first), taken out of the record.
DROP_SHIFTS = """(n) => {
  for (const e of window.__shiftObserver.takeRecords()) {
    window.__shifts.push({ value: e.value, recentInput: e.hadRecentInput, moved: [] });
  }
  return window.__shifts.splice(n);
}"""
# The boxes that must keep their place and size whatever the answers say (page coordinates).
WATCHED = ["#pad", ".result", ".answer", "#bars", ".preview", "#number-pad", "#number-status"]
BOXES = """(selectors) => Object.fromEntries(selectors.map((s) => {
  const r = document.querySelector(s).getBoundingClientRect();
  const box = [r.left + scrollX, r.top + scrollY, r.width, r.height];
  return [s, box.map((v) => Math.round(v * 10) / 10)];
}))"""
# Pairs of boxes that must not overlap, and nothing may stick out sideways.
LAID_OUT = [
    "header",
    "#pad",
    ".pad .controls",
    ".answer",
    "#bars",
    ".preview",
    ".numbers h2",
    ".stack",
    ".numbers .controls",
    "#number-status",
]


def blank_canvas(width: int, height: int) -> str:
    """The JSON body the page sends for a white canvas of this size."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return json.dumps({"image": url})


def full_screenshot(page, path: Path) -> None:
    """A full-page screenshot, whose own layout shifts are left out of the record: Chromium
    resizes the viewport to the page's height to take it."""
    page.wait_for_timeout(300)  # the bars' width transition; the last answer's shifts reported
    kept = len(page.evaluate(TAKE_SHIFTS))
    page.screenshot(path=str(path), full_page=True)
    page.wait_for_timeout(300)
    page.evaluate(DROP_SHIFTS, kept)


def overlapping(page) -> list[tuple[str, str]]:
    boxes = page.evaluate(BOXES, LAID_OUT)
    out = []
    for i, a in enumerate(LAID_OUT):
        for b in LAID_OUT[i + 1 :]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[a], boxes[b]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                out.append((a, b))
    return out


@pytest.mark.parametrize("width,height,name", [(1280, 800, "desktop"), (390, 844, "phone")])
def test_answers_do_not_move_the_page(site, width, height, name):
    """Nothing moves under the pen: every kind of answer (a digit, a number, "not sure" with its
    greyed best guess, a blank canvas, an error, no number) fills space reserved from the start,
    so the cumulative layout shift stays 0 and the number pad keeps its place."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(site, width, height, SHIFT_OBSERVER) as page:
        answers = []
        page.on("response", lambda r: answers.append(r) if "/api/predict" in r.url else None)
        before = page.evaluate(BOXES, WATCHED)
        full_screenshot(page, ARTIFACTS / f"layout-{name}-before.png")
        moved = {}

        def check(step: str) -> None:
            now = page.evaluate(BOXES, WATCHED)
            changed = {s: (before[s], now[s]) for s in WATCHED if now[s] != before[s]}
            if changed:
                moved[step] = changed

        page.locator("#pad").scroll_into_view_if_needed()
        stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
        assert settled_digit(page) == "1"
        check("a digit")

        page.locator("#number-pad").scroll_into_view_if_needed()
        stroke(page, [(0.30, 0.2 + 0.06 * i) for i in range(11)], canvas="#number-pad")
        turn = [2 * math.pi * t / 24 for t in range(26)]
        ring = [(0.5 + 0.08 * math.sin(a), 0.5 - 0.3 * math.cos(a)) for a in turn]
        stroke(page, ring, canvas="#number-pad")
        expect(page.locator("#number")).to_have_text("10")
        check("a number")
        full_screenshot(page, ARTIFACTS / f"layout-{name}-after.png")

        # one dot: ink, but no digit (the digit detector refuses it), so a greyed best guess
        page.locator("#pad").scroll_into_view_if_needed()
        page.click("#clear")
        stroke(page, [(0.5, 0.5), (0.51, 0.5)])
        expect(page.locator("body")).to_have_attribute("data-busy", "false")
        expect(page.locator("#confidence")).to_have_text("not sure")
        refused = answers[-1].json()
        guess = page.locator("#guess")
        guess_shown = guess.count() == 1 and guess.is_visible()
        guess_text = guess.inner_text() if guess_shown else None
        check("not sure")
        full_screenshot(page, ARTIFACTS / f"layout-{name}-not-sure.png")

        # the server's own answers for a blank canvas and for a broken image, via the page
        page.route("**/api/predict", lambda r: r.continue_(post_data=blank_canvas(280, 280)))
        page.click("#clear")
        stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
        expect(page.locator("#status")).to_contain_text("blank")
        check("a blank canvas")
        page.unroute("**/api/predict")
        broken = json.dumps({"image": "data:image/png;base64,bm90IGFuIGltYWdl"})
        page.route("**/api/predict", lambda r: r.continue_(post_data=broken))
        page.click("#clear")
        stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
        expect(page.locator("#status")).to_have_class(re.compile(r"\berror\b"))
        check("an error")
        page.unroute("**/api/predict")
        page.route("**/api/read", lambda r: r.continue_(post_data=blank_canvas(640, 180)))
        page.locator("#number-pad").scroll_into_view_if_needed()
        page.click("#number-clear")
        stroke(page, [(0.30, 0.2 + 0.06 * i) for i in range(11)], canvas="#number-pad")
        expect(page.locator("#number")).to_have_text("?")
        expect(page.locator("#number-status")).to_contain_text("blank")
        check("no number")
        page.unroute("**/api/read")
        page.route("**/api/read", lambda r: r.continue_(post_data=broken))
        page.click("#number-clear")
        stroke(page, [(0.30, 0.2 + 0.06 * i) for i in range(11)], canvas="#number-pad")
        expect(page.locator("#number-status")).to_have_class(re.compile(r"\berror\b"))
        check("an error reading a number")
        page.unroute("**/api/read")
        full_screenshot(page, ARTIFACTS / f"layout-{name}-errors.png")

        page.wait_for_timeout(300)  # layout-shift entries are reported after the frame
        shifts = page.evaluate(TAKE_SHIFTS)
        total = sum(s["value"] for s in shifts)
        assert total == 0, f"layout shift {total:.4f} on the {name} page: {shifts}"
        assert not moved, f"boxes moved or changed size on the {name} page: {moved}"
        assert not overlapping(page), f"boxes overlap on the {name} page: {overlapping(page)}"
        wide = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert wide[0] <= wide[1], f"the {name} page is wider than its viewport: {wide}"

        assert refused["digit"] is None and refused["guess"] is not None, refused
        assert guess_shown, "a 'not sure' answer shows no best guess"
        assert str(refused["guess"]) in guess_text
        colours = [
            page.locator(s).evaluate("(e) => getComputedStyle(e).color")
            for s in ("#guess", "#confidence")
        ]
        assert colours[0] != colours[1], f"the best guess is not greyed: {colours}"
