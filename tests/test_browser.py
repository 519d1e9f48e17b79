"""The widgets in a real browser: JupyterLab 4 + headless Debian Chromium through Playwright.

Kernel-side tests set ``control.value`` and check state; only a browser shows that the front end
renders the widgets, that moving a slider reaches the kernel and that the new drawing comes back.
Each test opens a chapter in JupyterLab, runs all cells, checks that no cell produced an error,
moves a slider / picks a query token and waits until the widget's readout text and image bytes
change.  Screenshots go to ``build/screenshots/`` (README's come from there).

The server runs on a copy of ``notebooks/`` in a temporary folder (so JupyterLab's autosave can
never touch the stored chapters), on 127.0.0.1, a free port and a random token, and is shut down
even when a test fails.  Run with ``make test-browser`` (``pytest tests -m browser``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vswin_edu.course import REPO_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
# No news / update toasts over the notebook: they would need the network and cover screenshots.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    }
}
RUN_TIMEOUT_S = 150  # running every cell of one chapter (they must run in < 90 s on 2 cores)
CHANGE_TIMEOUT_S = 60  # widget redraws after a slider move (slow when the machine is busy)


# --- the JupyterLab server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, method: str = "GET") -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
        return response.read()


class Lab:
    """A running JupyterLab server: ``url(path)`` gives an authenticated address."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        self.port, self.token = _free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
        for name, folder in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ]:
            env[name] = str(root / ".lab" / folder)  # nothing from the user's own JupyterLab set-up
        for name, settings in LAB_SETTINGS.items():
            path = root / ".lab" / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells, read cell models
        ]
        if os.geteuid() == 0:  # CI containers run as root; JupyterLab refuses that unless told
            command.append("--allow-root")
        self._log_file = log.open("w")
        self.process = subprocess.Popen(command, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                _get(self.url("api/status"))
                return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def shutdown_kernels(self) -> None:
        """End every notebook session, so the next chapter has the CPU to itself."""
        for session in json.loads(_get(self.url("api/sessions"))):
            _get(self.url(f"api/sessions/{session['id']}"), method="DELETE")

    def stop(self) -> None:
        """Shut down kernels and server; kill them if they do not stop within 20 s."""
        if self.process.poll() is None:
            try:
                _get(self.url("api/shutdown"), method="POST")  # stops every kernel, then the server
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._log_file.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    server = Lab(root, root / "jupyterlab.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: run `make browser` "
            "(or `sudo apt-get install -y chromium`); never `playwright install`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab):
    # Tall enough that a whole widget fits on screen for its screenshot.
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()
        lab.shutdown_kernels()


# --- driving a notebook -------------------------------------------------------------------------------

# JavaScript run in the page; `window.jupyterapp` is JupyterLab's application object.
_NOTEBOOK = "window.jupyterapp.shell.currentWidget"
_CELL_STATES = f"""() => {{
    if (!window.jupyterapp || !window.jupyterapp.shell) return null;  // the page is still loading
    const panel = {_NOTEBOOK};
    if (!panel || !panel.content || !panel.sessionContext.session) return null;
    const status = panel.sessionContext.session.kernel?.status;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code').map(c => ({{
        count: c.model.executionCount,
        errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                 .map(o => o.ename + ': ' + o.evalue),
    }}));
    return {{status, cells}};
}}"""


def open_and_run_all(page, lab: Lab, chapter: str) -> None:
    """Open a chapter, wait for its kernel, run every cell and wait until all have run."""
    page.goto(lab.url(f"lab/tree/notebooks/{chapter}?reset"))  # reset: no tabs restored from before
    page.wait_for_function(f"() => ({_CELL_STATES})()?.status === 'idle'", timeout=90_000)
    # Clearing first resets the stored execution counts, so "every cell has a count" means "has run".
    page.evaluate(
        """async () => {
            await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
            await window.jupyterapp.commands.execute('notebook:run-all-cells');
        }"""
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        state = page.evaluate(_CELL_STATES)
        errors = [f"code cell {i}: {e}" for i, c in enumerate(state["cells"]) for e in c["errors"]]
        assert not errors, f"{chapter}: error output in the browser (later cells were not run): {errors}"
        if state["status"] == "idle" and all(c["count"] for c in state["cells"]):
            break
        running = sum(not c["count"] for c in state["cells"])
        assert time.monotonic() < deadline, (
            f"{chapter}: {running} cells still not run after {RUN_TIMEOUT_S} s"
        )
        time.sleep(0.5)
    counts = [c["count"] for c in state["cells"]]
    assert counts == list(range(1, len(counts) + 1)), f"{chapter}: not one top-to-bottom run: {counts}"
    assert page.locator(".jp-OutputArea-output", has_text="Error displaying widget").count() == 0


def widget_output(page, source_snippet: str):
    """The widget output of the first code cell (of the open notebook) whose source has ``source_snippet``."""
    found = page.evaluate(
        f"""(snippet) => {{
            const cell = {_NOTEBOOK}.content.widgets.find(
                c => c.model.type === 'code' && c.model.sharedModel.getSource().includes(snippet));
            if (!cell) return false;
            cell.node.setAttribute('data-test-cell', snippet);
            return true;
        }}""",
        source_snippet,
    )
    assert found, f"no code cell contains {source_snippet!r}"
    cell = page.locator(f"[data-test-cell={json.dumps(source_snippet)}]")
    cell.scroll_into_view_if_needed()
    output = cell.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-image")).first
    output.wait_for(state="visible")
    return output


def snapshot(output) -> dict[str, list[str]]:
    """What the kernel last drew: the texts of the HTML widgets (readouts) and each image's digest.

    Slider readouts are left out on purpose: the browser updates those without the kernel.
    """
    texts = [t.strip() for t in output.locator(".widget-html").all_inner_texts()]
    digests = []
    for img in output.locator(".widget-image").all():
        data = img.evaluate(
            """async (el) => {
                const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
                let s = ''; for (const b of bytes) s += String.fromCharCode(b);
                return btoa(s);
            }"""
        )
        digests.append(hashlib.sha1(data.encode()).hexdigest())
    return {"texts": texts, "images": digests}


def wait_for_redraw(output, before: dict[str, list[str]], expect: str, what: str) -> dict[str, list[str]]:
    """Wait until a readout contains ``expect`` and the texts and image bytes differ from ``before``."""
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while True:
        after = snapshot(output)
        shown = any(expect in text for text in after["texts"])
        if shown and after["texts"] != before["texts"] and after["images"] != before["images"]:
            return after
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: no redraw showing {expect!r} within {CHANGE_TIMEOUT_S} s: {before} -> {after}"
            )
        time.sleep(0.3)


def _slider(output, description: str):
    label = output.page.get_by_text(description, exact=True)
    return output.locator(".widget-slider").filter(has=label).first


def slider_value(output, description: str) -> int:
    """The value the slider labelled ``description`` shows."""
    return int(_slider(output, description).locator(".widget-readout").inner_text())


def move_slider(output, description: str, steps: int) -> int:
    """Move the slider labelled ``description`` by ``steps`` with the arrow keys; return its new value.

    It moves right, or left when there is no room on the right (the slider stops at its maximum).
    """
    slider = _slider(output, description)
    start = slider_value(output, description)
    high = float(slider.locator(".noUi-handle").get_attribute("aria-valuemax") or start + steps)
    key, sign = ("ArrowRight", 1) if start + steps <= high else ("ArrowLeft", -1)
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(steps):
        handle.press(key)
    end = slider_value(output, description)
    assert end == start + sign * steps, (
        f"slider {description!r} went from {start} to {end}, not {sign * steps:+d}"
    )
    return end


def click_slider(output, description: str, value: int) -> int:
    """Click the track of the slider labelled ``description`` where ``value`` lies (one change)."""
    slider = _slider(output, description)
    handle = slider.locator(".noUi-handle")
    low, high = (float(handle.get_attribute(f"aria-value{end}")) for end in ("min", "max"))
    assert low <= value <= high, f"slider {description!r} spans {low:g}..{high:g}, cannot pick {value}"
    track = slider.locator(".noUi-target").bounding_box()
    x = track["width"] * (value - low) / (high - low)
    slider.locator(".noUi-target").click(
        position={"x": min(max(x, 1), track["width"] - 1), "y": track["height"] / 2}
    )
    shown = slider_value(output, description)
    assert shown == value, f"clicked slider {description!r} at {value}, it shows {shown}"
    return shown


def save_screenshot(output, name: str) -> Path:
    """Save the widget's controls, readout and first image as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    output.evaluate("el => el.scrollIntoView({block: 'start'})")
    box = output.bounding_box()
    image = output.locator(".widget-image").first.bounding_box()
    height = min(box["height"], image["y"] + image["height"] - box["y"] + 8)
    output.page.screenshot(path=str(path), clip={**box, "height": height})
    return path


# --- the tests ----------------------------------------------------------------------------------------


def _no_errors(page, output, chapter: str) -> None:
    state = page.evaluate(_CELL_STATES)
    errors = [e for c in state["cells"] for e in c["errors"]]
    assert not errors, f"{chapter}: error output(s) after using the widget: {errors}"
    readouts = snapshot(output)["texts"]
    assert not any(t.startswith("error") or "\nerror" in t for t in readouts), f"widget error: {readouts}"


def test_mask_debugger_in_chapter_05(lab, page):
    chapter = "05_attention_masks.ipynb"
    open_and_run_all(page, lab, chapter)
    debugger = widget_output(page, "MaskDebugger(")
    before = snapshot(debugger)
    assert len(before["images"]) == 2 and before["texts"], f"the mask debugger did not render: {before}"

    # Move a shift slider: the mask and the readout's "shift (st, sh, sw)" follow.
    sw = move_slider(debugger, "shift w", 1)
    st, sh = slider_value(debugger, "shift t"), slider_value(debugger, "shift h")
    shifted = wait_for_redraw(debugger, before, f"shift ({st}, {sh}, {sw})", "moving 'shift w'")

    # Pick another query token by clicking the query sliders: the readout names it.
    t, h = slider_value(debugger, "query t"), click_slider(debugger, "query h", 3)
    w = click_slider(debugger, "query w", 5)
    wait_for_redraw(debugger, shifted, f"query ({t}, {h}, {w})", "picking query token")
    _no_errors(page, debugger, chapter)
    save_screenshot(debugger, "05_mask_debugger")


def test_shift_explorer_in_chapter_04(lab, page):
    chapter = "04_shifted_windows.ipynb"
    open_and_run_all(page, lab, chapter)
    explorer = widget_output(page, "ShiftExplorer(")
    before = snapshot(explorer)
    assert before["images"] and before["texts"], f"the shift explorer did not render: {before}"
    move_slider(explorer, "W (token cols)", 4)  # a wider grid: more windows, a new drawing
    wait_for_redraw(explorer, before, "cyclic shift:", "moving 'W (token cols)'")
    _no_errors(page, explorer, chapter)
    save_screenshot(explorer, "04_shift_explorer")


# --- slides: a live deck inside JupyterLab, and the exported reveal.js offline -----------------------

_DECK_VISIBLE = """() => [...document.querySelectorAll('.jp-Cell.jp-deck-mod-visible')]
    .map(c => c.innerText.slice(0, 200))"""


def test_deck_slideshow_of_chapter_05_moves_a_widget_on_a_slide(lab, page):
    """A lecturer's path: run the chapter, start the deck, step to the debugger's slide, move a slider."""
    chapter = "05_attention_masks.ipynb"
    open_and_run_all(page, lab, chapter)
    page.evaluate(
        """async () => {
            window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0;
            await window.jupyterapp.commands.execute('deck:start');
        }"""
    )
    page.wait_for_function(f"() => ({_DECK_VISIBLE})().length > 0")
    first = page.evaluate(_DECK_VISIBLE)
    assert first[0].startswith("Chapter 5"), f"the deck did not open on the title slide: {first[:1]}"
    for _ in range(60):  # forward through slides and fragments until the debugger's slide shows
        if any("MaskDebugger(" in text for text in page.evaluate(_DECK_VISIBLE)):
            break
        page.evaluate("async () => await window.jupyterapp.commands.execute('deck:forward')")
        time.sleep(0.3)
    else:
        pytest.fail("stepping through the deck never reached the slide with MaskDebugger(")
    hidden = page.evaluate("() => document.querySelectorAll('.jp-Cell:not(.jp-deck-mod-visible)').length")
    assert hidden > 0, "the deck shows every cell at once: not a slide"
    debugger = widget_output(page, "MaskDebugger(")
    before = snapshot(debugger)
    sw = move_slider(debugger, "shift w", 1)
    st, sh = slider_value(debugger, "shift t"), slider_value(debugger, "shift h")
    wait_for_redraw(debugger, before, f"shift ({st}, {sh}, {sw})", "moving 'shift w' on a slide")
    _no_errors(page, debugger, chapter)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "05_deck_slide.png"))
    page.evaluate("async () => await window.jupyterapp.commands.execute('deck:stop')")


# MathJax has typeset the page: its queue is empty and typeset elements exist.
MATH_TYPESET = (
    "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
    " && document.querySelectorAll('.MathJax').length > 0"
)


def offline_context(browser, width: int, height: int):
    """A browser context with the network off where only ``file:`` and ``data:`` URLs load.

    Returns the context and the list the refused URLs are appended to.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
    remote: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:"))
            else (remote.append(route.request.url), route.abort())
        ),
    )
    return context, remote


