"""A real headless browser (Chromium through Selenium) walks a season as its people would,
against a real ``ikuflow web`` process, with e-mail delivered by ``ikuflow outbox send`` to a
real SMTP peer (aiosmtpd) and every link taken from the text part of the received messages.

The coordinator submits from the link in the ``create`` e-mail; the secretariat signs in by
e-mail link, sees the document in their tasks and synchronizes it on the document page; the
chair approves and signs from the links in the e-mails. ``history --json`` then shows each
step's person and channel, and the first link, opened again, is stale and changes nothing.
The pages are checked for console errors (CSP violations among them), for horizontal
overflow on a phone's viewport, and by screenshots (kept in /tmp/ikuflow-screens/ too).

The browser is Debian's /usr/bin/chromium with /usr/bin/chromedriver, named explicitly, so
Selenium Manager never runs (nothing is downloaded at run time). When they are missing they
are installed with apt-get (as root); if that is impossible the test fails on CI (CI=true)
and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import CHAIR, COORD, SECR, cannot, db, run_ikuflow
from smtp_peer import Peer, free_port
from webserver import WebServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENS = Path("/tmp/ikuflow-screens")
SECRET = "browser-test-secret-key-0123456789abcdefgh"  # 42 characters
MAIL_FROM = "ikuflow@bawaslu.example.id"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-default-browser-check", "--window-size=1280,900")
WAIT = 15  # seconds a page may take to appear (they take milliseconds)
HEADER_RGB = (0x7A, 0x1F, 0x1F)  # app.css: header { background: #7a1f1f }
OK_RGB = (0xE6, 0xF4, 0xEA)      # app.css: .ok { background: #e6f4ea }


# --- the browser --------------------------------------------------------------------------------
def _apt_install() -> str | None:
    """Install Debian's chromium and chromium-driver; None when done, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root, so apt-get cannot install them"
    if shutil.which("apt-get") is None:
        return "there is no apt-get here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    why = ""
    for before in ([], [["apt-get", "update", "-q"]]):  # a second try with fresh package lists
        try:
            for cmd in before:
                subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=True,
                               stdin=subprocess.DEVNULL)
            p = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            said = (getattr(exc, "stderr", None) or "").strip()[-800:]
            why = f"{' '.join(getattr(exc, 'cmd', None) or install)}: {exc}" + (f": {said}" if said else "")
            continue
        if p.returncode == 0:
            return None
        why = f"{' '.join(install)} exited {p.returncode}: {(p.stderr or p.stdout).strip()[-800:]}"
    return why


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's Chromium and its driver are there (installed now if need be), and Selenium."""
    why = None
    try:
        import selenium  # noqa: F401
    except ImportError:
        why = "selenium is not installed (pip install -e '.[test]')"
    if why is None and not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        why = _apt_install()
        if why is None and not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
            why = f"apt-get installed chromium and chromium-driver, yet {CHROMIUM} or {CHROMEDRIVER} is missing"
        if why is not None:
            why = f"{CHROMIUM} and {CHROMEDRIVER} are needed and could not be installed: {why}"
    if why is not None:
        cannot(f"the browser test is required on CI: {why}")


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh headless Chromium (its own profile in tmp_path) that keeps the console's log.
    Selenium Manager (which would look for, or download, a driver) must not run: it is
    replaced by a function that fails the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_manager(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a browser or driver: it may use the network")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SeleniumManager, "binary_paths", no_manager)
        mp.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
                                  options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


# --- the server and the mail ----------------------------------------------------------------------
@pytest.fixture
def peer(monkeypatch):
    """An SMTP peer, and the settings that send to it (for every process the test starts)."""
    for name in ("IKUFLOW_NOTIFICATIONS", "IKUFLOW_MAIL_LANGS", "IKUFLOW_SMTP_USER", "IKUFLOW_SMTP_PASSWORD",
                 "IKUFLOW_SMTP_CONNECTIONS", "IKUFLOW_SMTP_MAX_ATTEMPTS", "IKUFLOW_SMTP_LEASE",
                 "IKUFLOW_SMTP_RETRY_MAX", "SSL_CERT_FILE", "IKUFLOW_SERVER", "IKUFLOW_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    p = Peer().start()
    monkeypatch.setenv("IKUFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IKUFLOW_SMTP_PORT", str(p.port))
    monkeypatch.setenv("IKUFLOW_SMTP_TLS", "off")
    monkeypatch.setenv("IKUFLOW_SMTP_RETRY_BASE", "0.05")
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "10")
    monkeypatch.setenv("IKUFLOW_MAIL_FROM", MAIL_FROM)
    yield p
    p.stop()


@pytest.fixture
def web(directory, peer, monkeypatch, tmp_path):
    """``ikuflow web`` on a free loopback port, its base URL what e-mails link to."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("IKUFLOW_SECRET_KEY", SECRET)
    monkeypatch.setenv("IKUFLOW_BASE_URL", base)
    log_path = tmp_path / "web.log"
    server = WebServer(log_path, port)
    try:
        yield base
    finally:
        server.stop()
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


def ikuflow(*args: str) -> str:
    """The real console script (the test's environment); its output, exit 0 required."""
    p = run_ikuflow(*args)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p.stdout


def deliver(peer: Peer) -> list:
    """``ikuflow outbox send``; the messages it delivered now."""
    before = len(peer.received)
    out = json.loads(ikuflow("outbox", "send", "--json"))
    assert out["sent"] >= 1 and not out["unreachable"], out
    got = peer.received[before:]
    assert len(got) == out["sent"], (out, [m.msg["Subject"] for m in got])
    return got


def where(key: str) -> tuple[int, str, int]:
    """(version, state, history rows) of a document, read from the database."""
    con = db()
    try:
        version, state, doc_id = con.execute("SELECT version, state, id FROM document WHERE key = ?", (key,)).fetchone()
        rows = con.execute("SELECT count(*) FROM history WHERE document_id = ?", (doc_id,)).fetchone()[0]
        return version, state, rows
    finally:
        con.close()


def mail_to(messages: list, email: str):
    """The one message among ``messages`` addressed to ``email``."""
    mine = [m for m in messages if m.rcpt_tos == [email]]
    assert len(mine) == 1, (email, [(m.rcpt_tos, m.msg["Subject"]) for m in messages])
    return mine[0]


def links(message, base: str) -> dict[str, str]:
    """The personal action links of a message's text part: title -> URL (each language's part
    lists the same links)."""
    pairs = re.findall(r"^- (.+?): (" + re.escape(base) + r"/a/\S+)$", message.text, re.M)
    found = dict(pairs)
    assert found and len(set(pairs)) == len(found), message.text
    return found


def link_for(message, base: str, english: str) -> str:
    """The link whose title ('Setujui / Approve') ends with the English word ``english``."""
    found = links(message, base)
    urls = [url for title, url in found.items() if title.endswith("/ " + english)]
    assert len(urls) == 1, (english, found)
    return urls[0]


# --- the page -------------------------------------------------------------------------------------
class Page:
    """The browser as the test drives it: open, click, wait, and the console's errors."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.console: list[tuple[str, dict]] = []

    def _log(self) -> None:
        try:
            entries = self.driver.get_log("browser")
        except Exception:  # a driver without the log endpoint: nothing to check there
            return
        self.console += [(self.driver.current_url, e) for e in entries]

    def wait_for(self, css: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        el = WebDriverWait(self.driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)),
                                                    f"{css} never appeared on {self.driver.current_url}")
        return el

    def open(self, url: str, expect: str):
        self.driver.get(url)
        el = self.wait_for(expect)
        self._log()
        return el

    def click(self, css: str, expect: str):
        """Click ``css`` (a form's button: the browser posts it) and wait for ``expect`` on the
        page that answers."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()
        el = self.wait_for(expect)
        self._log()
        return el

    def has(self, css: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def state(self) -> str:
        """The state the page shows its document in (``#state``'s data-state)."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, "#state").get_attribute("data-state")

    def table(self, css: str) -> list[list[str]]:
        """The rows of a table below its header row, as the cells' texts."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tr')).slice(1)"
            ".map(r => Array.from(r.cells).map(c => c.textContent.trim()));", css)

    def screenshot(self, folder: Path, name: str) -> Path:
        path = folder / name
        assert self.driver.save_screenshot(str(path)), path
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENS / name)
        return path

    def viewport(self) -> tuple[int, int]:
        """The viewport's size in CSS pixels (a screenshot's size at a device pixel ratio of 1)."""
        return tuple(self.driver.execute_script("return [window.innerWidth, window.innerHeight];"))

    def as_phone(self, on: bool = True) -> None:
        """Show pages as a phone does (390 x 844 CSS pixels, a mobile viewport: a page without
        its viewport meta tag would be laid out 980 px wide and shrunk), or as before."""
        if on:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def fits_phone(self) -> None:
        """The page as it is, on a phone, is no wider than the phone's screen: nothing but the
        tables' own scrolling boxes scrolls sideways."""
        self.as_phone()
        try:
            scroll, inner = self.driver.execute_script("return [document.body.scrollWidth, window.innerWidth];")
            assert inner == 390, f"{self.driver.current_url}: laid out {inner} px wide on a 390 px phone"
            assert scroll <= inner + 1, f"{self.driver.current_url}: the body is {scroll} px wide on a {inner} px phone"
        finally:
            self.as_phone(False)


