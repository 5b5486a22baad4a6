"""Headless Chromium driven through the Chrome DevTools protocol: open a page, measure what
it renders (MathML boxes, decoded images), and record its console errors and requests.

Debian's ``chromium`` is installed when missing (as root, with apt-get); :func:`chromium`
returns None with the reason where that cannot be done.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

#: Seconds to wait for the browser to start and a page to load.
TIMEOUT = 60

#: What the page measures of itself once loaded.
MEASURE = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const maths = Array.from(document.getElementsByTagNameNS(
      'http://www.w3.org/1998/Math/MathML', 'math'));
  return JSON.stringify({
    maths: maths.map(m => ({size: box(m), display: getComputedStyle(m).display,
                            fraction: m.getElementsByTagName('mfrac').length})),
    fractions: Array.from(document.getElementsByTagName('mfrac')).map(box),
    images: Array.from(document.images).map(i => ({complete: i.complete,
        width: i.naturalWidth, height: i.naturalHeight, alt: i.alt})),
    height: document.documentElement.scrollHeight,
  });
})()"""


def chromium() -> tuple[str | None, str]:
    """The Chromium executable, installing Debian's package when missing; else
    ``(None, reason)``."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name), ""
    if not shutil.which("apt-get"):
        return None, "no chromium and no apt-get to install Debian's chromium package"
    if os.geteuid() != 0:
        return None, "no chromium, and installing Debian's chromium package needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900,
                              check=False)
        if done.returncode != 0:
            return None, f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "apt-get installed chromium but it is not on PATH")


class Browser:
    """One headless Chromium and a DevTools connection to its page."""

    def __init__(self, executable: str, width: int = 1000, height: int = 1400):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="glep-chromium-")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--no-default-browser-check", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"],
                                                  timeout=TIMEOUT, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params):
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def _wait(self, event: str):
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {event} within {TIMEOUT} s")
            self.events.append(json.loads(self.socket.recv()))

    def open(self, path: Path) -> dict:
        """Load ``path`` and return what it rendered: ``maths``, ``fractions``, ``images``,
        the ``requests`` it made (URLs) and its console ``errors``."""
        self.events = []
        url = Path(path).resolve().as_uri()
        self.call("Page.navigate", url=url)
        self._wait("Page.loadEventFired")
        time.sleep(0.3)  # late requests and console messages
        result = self.call("Runtime.evaluate", expression=MEASURE, returnByValue=True)
        out = json.loads(result["result"]["value"])
        out["url"] = url
        out["requests"] = [e["params"]["request"]["url"] for e in self.events
                           if e.get("method") == "Network.requestWillBeSent"]
        out["errors"] = [_message(e) for e in self.events if _is_error(e)]
        return out

    def screenshot(self, path: Path, y: float = 0, height: int = 1400, width: int = 1000):
        """A PNG of the page from ``y`` (CSS pixels), ``width`` × ``height``."""
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": y, "width": width, "height": height, "scale": 1})
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    def close(self):
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def _is_error(event) -> bool:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    if method == "Log.entryAdded":
        return params["entry"].get("level") == "error"
    return method == "Network.loadingFailed"


def _message(event) -> str:
    params = event.get("params", {})
    if "entry" in params:
        return params["entry"].get("text", "")
    if "exceptionDetails" in params:
        return params["exceptionDetails"].get("text", "")
    if "errorText" in params:
        return f"request failed: {params['errorText']}"
    return " ".join(str(a.get("value", "")) for a in params.get("args", []))


def problems(measured: dict) -> list[str]:
    """What is wrong with a rendered report: no MathML, a formula without a box, a fraction
    that is not laid out as one (raw text), an image that did not decode, a console error, a
    request for anything but the page itself and its inline data."""
    out = []
    maths = measured["maths"]
    if not maths:
        out.append("no MathML <math> element rendered")
    flat = [m for m in maths if not (m["size"][0] > 0 and m["size"][1] > 0)]
    if flat:
        out.append(f"{len(flat)} of {len(maths)} math elements have no size")
    if not any("math" in m["display"] for m in maths):
        out.append("no element is laid out as MathML (display: math)")
    if not measured["fractions"] or any(h <= 0 for _, h in measured["fractions"]):
        out.append("no MathML fraction laid out")
    if not measured["images"]:
        out.append("no image")
    broken = [i["alt"][:40] for i in measured["images"]
              if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    if broken:
        out.append(f"{len(broken)} image(s) did not decode: {broken}")
    if measured["errors"]:
        out.append(f"console errors: {measured['errors']}")
    external = [u for u in measured["requests"]
                if u != measured["url"] and not u.startswith("data:")]
    if external:
        out.append(f"requests beyond the file: {external}")
    return out
