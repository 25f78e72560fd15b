"""A real browser, `serve --collect`: draw a 1, correct it with "wrong? it is 7", save a 1."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.serve import create_app

# test_browser.py's settings and helpers (test modules here import as files, not a package)
HELPERS = Path(__file__).with_name("test_browser.py")
_spec = importlib.util.spec_from_file_location("browser_helpers", HELPERS)
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
BROWSER_ARGS, CHROMIUM = _helpers.BROWSER_ARGS, _helpers.CHROMIUM
open_page, settled_digit, stroke = _helpers.open_page, _helpers.settled_digit, _helpers.stroke

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def collecting_site(trained_lenet5, live_server, tmp_path_factory):
    """(browser, base URL, collect folder)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("collected")
    app = create_app(trained_lenet5, collect_dir=folder)
    with live_server(app) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield browser, url, folder
        finally:
            browser.close()


def test_draw_correct_and_save(collecting_site):
    from playwright.sync_api import expect

    browser, url, folder = collecting_site
    with open_page((browser, url), 900, 700) as page:
        expect(page.locator("#collect")).to_be_visible()
        stroke(page, [(0.52, 0.15 + 0.07 * i) for i in range(11)])
        assert settled_digit(page) == "1"
        expect(page.locator("#collect-save")).to_have_text("save as 1")
        page.click("#collect-digits button[data-label='7']")  # "wrong? it is 7"
        expect(page.locator("#collect-status")).to_contain_text("saved as 7")
        page.click("#collect-save")  # "save as 1"
        expect(page.locator("#collect-status")).to_contain_text("saved as 1")
    (seven,) = (folder / "7").glob("*.png")
    (one,) = (folder / "1").glob("*.png")
    assert (folder / ".canvas" / "7" / seven.name).is_file()
    # the 28x28 stored is the preview the page showed: the same for both labels
    assert np.asarray(Image.open(seven)).shape == (28, 28)
    assert (np.asarray(Image.open(seven)) == np.asarray(Image.open(one))).all()


def test_no_controls_without_collect(collecting_site, trained_lenet5, live_server):
    from playwright.sync_api import expect

    browser = collecting_site[0]
    with (
        live_server(create_app(trained_lenet5)) as url,
        open_page((browser, url), 900, 700) as page,
    ):
        page.wait_for_timeout(300)  # collect.js has asked /api/model by now
        expect(page.locator("#collect")).to_be_hidden()