def png_rows(path: Path, upto: int) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, the first ``upto`` rows' pixels) of an 8-bit RGB or
    RGBA PNG, decoded by hand (no imaging library is a dependency)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    assert head is not None, path
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0, head
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    upto = min(upto, height)
    raw = zlib.decompressobj().decompress(b"".join(idat), (stride + 1) * upto)
    rows, prev = [], bytes(stride)
    for y in range(upto):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def pixel(shot: tuple[int, int, int, list[bytes]], x: int, y: int) -> tuple[int, int, int]:
    _, _, bpp, rows = shot
    return tuple(rows[y][x * bpp:x * bpp + 3])


def looks_right(path: Path, viewport: tuple[int, int], green_at: tuple[int, int] | None = None) -> None:
    """A screenshot that shows the page as styled: the viewport's size, not a blank image, the
    header bar in app.css's colour (the stylesheet loaded), some text on it, and (if given) the
    green of a 'done' note at a point."""
    assert path.stat().st_size > 15_000, f"{path}: {path.stat().st_size} bytes, a blank page?"
    upto = (green_at[1] + 1) if green_at else 40
    shot = png_rows(path, max(upto, 40))
    width, height = shot[0], shot[1]
    assert (width, height) == viewport, (path, width, height, viewport)
    assert pixel(shot, 2, 2) == HEADER_RGB, (path, pixel(shot, 2, 2))
    band = {pixel(shot, x, y) for y in range(8, 30) for x in range(0, min(width, 300))}
    assert len(band) > 4, f"{path}: no text on the header bar ({band})"
    if green_at:
        assert pixel(shot, *green_at) == OK_RGB, (path, green_at, pixel(shot, *green_at))


