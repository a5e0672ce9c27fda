"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol with
aiohttp: enough to load a page, evaluate JavaScript, click, and take screenshots.

    with Browser() as b:
        b.goto(url)
        b.wait_js("document.body.dataset.loaded === '1'")
        b.js("document.querySelector('button').click()")
        b.screenshot("out/page.png")
"""

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import aiohttp


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise RuntimeError("no chromium on PATH: apt-get install chromium (scripts/install-deps.sh)")


class Browser:
    def __init__(self, width=1400, height=900):
        self.profile = tempfile.mkdtemp(prefix="cp-chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-port=0", "--user-data-dir=" + self.profile,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited: %s" % self.proc.returncode)
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
            if time.time() > deadline:
                raise RuntimeError("chromium did not start")
        self.port = port
        targets = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.loop = asyncio.new_event_loop()
        self.session = None
        self.ws = None
        self.msg_id = 0
        self.loop.run_until_complete(self._connect(page["webSocketDebuggerUrl"]))

    async def _connect(self, url):
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=64 * 1024 * 1024)

    async def _call(self, method, params):
        self.msg_id += 1
        mid = self.msg_id
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), 60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError("devtools connection closed")
            obj = json.loads(msg.data)
            if obj.get("id") == mid:
                if "error" in obj:
                    raise RuntimeError("%s: %s" % (method, obj["error"]))
                return obj.get("result", {})

    def call(self, method, **params):
        return self.loop.run_until_complete(self._call(method, params))

    def goto(self, url):
        self.call("Page.enable")
        self.call("Page.navigate", url=url)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if r.get("exceptionDetails"):
            raise RuntimeError("JS error in %r: %s" % (expr, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def wait_js(self, expr, timeout=30.0, what=None):
        deadline = time.time() + timeout
        while True:
            try:
                v = self.js(expr)
            except RuntimeError:
                v = None
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError("browser: %s not true within %.0fs" % (what or expr, timeout))
            time.sleep(0.1)  # poll interval of this wait

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    def close(self):
        try:
            if self.ws is not None:
                self.loop.run_until_complete(self.ws.close())
            if self.session is not None:
                self.loop.run_until_complete(self.session.close())
        finally:
            self.loop.close()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
