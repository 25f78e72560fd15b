"""The page's "why?" toggle in a real browser: off, the page asks for no explanation; on, the
nearest training digits and the saliency heat-map render beside the answer."""

from __future__ import annotations

import pytest

from mnistlab.serve import create_app

from .test_browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM, settled_digit, stroke

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def page(live_server):
    """The page on the shipped lenet5 (its feature bank has shipped digits; a model trained
    here has none to show)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with live_server(create_app("lenet5")) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.set_default_timeout(15_000)
            page.goto(url + "/")
            sync_api.expect(page.locator("#model-info")).to_contain_text("model: lenet5")
            yield page
        finally:
            browser.close()


def test_why_shows_the_nearest_digits_and_the_saliency(page):
    from playwright.sync_api import expect

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/predict" in r.url else None)
    stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
    assert settled_digit(page) == "1"
    assert asked and not any("explain" in u for u in asked)  # off: nothing more is asked
    expect(page.locator("#why")).to_be_hidden()

    page.click("#why-toggle")
    expect(page.locator("#why-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#why-neighbours li")).to_have_count(5)
    expect(page.locator("#why-heatmap")).to_be_visible()
    assert "explain=true" in asked[-1]
    captions = page.locator("#why-neighbours li").all_inner_texts()
    assert sum(c.startswith("1") for c in captions) >= 3, captions
    assert all(img > 0 for img in page.locator("#why-neighbours img").evaluate_all(
        "(images) => images.map((i) => i.naturalWidth)"
    ))  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-why-1.png"))

    page.click("#why-toggle")
    expect(page.locator("#why")).to_be_hidden()
    count = len(asked)
    page.click("#clear")
    stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
    assert settled_digit(page) == "1"
    assert len(asked) > count and not any("explain" in u for u in asked[count:])