def test_exported_slides_open_from_disk_with_the_network_off(browser, tmp_path):
    from vswin_edu.course.slides import export_slides

    (deck,) = export_slides(["05"], tmp_path)
    context, remote = offline_context(browser, 1280, 800)
    # MathJax's web-font probe asks for about:blank, which Chromium refuses from file:// (no font
    # is missing: STIX-Web loads from the folder).
    failed = []
    try:
        page = context.new_page()
        page.on("requestfailed", lambda r: failed.append(r.url) if r.url != "about:blank" else None)
        page.goto(deck.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total >= 10, f"only {total} slides"
        page.wait_for_function(MATH_TYPESET, timeout=30_000)
        for _ in range(4):  # navigation: the arrow keys step through the slides
            page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 4")
        slide = page.evaluate("Reveal.getCurrentSlide().innerText")
        assert "$" not in slide, f"raw TeX on slide 5: {slide[:300]}"
        assert page.evaluate("Reveal.getCurrentSlide().querySelectorAll('.MathJax').length") > 0
        saved = page.locator("text=Widget shown as saved")
        assert saved.count() >= 1, "no widget drawn as saved"
        widget_images = page.evaluate(
            """() => [...document.querySelectorAll('img')].filter(i => i.closest('.jp-OutputArea-output')
                && i.naturalWidth > 0).length"""
        )
        assert widget_images >= 3, f"only {widget_images} images rendered"
        assert not remote, f"the slides asked the network for {remote}"
        assert not failed, f"files missing beside the slides: {failed}"
    finally:
        context.close()


def test_the_book_opens_from_disk_with_the_network_off(browser, tmp_path):
    """A chapter page of the built book (``make book``): math typeset, navigation, widgets as saved."""
    from vswin_edu.course.book import build_book

    site = build_book(output=tmp_path / "book").parent
    context, remote = offline_context(browser, 1280, 900)
    try:
        page = context.new_page()
        page.goto((site / "chapters" / "05_attention_masks.html").as_uri())
        page.wait_for_function(MATH_TYPESET, timeout=30_000)
        text = page.locator("article").inner_text()
        raw = re.findall(r"\$[^$\n]{1,40}\$", text)
        assert not raw, f"raw TeX left on the page: {raw[:5]}"
        saved = page.locator("text=Widget shown as saved")
        assert saved.count() >= 1, "no widget view on the page"
        saved.first.scroll_into_view_if_needed()
        images = page.evaluate(
            "() => [...document.querySelectorAll('article img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert images >= 3, f"only {images} images rendered"
        page.locator("a.md-footer__link--next").click()  # navigation: the next chapter
        page.wait_for_url("**/06_relative_position_bias.html")
        assert "Chapter 6" in page.locator("h1").first.inner_text()
        assert not remote, f"the book asked the network for {remote}"
    finally:
        context.close()
