"""The HTML report (``fastseg analyze --report``) opened in real headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: it reads
NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4), so nothing but the
standard library talks to it.  The page must load from the file alone without a console error
or an exception, list every connection, sort and filter its table, and show a connection's
graphs when its row is clicked.  Screenshots of the page and of the time-sequence graph of the
lossy upload are checked (size, the retransmission colour present) and kept under the test's
temporary directory (``FASTSEG_ARTEFACTS=DIR`` keeps them there instead).
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from fastseg.analyze import SAMPLE, analyze_file

CAPTURES = Path(__file__).resolve().parent / "data" / "captures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("FASTSEG_REQUIRE_PLOT") == "1"
TIMEOUT = 30.0

if CHROMIUM is None and not REQUIRED:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
try:
    import matplotlib.image
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("matplotlib is not installed (pip install 'fastseg-tcp[plot]')",
                allow_module_level=True)


class Browser:
    """Headless Chromium and one page of it, over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds() -> None:  # the pipe ends at fd 3 (commands) and fd 4 (replies)
            high_r, high_w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.process = subprocess.Popen(
            [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run",
             "--hide-scrollbars", "--force-device-scale-factor=1", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4))  # kept open: preexec_fn runs first
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: List[Dict[str, Any]] = []
        self.session: Optional[str] = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _messages(self, deadline: float) -> Iterator[Dict[str, Any]]:
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise ConnectionError("chromium closed its pipe")
            self._buffer += chunk

    def call(self, method: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        self._next_id += 1
        message: Dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session is not None:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        for reply in self._messages(time.monotonic() + TIMEOUT):
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]  # type: ignore[no-any-return]
            self.events.append(reply)
        raise AssertionError("unreachable")

    def wait_for(self, method: str) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        for event in self._messages(time.monotonic() + TIMEOUT):
            self.events.append(event)
            if event.get("method") == method:
                return

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, clip: Optional[Dict[str, float]] = None) -> bytes:
        params: Dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def errors(self) -> List[str]:
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:300])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:300])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, List[Dict[str, Any]]]:
    from fastseg.cli.analyze import main

    out = tmp_path_factory.mktemp("report") / "report.html"
    files = [SAMPLE, str(CAPTURES / "sack_loss_ipv4.pcap")]
    assert main(["--report", str(out), "-j", "1", *files]) == 0
    return out, [analyze_file(f) for f in files]


