"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, for tests that look at a
web UI: open a page, wait until its text shows what the test waits for, take a screenshot.

The protocol is spoken directly over a websocket (`websockets`), so no browser-automation package or
downloaded browser is needed. Install the browser with `apt-get install -y chromium`.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0"]

SCROLL_TO_END = """for (const el of document.querySelectorAll('*')) {
  if (el.scrollHeight > el.clientHeight + 10 && getComputedStyle(el).overflowY.match(/auto|scroll/)) {
    el.scrollTop = el.scrollHeight;
  }
}"""


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    def __init__(self, profile: Path, width: int = 1600, height: int = 1000) -> None:
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [executable(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port = self._port(profile / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)  # closed in close()
        self.ids = itertools.count(1)

    def _port(self, active: Path, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if active.is_file() and active.read_text().strip():
                return int(active.read_text().split()[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.2)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def text(self) -> str:
        found = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                          returnByValue=True)
        return found["result"].get("value", "")

    def open(self, url: str, ready: list[str], timeout_s: float = 120.0, scroll: bool = False) -> str:
        """Navigate and return the page's text once every string of `ready` shows in it; `scroll` scrolls
        every scrolling panel to its end meanwhile, for content drawn only when in view."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            if scroll:
                self.evaluate(SCROLL_TO_END)
            text = self.text()
            if all(s in text for s in ready):
                time.sleep(1.0)  # let late cells and charts paint before a screenshot
                return self.text()
            time.sleep(0.5)
        missing = [s for s in ready if s not in text]
        raise AssertionError(f"{url} never showed {missing}; its text was:\n{text[:3000]}")

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                         awaitPromise=True)["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
