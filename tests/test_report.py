"""``ikuflow report``: the numbers against the database, and the HTML page in a real headless
browser (Debian's chromium, installed by the fixture when it is missing)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

import pytest

from conftest import ROOT

EXAMPLES = ROOT / "examples"
ADMIN = "admin@ri.bawaslu.example.id"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing (root), else the test fails."""
    exe = shutil.which("chromium")
    if exe is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run("apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)",
                       shell=True, capture_output=True, timeout=900)
        exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is needed to check the HTML report: apt-get install chromium")
    return exe


def browser(exe: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                               *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def season(cli):
    """Empty database -> the example directory -> a year's documents for every office -> a mix
    advanced through the CLI."""
    assert cli("init").exit_code == 0
    assert cli("import", str(EXAMPLES / "directory.yaml")).exit_code == 0
    r = cli("new", "--all-offices", "--year", "2026", "--signing-date", "2026-01-28", "--as", ADMIN,
            "--at", "2026-01-05T09:00+07:00", "--json")
    assert json.loads(r.stdout)["created"] == 45
    steps = [("submit", ["pacitan", "badung", "gianyar", "kota-malang"], "2026-01-19T10:00+07:00"),
             ("synchronize", ["pacitan", "badung"], "2026-01-21T10:00+07:00"),
             ("approve", ["pacitan"], "2026-01-26T10:00+07:00"),
             ("sign", ["pacitan"], "2026-01-28T10:00+07:00")]
    for event, offices, at in steps:
        for office in offices:
            r = cli("advance", "--event", event, "--office", office, "--as", ADMIN, "--at", at)
            assert r.exit_code == 0, r.stderr
    return "2026-01-27T10:00+07:00"


def counts_from_db(svc_factory) -> dict:
    from ikuflow.app.service import Service

    svc = Service()
    out = {}
    for office, state, n, late in svc.con.execute(
            "SELECT office_code, state, count(*), sum(CASE WHEN due_at IS NOT NULL AND due_at < ?"
            " THEN 1 ELSE 0 END) FROM document GROUP BY office_code, state", ("2026-01-27 03:00:00.000000",)):
        o = out.setdefault(office, {"states": {}, "overdue": 0})
        o["states"][state] = n
        o["overdue"] += late
    svc.close()
    return out


def test_report_numbers_roll_up_and_match_the_database(cli, season):
    rep = json.loads(cli("report", "--json", "--at", season).stdout)
    own = counts_from_db(None)
    by = {o["code"]: o for o in rep["offices"]}
    # a regency's row is its own documents
    assert by["pacitan"]["states"] == own["pacitan"]["states"] == {"signed": 5}
    assert by["pacitan"]["signed_pct"] == 100.0 and by["pacitan"]["overdue"] == 0
    assert by["badung"]["states"] == {"synchronized": 5}
    assert by["gianyar"]["overdue"] == own["gianyar"]["overdue"] == 5  # division_review, due 23 Jan
    # a province is itself plus its regencies; the national office is everything
    jatim = ["jawa-timur", "pacitan", "ponorogo", "kota-malang"]
    assert by["jawa-timur"]["documents"] == 20
    assert by["jawa-timur"]["signed"] == sum(own[o]["states"].get("signed", 0) for o in jatim) == 5
    assert by["jawa-timur"]["overdue"] == sum(own[o]["overdue"] for o in jatim)
    assert by["ri"]["documents"] == 45 and by["ri"]["signed"] == 5 and by["ri"]["signed_pct"] == round(500 / 45, 1)
    assert by["ri"]["overdue"] == sum(o["overdue"] for o in own.values())
    assert rep["offices"][0]["code"] == "ri" and rep["offices"][1]["level"] == "province"
    # scoped to a province
    bali = json.loads(cli("report", "--json", "--office", "bali", "--at", season).stdout)
    assert {o["code"] for o in bali["offices"]} == {"bali", "badung", "gianyar", "kota-denpasar"}
    text = cli("report", "--office", "jawa-timur", "--at", season).stdout
    assert "Bawaslu Kabupaten Pacitan" in text and "1/4" in text and "25%" in text
    assert cli("report", "--office", "atlantis").exit_code == 3


def test_html_report_in_a_headless_browser(cli, season, tmp_path, chromium):
    page = tmp_path / "progress.html"
    r = cli("report", "--html", str(page), "--at", season)
    assert r.exit_code == 0 and page.exists()
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    # the numbers in the page are the database's
    own = counts_from_db(None)
    rows = dict((m.group(1), (int(m.group(2)), int(m.group(3)), int(m.group(4)))) for m in re.finditer(
        r'data-office="([^"]+)" data-documents="(\d+)" data-signed="(\d+)" data-overdue="(\d+)"', html))
    assert rows["pacitan"] == (5, 5, 0)
    assert rows["ri"] == (45, 5, sum(o["overdue"] for o in own.values()))
    # what the browser renders: the matrix and the timeline are there
    dom = browser(chromium, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert dom.stdout.count("data-office=") == len(rows) == 9
    assert 'id="timeline"' in dom.stdout and "<circle" in dom.stdout
    shot = tmp_path / "progress.png"
    res = browser(chromium, "--window-size=1300,1400", f"--screenshot={shot}", page.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-1000:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1300, 1400)
    assert shot.stat().st_size > 30_000  # a rendered page, not a blank one
    keep = os.environ.get("IKUFLOW_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
