"""A real headless Chromium driven through the DevTools protocol (no extra dependency: aiohttp).

``Chromium`` starts Debian's ``chromium`` with a private profile and ``--remote-debugging-port=0``
(bound to 127.0.0.1), and ``inspect(url)`` opens a page in a new tab, waits for it to load and
for every plotly graph to draw, collects JavaScript exceptions and ``console.error`` calls, and
saves a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
    "--window-size=1280,900",
]

# every plotly graph: its traces (data), and what it drew (svg, trace groups, heatmap images)
_PLOTS_JS = """
(() => Array.from(document.querySelectorAll('div.plotly-graph-div')).map(d => ({
  id: d.id,
  traces: Array.isArray(d.data) ? d.data.length : 0,
  svg: d.querySelectorAll('svg.main-svg').length,
  drawn: d.querySelectorAll('g.trace, g.hm, g.imagelayer image').length,
})))()
"""


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What one page did in the browser."""

    url: str
    plots: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sparklines: int = 0  # inline SVG trend lines with points (index pages)
    screenshot: Path | None = None


class Chromium:
    """A headless Chromium process for one test (use as a context manager)."""

    def __init__(self, profile: Path, binary: str | None = None) -> None:
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise RuntimeError("no chromium binary")
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([self.binary, *_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text().split()[0])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()

    def inspect(self, url: str, screenshot: Path, timeout: float = 60.0) -> PageCheck:
        """Open ``url``, wait for every plotly graph to draw (or ``timeout``), screenshot it."""
        return asyncio.run(self._inspect(url, screenshot, timeout))

    async def _inspect(self, url: str, screenshot: Path, timeout: float) -> PageCheck:
        check = PageCheck(url)
        async with aiohttp.ClientSession() as http:
            async with http.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as resp:
                target = await resp.json(content_type=None)
            ws = await http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
            pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
            loaded = asyncio.Event()
            counter = iter(range(1, 1_000_000))

            async def reader() -> None:
                async for msg in ws:
                    data = json.loads(msg.data)
                    if "id" in data and data["id"] in pending:
                        pending.pop(data["id"]).set_result(data)
                    method = data.get("method")
                    params = data.get("params", {})
                    if method == "Page.loadEventFired":
                        loaded.set()
                    elif method == "Runtime.exceptionThrown":
                        d = params.get("exceptionDetails", {})
                        text = d.get("exception", {}).get("description") or d.get("text", "")
                        check.errors.append(f"exception: {text.splitlines()[0] if text else d}")
                    elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                        check.errors.append(f"console.error: {args}")

            async def call(method: str, **params: Any) -> dict[str, Any]:
                key = next(counter)
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                pending[key] = fut
                await ws.send_str(json.dumps({"id": key, "method": method, "params": params}))
                reply = await asyncio.wait_for(fut, timeout)
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

            task = asyncio.create_task(reader())
            try:
                for domain in ("Page", "Runtime"):
                    await call(f"{domain}.enable")
                await call("Page.navigate", url=url)
                await asyncio.wait_for(loaded.wait(), timeout)
                deadline = time.monotonic() + timeout
                while True:
                    result = await call("Runtime.evaluate", expression=_PLOTS_JS, returnByValue=True)
                    check.plots = result.get("result", {}).get("value") or []
                    done = all(p["svg"] and p["drawn"] for p in check.plots)
                    if done or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.3)  # let late console errors arrive
                spark = await call("Runtime.evaluate", returnByValue=True, expression=(
                    "Array.from(document.querySelectorAll('svg polyline'))"
                    ".filter(p => (p.getAttribute('points') || '').trim().split(/\\s+/).length >= 2).length"))
                check.sparklines = int(spark.get("result", {}).get("value") or 0)
                shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                check.screenshot = screenshot
            finally:
                task.cancel()
                await ws.close()
        return check
