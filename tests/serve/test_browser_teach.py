"""The whole lesson in a real browser: draw a digit, ask why, correct the answer until the
folder holds a few dozen of "my" digits, fine-tune on them into the folder the server watches
(serve --runs), switch the page to the personal model without restarting anything, and see it
answer what the person meant. The person here writes 7 as one slanting stroke, which MNIST's
models read as a 1."""

from __future__ import annotations

import pytest

import mnistlab
from mnistlab.serve import create_app

from .test_browser import BROWSER_ARGS, CHROMIUM, settled_digit, stroke

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLASHES = 16  # corrections given: the folder's 30% held out leaves 11 to fit


def _slash(page, i: int) -> None:
    """One slanting stroke, each a little elsewhere and at its own slant."""
    dx, dy, lean = 0.04 * (i % 4 - 1.5), 0.03 * (i % 3 - 1), 0.03 * (i % 5 - 2)
    start, end = (0.38 + dx, 0.8 + dy), (0.62 + dx + lean, 0.2 + dy)
    stroke(page, [(start[0] + (end[0] - start[0]) * t / 8, start[1] + (end[1] - start[1]) * t / 8)
                  for t in range(9)])  # fmt: skip


def _open(browser, url: str, expected_model: str):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 900, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(url + "/")
    expect(page.locator("#model-info")).to_contain_text(expected_model)
    return page


def test_why_correct_finetune_and_the_personal_model_answers(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    mine, runs = tmp_path / "my-digits", tmp_path / "runs"
    runs.mkdir()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        app = create_app("lenet5", collect_dir=mine, runs_dir=runs)
        try:
            with live_server(app) as url:
                page = _open(browser, url, "model: lenet5")
                _slash(page, 0)
                assert settled_digit(page) != "7"  # the shipped model reads it otherwise
                page.click("#why-toggle")  # why? its nearest training digits and saliency
                expect(page.locator("#why-neighbours li")).to_have_count(5)
                expect(page.locator("#why-heatmap")).to_be_visible()
                page.click("#why-toggle")
                for i in range(SLASHES):
                    if i:
                        page.click("#clear")
                        _slash(page, i)
                        settled_digit(page)
                    page.click("#collect-digits button[data-label='7']")  # "wrong? it is 7"
                    status = f"saved as 7 ({i + 1} so far)"  # this save's, not the last one's
                    expect(page.locator("#collect-status")).to_contain_text(status)
                assert len(list((mine / "7").glob("*.png"))) == SLASHES

                # fine-tuned while the server runs, into the folder it watches
                result = mnistlab.finetune("lenet5", mine, runs / "me")
                assert result.adapted.held_out_after > result.adapted.held_out_before

                page.focus("#model-select")  # the list is asked for again: "me" is there
                expect(page.locator("#model-select option[value='me']")).to_have_count(1)
                page.select_option("#model-select", "me")
                expect(page.locator("#model-info")).to_contain_text("model: lenet5 (me)")
                page.click("#clear")
                _slash(page, SLASHES + 3)  # a stroke of the same kind, not one it was taught
                assert settled_digit(page) == "7"
                page.select_option("#model-select", "lenet5")  # and back, on the same page
                expect(page.locator("#model-info")).to_contain_text("model: lenet5,")
                assert settled_digit(page) != "7"
        finally:
            browser.close()