@pytest.fixture(scope="module")
def page(report: Tuple[Path, List[Dict[str, Any]]],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    browser = Browser(tmp_path_factory.mktemp("profile"))
    try:
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        browser.call("Page.navigate", {"url": report[0].as_uri()})
        browser.wait_for("Page.loadEventFired")
        yield browser
    finally:
        browser.close()


def _artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("FASTSEG_ARTEFACTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("artefacts")


def _rows(page: Browser) -> List[str]:
    return page.js("Array.from(document.querySelectorAll('#conns tbody tr'))"  # type: ignore[no-any-return]
                   ".filter(r => !r.hidden).map(r => r.dataset.key)")


def test_loads_without_errors_and_lists_every_connection(
        page: Browser, report: Tuple[Path, List[Dict[str, Any]]]) -> None:
    results = report[1]
    expected = [f"{i}-{c['id']}" for i, r in enumerate(results) for c in r["connections"]]
    assert _rows(page) == expected and len(expected) == 7
    assert page.js("document.getElementById('shown').textContent") == \
        f"{len(expected)} of {len(expected)} connections"
    assert page.js("document.querySelectorAll('#files tr').length") == 3
    # nothing is fetched from anywhere: no external URL in the page
    assert page.js("Array.from(document.querySelectorAll('[src],link[href]')).length") == 0
    assert page.errors() == []


def test_sorting(page: Browser, report: Tuple[Path, List[Dict[str, Any]]]) -> None:
    conns = [(i, c) for i, r in enumerate(report[1]) for c in r["connections"]]
    by_bytes = [f"{i}-{c['id']}" for i, c in sorted(
        conns, key=lambda ic: ic[1]["bytes"]["client"] + ic[1]["bytes"]["server"])]
    heading = ("Array.from(document.querySelectorAll('#conns th'))"
               ".find(h => h.textContent.startsWith('bytes'))")
    page.js(f"{heading}.click()")
    ascending = _rows(page)
    totals = [next(c["bytes"]["client"] + c["bytes"]["server"] for i, c in conns
                   if f"{i}-{c['id']}" == key) for key in ascending]
    assert totals == sorted(totals) and sorted(ascending) == sorted(by_bytes)
    page.js(f"{heading}.click()")
    assert [t for t in reversed(totals)] == [
        next(c["bytes"]["client"] + c["bytes"]["server"] for i, c in conns
             if f"{i}-{c['id']}" == key) for key in _rows(page)]
    page.js("document.querySelector('#conns th').click()")  # back to the capture's order
    assert _rows(page) == [f"{i}-{c['id']}" for i, c in conns]
    assert page.errors() == []


def _filter(page: Browser, control: str, value: str) -> List[str]:
    page.js(f"(() => {{ const c = document.getElementById('{control}'); c.value = {json.dumps(value)};"
            " c.dispatchEvent(new Event('input')); })()")
    return _rows(page)


def test_filtering(page: Browser, report: Tuple[Path, List[Dict[str, Any]]]) -> None:
    conns = [(i, c) for i, r in enumerate(report[1]) for c in r["connections"]]
    key = lambda ic: f"{ic[0]}-{ic[1]['id']}"  # noqa: E731
    port = str(conns[-1][1]["server"]["port"])
    assert _filter(page, "q", port) == [key(ic) for ic in conns
                                         if port in (str(ic[1]["client"]["port"]),
                                                     str(ic[1]["server"]["port"]))]
    _filter(page, "q", "")
    assert _filter(page, "end", "reset") == [key(ic) for ic in conns
                                             if ic[1]["end"]["kind"] == "reset"] != []
    _filter(page, "end", "")
    assert _filter(page, "anomaly", "retransmission") == [
        key(ic) for ic in conns if "retransmission" in ic[1]["anomalies"]] == ["1-1"]
    assert page.js("document.getElementById('shown').textContent") == "1 of 7 connections"
    _filter(page, "anomaly", "")
    assert len(_rows(page)) == 7
    assert page.errors() == []


def _png_size(data: bytes) -> Tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _pixels_of(data: bytes, rgb: Tuple[int, int, int]) -> int:
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    target = [v / 255 for v in rgb]
    close = (abs(image[..., 0] - target[0]) < 0.06) & (abs(image[..., 1] - target[1]) < 0.06) \
        & (abs(image[..., 2] - target[2]) < 0.06)
    return int(close.sum())


def test_a_click_shows_the_graphs(page: Browser,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    from fastseg.analyze.plot import MARK_COLOURS

    store = _artefacts(tmp_path_factory)
    assert page.js("document.querySelectorAll('#detail svg').length") == 0
    page.js("document.querySelector('#conns tbody tr[data-key=\"1-1\"]').click()")
    page.wait_for("Page.navigatedWithinDocument")
    time.sleep(0.2)
    assert page.js("location.hash") == "#c-1-1"
    assert page.js("document.querySelectorAll('#detail svg.tsg').length") == 2
    assert page.js("document.querySelectorAll('#detail svg.metrics').length") == 1
    assert "retransmission" in page.js("document.getElementById('detail').textContent")
    full = page.screenshot()
    (store / "report.png").write_bytes(full)
    assert _png_size(full) == (1280, 1000)
    page.js("document.querySelector('#detail svg.tsg').scrollIntoView()")
    box = page.js("(() => { const r = document.querySelector('#detail svg.tsg')"
                  ".getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width,"
                  " height: r.height}; })()")
    graph = page.screenshot({**box, "x": box["x"] + page.js("scrollX"),
                             "y": box["y"] + page.js("scrollY")})  # page coordinates
    (store / "time-sequence.png").write_bytes(graph)
    width, height = _png_size(graph)
    assert width >= 600 and height >= 300
    red = tuple(int(MARK_COLOURS["retransmission"][i:i + 2], 16) for i in (1, 3, 5))
    blue = tuple(int(MARK_COLOURS["data"][i:i + 2], 16) for i in (1, 3, 5))
    assert _pixels_of(graph, red) > 150  # the retransmitted segments (the legend has ~40)
    assert _pixels_of(graph, blue) > 100  # the data
    # the wheel zooms the time-sequence graph; a double click resets it
    before = page.js("document.querySelector('#detail svg.tsg').getAttribute('viewBox')")
    page.call("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": box["x"] + 300,
                                           "y": box["y"] + 200, "deltaX": 0, "deltaY": -100})
    time.sleep(0.2)
    zoomed = page.js("document.querySelector('#detail svg.tsg').getAttribute('viewBox')")
    assert float(zoomed.split()[2]) < float(before.split()[2])
    page.js("document.querySelector('#detail svg.tsg').dispatchEvent(new MouseEvent('dblclick'))")
    assert page.js("document.querySelector('#detail svg.tsg').getAttribute('viewBox')") == before
    assert page.errors() == []