# --- the season -----------------------------------------------------------------------------------
def test_a_season_in_the_browser(web, peer, browser, backend, tmp_path):
    started = time.monotonic()
    base, page = web, Page(browser)
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()  # the office's today: sign is allowed from it
    year = today.year
    key = f"pacitan-sdmo-{year}"
    shots = tmp_path / "screens"
    shots.mkdir()

    # the coordinator's document is created (CLI); its e-mail carries the submit link
    ikuflow("new", "--office", "pacitan", "--division", "sdmo", "--year", str(year),
            "--signing-date", today.isoformat(), "--as", COORD)
    create = mail_to(deliver(peer), COORD)
    submit_link = link_for(create, base, "Submit")

    # 3. the coordinator opens the link: the document and one button; GET changed nothing
    page.open(submit_link, "#do")
    page.fits_phone()
    assert page.text("#key") == key and page.state() == "draft"
    assert not page.has("#done") and not page.has("#stale")
    assert where(key) == (0, "draft", 1)  # the GET changed nothing
    page.click("#do", "#done")
    assert not page.has("#do") and not page.has("#error")
    assert page.state() == "division_review"

    # 4. the secretariat signs in by e-mail link
    submitted = deliver(peer)
    mail_to(submitted, SECR)  # the submit e-mail (its own links are not used: Budi works on the page)
    page.open(base + "/signin", "#email").send_keys(SECR)
    page.click("#send", "#message")
    sign_in_mail = mail_to(deliver(peer), SECR)
    sign_in_url = set(re.findall(re.escape(base) + r"/signin/\S+", sign_in_mail.text))  # once per language
    assert len(sign_in_url) == 1, sign_in_mail.text
    page.open(sign_in_url.pop(), "#go")
    assert not page.has("#tasks")  # the GET spent nothing: only the button signs in
    page.click("#go", "#tasks")
    assert browser.current_url == base + "/tasks"
    assert "Budi Santoso" in page.text("#me")
    tasks = page.table("#tasks")
    assert [r[:2] for r in tasks] == [[key, "Telaah divisi / Division review"]], tasks
    looks_right(page.screenshot(shots, f"{backend}-tasks.png"), page.viewport())
    page.fits_phone()

    # the document page, from the task list; the secretariat synchronizes there
    page.click(f'#tasks a[href="/documents/{key}"]', "#do-synchronize")
    assert browser.current_url == f"{base}/documents/{key}"
    assert page.state() == "division_review"
    page.fits_phone()  # with its forms: synchronize, and send back with its reason
    assert page.has("#do-send_back")
    before = page.table("#history")
    assert [(r[2], r[5]) for r in before] == [("Dibuat / Created", "cli"), ("Ajukan / Submit", "link")], before
    page.click("#do-synchronize", "#done")
    assert browser.current_url == f"{base}/documents/{key}?done=synchronize"
    assert not page.has("#error") and not page.has("#do-synchronize")
    state = page.driver.find_element("css selector", "#state")
    assert state.get_attribute("data-state") == "synchronized" and state.text, state.text
    after = page.table("#history")
    assert [(r[1], r[2], r[3], r[5]) for r in after][-1] == (SECR, "Sinkronkan / Synchronize",
                                                             "Sinkronisasi / Synchronized", "web"), after
    assert [r[5] for r in after] == ["cli", "link", "web"], after
    done = browser.find_element("css selector", "#done").rect
    looks_right(page.screenshot(shots, f"{backend}-document.png"), page.viewport(),
                green_at=(int(done["x"]) + 6, int(done["y"]) + 3))

    # 5. the chair approves from the synchronize e-mail, then signs from the approve e-mail
    synced = mail_to(deliver(peer), CHAIR)
    assert set(links(synced, base)) == {"Setujui / Approve", "Kembalikan / Send back"}, links(synced, base)
    page.open(link_for(synced, base, "Approve"), "#do")
    assert CHAIR in page.text("main p.small") and page.text("#do") == "Setujui / Approve"
    looks_right(page.screenshot(shots, f"{backend}-action.png"), page.viewport())
    page.click("#do", "#done")
    approved = deliver(peer)
    assert {m.rcpt_tos[0] for m in approved} == {CHAIR, COORD}
    page.open(link_for(mail_to(approved, CHAIR), base, "Sign"), "#do")
    page.click("#do", "#done")
    assert page.state() == "signed"
    signed = deliver(peer)
    assert {m.rcpt_tos[0] for m in signed} == {COORD, SECR}

    # 6. the history, from the CLI: each step's person and channel
    history = json.loads(ikuflow("history", key, "--json"))
    assert [(h["event"], h["actor"], h["channel"]) for h in history] == [
        ("create", COORD, "cli"), ("submit", COORD, "link"), ("synchronize", SECR, "web"),
        ("approve", CHAIR, "link"), ("sign", CHAIR, "link")], history
    assert where(key) == (4, "signed", 5)

    # a stale link (the submit link again) shows where the document is and changes nothing
    page.open(submit_link, "#stale")
    assert not page.has("#do") and not page.has("#done")
    assert page.state() == "signed"
    assert where(key) == (4, "signed", 5)

    # on a phone: that page, the signed document and the empty task list fit the screen's width
    page.fits_phone()
    for url, expect in ((f"{base}/documents/{key}", "#history"), (base + "/tasks", "#nothing")):
        page.open(url, expect)
        page.fits_phone()
    page.as_phone()
    page.open(f"{base}/documents/{key}", "#history")
    looks_right(page.screenshot(shots, f"{backend}-phone-document.png"), (390, 844))

    # no errors in the console, above all no CSP refusals (the pages have no script at all)
    errors = [(url, e["message"]) for url, e in page.console if e.get("level") == "SEVERE"
              or "Content Security Policy" in e.get("message", "")]
    assert errors == [], errors
    # ... and the log would show one: an image from elsewhere, refused by the policy before any request
    browser.execute_script("var i = document.createElement('img'); i.src = 'https://elsewhere.invalid/x.png';"
                           " document.body.appendChild(i);")
    time.sleep(0.2)  # the refusal is logged asynchronously
    page._log()
    assert any("Content Security Policy" in e["message"] and "elsewhere.invalid" in e["message"]
               for _, e in page.console), page.console
    assert time.monotonic() - started < 60, f"the season took {time.monotonic() - started:.1f} s"
