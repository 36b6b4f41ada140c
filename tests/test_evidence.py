"""Evidence (PRODUCT.md section 9): a document's file kept by its SHA-256 and recorded by every
step, ``verify FILE`` naming who approved and signed exactly those bytes, the history chain
that ``audit verify`` recomputes (each kind of tampering done directly in SQL, and rows cut
from the end caught against a checkpoint), and the signing record, its page opened in a real
headless Chromium.

Files are real ones, built here: a PDF, and DOCX, XLSX and ODT packages as ZIP archives.
Tampering goes around ikuflow through a raw connection (``conftest.db()``, autocommit, ``?``
placeholders on both backends), as someone with the database but not the secret key would.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile

import pytest

from conftest import CHAIR, COORD, COORD_HUKUM, NOBODY, SECR, SIGNING, WORKFLOWS, db, run_ikuflow, utc
from ikuflow.app import evidence
from ikuflow.errors import Conflict, GuardFailed, IkuflowError, NotAllowed, NotFound, RoleMissing, UsageError
from ikuflow.evidence import canonical
# the browser of test_browser: Debian's chromium and chromedriver, never Selenium Manager
from test_browser import browser, chromium, png_rows  # noqa: F401

OTHER = "pacitan-hukum-2026"
#: the walk of :func:`walk`: (what, actor, local time, comment); "attach N" attaches version N
WALK = [("attach 1", COORD, "2026-01-13T09:00+07:00", None),
        ("submit", COORD, "2026-01-14T10:00+07:00", None),
        ("send_back", SECR, "2026-01-15T10:00+07:00", "Lengkapi target triwulan"),
        ("attach 2", COORD, "2026-01-16T09:00+07:00", None),
        ("submit", COORD, "2026-01-19T10:00+07:00", None),
        ("synchronize", SECR, "2026-01-21T14:00+07:00", None),
        ("approve", CHAIR, "2026-01-26T11:00+07:00", None),
        ("sign", CHAIR, "2026-01-28T10:00+07:00", None)]
SIGNERS = [("submit", COORD), ("synchronize", SECR), ("approve", CHAIR), ("sign", CHAIR)]


# --- real files -----------------------------------------------------------------------------------
def pdf(text: str = "IKU SDMO 2026") -> bytes:
    """A small, well-formed one-page PDF whose page says ``text``."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in entries:
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 13, 9, 0, 0)), data, compress_type=method)
    return buf.getvalue()


D = zipfile.ZIP_DEFLATED
CT = (b'<?xml version="1.0" encoding="UTF-8"?>'
      b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">')


def docx(text: str = "IKU SDMO 2026") -> bytes:
    """A minimal Word document (an OOXML package with word/document.xml)."""
    return _zip([
        ("[Content_Types].xml", CT + b'<Override PartName="/word/document.xml" ContentType="application/'
         b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>', D),
        ("_rels/.rels", b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/'
         b'2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>', D),
        ("word/document.xml", b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
         b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>' + text.encode() + b"</w:t></w:r></w:p>"
         b"</w:body></w:document>", D)])


def xlsx() -> bytes:
    """A minimal Excel workbook (an OOXML package with xl/workbook.xml)."""
    return _zip([
        ("[Content_Types].xml", CT + b'<Override PartName="/xl/workbook.xml" ContentType="application/'
         b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>', D),
        ("xl/workbook.xml", b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
         b'spreadsheetml/2006/main"><sheets><sheet name="IKU" sheetId="1"/></sheets></workbook>', D)])


def odt(mimetype_method: int = zipfile.ZIP_STORED) -> bytes:
    """A minimal OpenDocument text: its first entry 'mimetype', stored uncompressed."""
    return _zip([
        ("mimetype", b"application/vnd.oasis.opendocument.text", mimetype_method),
        ("content.xml", b'<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:'
         b'opendocument:xmlns:office:1.0"><office:body><office:text/></office:body></office:document-content>', D),
        ("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
         b'opendocument:xmlns:manifest:1.0"/>', D)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the database as it is ------------------------------------------------------------------------
def doc_id(key: str) -> int:
    con = db()
    try:
        return con.execute("SELECT id FROM document WHERE key = ?", (key,)).fetchone()[0]
    finally:
        con.close()


def rows(key: str) -> list[dict]:
    """The raw history rows of a document, by version."""
    con = db()
    try:
        cur = con.execute("SELECT h.id, h.version, h.event, h.actor, h.comment, h.content_sha256, h.chain"
                          " FROM history h JOIN document d ON d.id = h.document_id WHERE d.key = ?"
                          " ORDER BY h.version", (key,))
        names = ["id", "version", "event", "actor", "comment", "content_sha256", "chain"]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def counts() -> tuple:
    """How many history rows, content rows and stored blobs there are, and the documents' versions."""
    con = db()
    try:
        return (con.execute("SELECT count(*) FROM history").fetchone()[0],
                con.execute("SELECT count(*) FROM content").fetchone()[0],
                tuple(con.execute("SELECT key, version, content_sha256, chain FROM document ORDER BY key")))
    finally:
        con.close()


def stored(data: bytes) -> bool:
    """Whether the content store holds these bytes."""
    from ikuflow.store import content as files

    con = db()
    try:
        return files.blobs(con).get(sha(data)) is not None
    finally:
        con.close()


def walk(svc, key: str, upto: int = len(WALK)) -> dict[int, bytes]:
    """The first ``upto`` steps of WALK on ``key``: the content versions attached, by number."""
    attached = {}
    for what, actor, at, comment in WALK[:upto]:
        if what.startswith("attach"):
            n = int(what.split()[1])
            attached[n] = pdf(f"IKU SDMO 2026 versi {n}")
            evidence.attach(svc, key, attached[n], f"IKU-SDMO-2026-v{n}.pdf", actor, at=utc(at))
        else:
            svc.advance(key, what, actor, comment, at=utc(at))
    return attached


@pytest.fixture
def signed(svc, doc):
    """pacitan-sdmo-2026 walked to signed (two content versions, a send_back between them)
    and pacitan-hukum-2026 with content, submitted: (svc, {version: bytes})."""
    attached = walk(svc, doc)
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:30+07:00"))
    evidence.attach(svc, OTHER, docx("IKU Hukum 2026"), "IKU-Hukum.docx", COORD_HUKUM, at=utc("2026-01-13T10:00+07:00"))
    svc.advance(OTHER, "submit", COORD_HUKUM, at=utc("2026-01-14T11:00+07:00"))
    return svc, attached


# --- 1. content: attach, each step's hash, download, refusals --------------------------------------
def test_every_step_records_the_content_it_acted_on_and_each_version_downloads_exactly(svc, doc, cli, tmp_path):
    """create has no content; attach v1 records v1; submit and send_back acted on v1; attach
    v2 (in draft again) records v2, and every later step acted on v2. download gives each
    version's exact bytes back (use case and CLI), the newest by default; a version the
    document does not have is exit 3."""
    v = walk(svc, doc)
    h = rows(doc)
    assert [(r["event"], r["content_sha256"]) for r in h] == [
        ("create", None), ("attach", sha(v[1])), ("submit", sha(v[1])), ("send_back", sha(v[1])),
        ("attach", sha(v[2])), ("submit", sha(v[2])), ("synchronize", sha(v[2])), ("approve", sha(v[2])),
        ("sign", sha(v[2]))]
    assert [r["version"] for r in h] == list(range(9))
    assert h[1]["actor"] == COORD and h[4]["actor"] == COORD
    assert [s["event"] for s in svc.history(doc)] == [r["event"] for r in h]
    con = db()
    try:
        assert con.execute("SELECT content_sha256, chain, version FROM document WHERE key = ?",
                           (doc,)).fetchone() == (sha(v[2]), h[-1]["chain"], 8)
    finally:
        con.close()

    for n in (1, 2):
        info, data = evidence.download(svc, doc, n)
        assert data == v[n] and info["version"] == n and info["sha256"] == sha(v[n])
        assert info["kind"] == "pdf" and info["media_type"] == "application/pdf" and info["size"] == len(v[n])
        assert info["name"] == f"IKU-SDMO-2026-v{n}.pdf" and info["attached_by"] == COORD
    assert evidence.download(svc, doc)[1] == v[2]
    for n in (1, 2):
        r = cli("download", doc, "--version", str(n), "-o", str(tmp_path / f"v{n}.pdf"))
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / f"v{n}.pdf").read_bytes() == v[n]
    r = cli("download", doc, "-o", "-")
    assert r.exit_code == 0 and r.stdout_bytes == v[2]
    r = cli("download", doc)  # default: its own name, here
    assert r.exit_code == 0 and (tmp_path / "IKU-SDMO-2026-v2.pdf").read_bytes() == v[2]
    r = cli("download", doc, "--version", "3", "-o", str(tmp_path / "v3.pdf"))
    assert r.exit_code == 3 and not (tmp_path / "v3.pdf").exists()
    with pytest.raises(NotFound):
        evidence.download(svc, doc, 3)


def test_content_changes_only_in_draft_and_a_refused_attach_writes_nothing(svc, doc, cli, tmp_path):
    """Outside draft attach is refused with exit 4 (use case and CLI), saying to send it
    back; after the refusal the history, the content rows, the document and the content store
    are as they were. Someone without an editing role is exit 5; the current content attached
    again is exit 6. After a send_back it is accepted again; once signed it never is."""
    v1, v2 = pdf("versi 1"), pdf("versi 2")
    evidence.attach(svc, doc, v1, "v1.pdf", COORD, at=utc("2026-01-13T09:00+07:00"))
    (tmp_path / "v2.pdf").write_bytes(v2)
    r = cli("attach", doc, "v1.pdf", "--as", COORD)
    assert r.exit_code == 2  # no such file here
    (tmp_path / "v1.pdf").write_bytes(v1)
    r = cli("attach", doc, "v1.pdf", "--as", COORD)
    assert r.exit_code == 6, r.stderr  # already its content
    r = cli("attach", doc, "v2.pdf", "--as", NOBODY)
    assert r.exit_code == 5, r.stderr
    with pytest.raises(RoleMissing):
        evidence.attach(svc, doc, v2, "v2.pdf", COORD_HUKUM)  # another division's coordinator
    svc.advance(doc, "submit", COORD, at=utc("2026-01-14T10:00+07:00"))
    before = counts()
    with pytest.raises(NotAllowed) as e:
        evidence.attach(svc, doc, v2, "v2.pdf", COORD, at=utc("2026-01-14T11:00+07:00"))
    assert e.value.exit_code == 4 and "send_back" in str(e.value)
    r = cli("attach", doc, "v2.pdf", "--as", COORD)
    assert r.exit_code == 4 and "division_review" in r.stderr and "send it back" in r.stderr, r.stderr
    r = cli("attach", doc, "v2.pdf", "--as", SECR)
    assert r.exit_code == 4
    assert counts() == before and not stored(v2)

    svc.advance(doc, "send_back", SECR, "Perbaiki", at=utc("2026-01-15T10:00+07:00"))
    r = cli("attach", doc, "v2.pdf", "--as", COORD, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["content"]["version"] == 2 and stored(v2)
    for what, actor, at, comment in WALK[4:]:
        svc.advance(doc, what, actor, comment, at=utc(at))
    before = counts()
    (tmp_path / "v3.pdf").write_bytes(pdf("versi 3"))
    r = cli("attach", doc, "v3.pdf", "--as", COORD)
    assert r.exit_code == 4 and "final" in r.stderr, r.stderr
    with pytest.raises(NotAllowed):
        evidence.attach(svc, doc, pdf("versi 3"), "v3.pdf", COORD, at=utc("2026-01-29T09:00+07:00"))
    assert counts() == before and not stored(pdf("versi 3"))
    assert evidence.audit(svc)["ok"] is True  # CLI attaches at the clock's time, to the microsecond


def test_a_workflow_with_content_required_refuses_a_step_without_content(tmp_path, monkeypatch, cli):
    """An office's own workflow file puts the guard content_required on submit: submitting
    a document without content is GuardFailed (exit 4, also through the CLI) and writes
    nothing; once a file is attached the same submit goes through and records its hash."""
    from conftest import seed_directory
    from ikuflow.app.service import Service

    folder = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, folder)
    text = (folder / "iku.yaml").read_text(encoding="utf-8")
    old = "    roles: [coordinator]\n    notify: [secretariat]\n"
    assert text.count(old) == 1
    (folder / "iku.yaml").write_text(text.replace(old, "    roles: [coordinator]\n    guards: [content_required]\n"
                                                       "    notify: [secretariat]\n"), encoding="utf-8")
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(folder))
    seed_directory()
    svc = Service()
    try:
        key = svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))["key"]
        before = counts()
        with pytest.raises(GuardFailed) as e:
            svc.advance(key, "submit", COORD, at=utc("2026-01-13T10:00+07:00"))
        assert e.value.exit_code == 4 and "attach" in str(e.value)
        r = cli("advance", key, "submit", "--as", COORD, "--at", "2026-01-13T10:00+07:00")
        assert r.exit_code == 4 and "no content" in r.stderr, r.stderr
        assert counts() == before
        assert svc.status(key)["state"] == "draft"
        data = odt()
        evidence.attach(svc, key, data, "iku.odt", COORD, at=utc("2026-01-13T11:00+07:00"))
        assert svc.advance(key, "submit", COORD, at=utc("2026-01-13T12:00+07:00"))["state"] == "division_review"
        assert [(r["event"], r["content_sha256"]) for r in rows(key)] == [
            ("create", None), ("attach", sha(data)), ("submit", sha(data))]
    finally:
        svc.close()


def test_a_file_is_judged_by_its_bytes_not_its_name(svc, doc, cli, tmp_path):
    """Text named x.pdf, a ZIP named x.docx without word/document.xml, an ODT whose mimetype
    entry is compressed, a ZIP of nothing and an empty file are each refused with exit 2, and
    write nothing; a real DOCX, XLSX and ODT are accepted as such, and a PDF is a PDF even
    named .docx."""
    bad = {"x.pdf": b"Laporan IKU 2026, bukan PDF\n",
           "x.docx": _zip([("[Content_Types].xml", CT + b"</Types>", D), ("docProps/app.xml", b"<x/>", D)]),
           "y.docx": b"PK\x03\x04" + b"\0" * 200,
           "x.odt": odt(zipfile.ZIP_DEFLATED),
           "x.xlsx": _zip([("xl/workbook.xml", b"<workbook/>", D)]),  # no [Content_Types].xml
           "empty.pdf": b""}
    before = counts()
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        r = cli("attach", doc, name, "--as", COORD)
        assert r.exit_code == 2, (name, r.stderr)
        assert "PDF, DOCX, XLSX or ODT" in r.stderr, (name, r.stderr)
        with pytest.raises(UsageError):
            evidence.attach(svc, doc, data, name, COORD)
    assert counts() == before
    good = [("iku.docx", docx(), "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("iku.xlsx", xlsx(), "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("iku.odt", odt(), "odt", "application/vnd.oasis.opendocument.text"),
            ("named-wrong.docx", pdf(), "pdf", "application/pdf")]
    for n, (name, data, kind, media) in enumerate(good, 1):
        (tmp_path / name).write_bytes(data)
        r = cli("attach", doc, name, "--as", COORD, "--json")
        assert r.exit_code == 0, (name, r.stderr)
        c = json.loads(r.stdout)["content"]
        assert (c["version"], c["kind"], c["media_type"], c["sha256"], c["name"]) == (n, kind, media, sha(data), name)
        assert evidence.download(svc, doc, n)[1] == data
    assert [r["event"] for r in rows(doc)] == ["create"] + ["attach"] * 4
    assert cli("audit", "verify").exit_code == 0


def test_a_file_over_the_size_limit_is_refused(svc, doc, cli, tmp_path, monkeypatch):
    """With IKUFLOW_MAX_CONTENT_MB=1 a 1.5 MB PDF is exit 2 naming the limit (CLI and use
    case) and nothing is written; a file just under 1 MB is accepted."""
    monkeypatch.setenv("IKUFLOW_MAX_CONTENT_MB", "1")
    big = pdf() + b"%" + b"0" * (1536 * 1024)
    (tmp_path / "big.pdf").write_bytes(big)
    before = counts()
    r = cli("attach", doc, "big.pdf", "--as", COORD)
    assert r.exit_code == 2 and "limit is 1 MB" in r.stderr, r.stderr
    with pytest.raises(UsageError):
        evidence.attach(svc, doc, big, "big.pdf", COORD)
    assert counts() == before and not stored(big)
    small = pdf() + b"%" + b"0" * (1000 * 1024)
    (tmp_path / "small.pdf").write_bytes(small)
    r = cli("attach", doc, "small.pdf", "--as", COORD)
    assert r.exit_code == 0, r.stderr
    assert evidence.download(svc, doc)[1] == small


# --- 2. verify FILE --------------------------------------------------------------------------------
def test_verify_names_who_signed_the_file_through_the_console_script(signed, tmp_path):
    """The signed file, downloaded after the walk, is exit 0 from the real console script,
    naming the document and the submit, synchronize, approve and sign of exactly this content
    with their actors (not the steps on the first version); one byte changed is exit 3."""
    svc, v = signed
    doc = "pacitan-sdmo-2026"
    info, data = evidence.download(svc, doc)
    path = tmp_path / "IKU-SDMO-2026-ditandatangani.pdf"
    path.write_bytes(data)
    p = run_ikuflow("verify", str(path))
    assert p.returncode == 0, p.stderr
    assert doc in p.stdout and sha(v[2]) in p.stdout and "history chain: intact" in p.stdout
    for actor in (COORD, SECR, CHAIR):
        assert actor in p.stdout
    p = run_ikuflow("verify", str(path), "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["sha256"] == sha(v[2]) and res["size"] == len(v[2])
    [m] = res["matches"]
    assert (m["key"], m["state"], m["final"], m["current"], m["chain_intact"]) == (doc, "signed", True, True, True)
    assert m["content"]["version"] == 2
    assert [(s["event"], s["actor"]) for s in m["steps"]] == SIGNERS
    assert [s["at"] for s in m["steps"]] == ["2026-01-19T10:00:00+07:00", "2026-01-21T14:00:00+07:00",
                                             "2026-01-26T11:00:00+07:00", "2026-01-28T10:00:00+07:00"]
    h = {r["version"]: r["chain"] for r in rows(doc)}
    assert [s["chain"] for s in m["steps"]] == [h[5], h[6], h[7], h[8]]

    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    (tmp_path / "changed.pdf").write_bytes(bytes(changed))
    p = run_ikuflow("verify", str(tmp_path / "changed.pdf"))
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr and doc not in p.stdout

    # the first version: replaced since, acted on only by the first submit and the send_back
    (tmp_path / "v1.pdf").write_bytes(v[1])
    [m1] = evidence.verify_file(svc, tmp_path / "v1.pdf")["matches"]
    assert m1["current"] is False and m1["content"]["version"] == 1
    assert [(s["event"], s["actor"]) for s in m1["steps"]] == [("submit", COORD), ("send_back", SECR)]


def test_verify_a_file_attached_but_never_submitted_says_nobody_acted_on_it(svc, doc, cli, tmp_path):
    """A file attached and never submitted is known (exit 0) with no steps: the output says
    that nobody has submitted, approved or signed it; a file never attached is exit 3."""
    data = docx("draf")
    evidence.attach(svc, doc, data, "draf.docx", COORD, at=utc("2026-01-13T09:00+07:00"))
    (tmp_path / "draf.docx").write_bytes(data)
    r = cli("verify", "draf.docx")
    assert r.exit_code == 0, r.stderr
    assert doc in r.stdout and "nobody has submitted" in r.stdout and "attached by " + COORD in r.stdout
    [m] = json.loads(cli("verify", "draf.docx", "--json").stdout)["matches"]
    assert m["steps"] == [] and m["current"] is True and m["state"] == "draft" and m["final"] is False
    (tmp_path / "other.docx").write_bytes(docx("lain"))
    assert cli("verify", "other.docx").exit_code == 3
    with pytest.raises(NotFound):
        evidence.verify_file(svc, tmp_path / "other.docx")


# --- 3. the chain: tampering in SQL ----------------------------------------------------------------
def _version_row(key: str, version: int) -> dict:
    return next(r for r in rows(key) if r["version"] == version)


def t_changed_comment(con, a, b):
    r = _version_row(a, 3)  # the send_back
    con.execute("UPDATE history SET comment = ? WHERE id = ?", ("Sudah sesuai", r["id"]))
    return {a: (r["id"], 3)}


def t_changed_actor(con, a, b):
    r = _version_row(a, 7)  # the approve
    con.execute("UPDATE history SET actor = ? WHERE id = ?", (SECR, r["id"]))
    return {a: (r["id"], 7)}


def t_deleted_middle_row(con, a, b):
    r = _version_row(a, 6)  # the synchronize
    con.execute("DELETE FROM history WHERE id = ?", (r["id"],))
    return {a: (_version_row(a, 7)["id"], 7)}


def t_inserted_row(con, a, b):
    d = doc_id(a)
    con.execute("UPDATE history SET version = version + 1000 WHERE document_id = ? AND version >= 6", (d,))
    con.execute("UPDATE history SET version = version - 999 WHERE document_id = ? AND version >= 1000", (d,))
    con.execute("INSERT INTO history (document_id, version, at, actor, acting_for, event, from_state, to_state,"
                " comment, channel, content_sha256, chain) SELECT document_id, 6, at, actor, acting_for, event,"
                " from_state, to_state, ?, channel, content_sha256, ? FROM history WHERE document_id = ?"
                " AND version = 8", ("disetujui lisan", "ab" * 32, d))
    con.execute("UPDATE document SET version = version + 1 WHERE id = ?", (d,))
    return {a: (_version_row(a, 6)["id"], 6)}


def t_swapped_rows(con, a, b):
    x, y = _version_row(a, 5), _version_row(a, 6)  # submit, synchronize
    con.execute("UPDATE history SET version = ? WHERE id = ?", (-1, x["id"]))
    con.execute("UPDATE history SET version = ? WHERE id = ?", (5, y["id"]))
    con.execute("UPDATE history SET version = ? WHERE id = ?", (6, x["id"]))
    return {a: (y["id"], 5)}


def t_moved_to_another_document(con, a, b):
    r = _version_row(a, 6)  # the synchronize, to the other document's next version
    n = len(rows(b))
    con.execute("UPDATE history SET document_id = ?, version = ? WHERE id = ?", (doc_id(b), n, r["id"]))
    return {a: (_version_row(a, 7)["id"], 7), b: (r["id"], n)}


def t_plain_sha256_chain(con, a, b):
    """The send_back's comment changed and the chain from there recomputed as anyone could
    without the key: plain SHA-256 of the previous hash and the row's canonical bytes."""
    from ikuflow.store import content as files

    d = doc_id(a)
    target = _version_row(a, 3)
    con.execute("UPDATE history SET comment = ? WHERE id = ?", ("Sudah sesuai", target["id"]))
    previous = None
    for r in list(files.chain_rows(con, d)):
        if r[2] < 3:
            previous = r[12]
            continue
        previous = hashlib.sha256(previous.encode() + b"\n" + canonical(a, *r[2:12])).hexdigest()
        con.execute("UPDATE history SET chain = ? WHERE id = ?", (previous, r[0]))
    con.execute("UPDATE document SET chain = ? WHERE id = ?", (previous, d))
    return {a: (target["id"], 3)}


TAMPERING = [t_changed_comment, t_changed_actor, t_deleted_middle_row, t_inserted_row, t_swapped_rows,
             t_moved_to_another_document, t_plain_sha256_chain]


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__[2:] for t in TAMPERING])
def test_audit_verify_names_the_row_changed_in_sql(signed, cli, tamper, tmp_path):
    """The untouched database is exit 0. Each change made around ikuflow (a comment, an
    actor, a row removed from the middle, one inserted, two swapped, one moved to another
    document, a chain recomputed without the key) is exit 1 from ``audit verify`` and
    ``ok`` False from the use case, naming exactly the documents touched and the first bad
    row of each (history id and version); the record and verify say the chain is broken;
    and no checkpoint is written of a broken history (exit 6)."""
    svc, v = signed
    a = "pacitan-sdmo-2026"
    r = cli("audit", "verify")
    assert r.exit_code == 0 and "every history chain is intact: 2 document(s), 12 row(s)" in r.stdout, r.stderr
    assert evidence.audit(svc) == {"ok": True, "documents": 2, "rows": 12, "broken": [], "checkpoint": None}

    con = db()
    try:
        want = tamper(con, a, OTHER)
    finally:
        con.close()

    res = evidence.audit(svc)
    assert res["ok"] is False
    assert {b["key"]: (b["history_id"], b["version"]) for b in res["broken"]} == want, res["broken"]
    r = cli("audit", "verify")
    assert r.exit_code == 1
    for key, (hid, version) in want.items():
        assert f"{key}: version {version} (history id {hid}): " in r.stderr, r.stderr
    assert f"the history of {len(want)} document(s) was altered" in r.stderr
    untouched = {a, OTHER} - want.keys()
    for key in untouched:
        assert f"{key}:" not in r.stderr
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["broken"] == res["broken"]

    rec = evidence.record(svc, a)
    assert rec["chain_intact"] is (a not in want)
    (tmp_path / "signed.pdf").write_bytes(v[2])
    [m] = evidence.verify_file(svc, tmp_path / "signed.pdf")["matches"]
    assert m["chain_intact"] is False
    r = cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"))
    assert r.exit_code == 6 and not (tmp_path / "cp.json").exists()
    with pytest.raises(Conflict):
        evidence.checkpoint(svc)


def test_content_swapped_in_the_document_row_is_not_laundered_into_the_chain(svc, doc, cli, tmp_path):
    """Someone with the database but not the key makes another file the current content of a
    document in chair_approved (a content row, its bytes, the document's content_sha256: no
    history row is touched), and the chair then signs. The history now says the content
    changed between approve and sign with no attach step: ``audit verify`` must name the
    document (exit 1), and ``verify`` of the swapped-in file must not call its chain intact."""
    from ikuflow.store import content as files

    walk(svc, doc, 7)  # approved: chair_approved, content version 2
    forged = pdf("IKU SDMO 2026 versi palsu")
    con = db()
    try:
        files.blobs(con).put(sha(forged), forged)
        d = doc_id(doc)
        con.execute("INSERT INTO content (document_id, version, sha256, name, size, kind, attached_by, attached_at)"
                    " SELECT document_id, 3, ?, name, ?, kind, attached_by, attached_at FROM content"
                    " WHERE document_id = ? AND version = 2", (sha(forged), len(forged), d))
        con.execute("UPDATE document SET content_sha256 = ? WHERE id = ?", (sha(forged), d))
    finally:
        con.close()
    svc.advance(doc, "sign", CHAIR, at=utc("2026-01-28T10:00+07:00"))
    h = rows(doc)
    assert h[-1]["event"] == "sign" and h[-2]["event"] == "approve"
    assert h[-1]["content_sha256"] == sha(forged) != h[-2]["content_sha256"]  # what the history now says
    res = evidence.audit(svc)
    assert res["ok"] is False and [b["key"] for b in res["broken"]] == [doc], res
    r = cli("audit", "verify")
    assert r.exit_code == 1 and doc in r.stderr
    (tmp_path / "forged.pdf").write_bytes(forged)
    [m] = evidence.verify_file(svc, tmp_path / "forged.pdf")["matches"]
    assert m["chain_intact"] is False


def _cut_last_row(key: str) -> int:
    """Delete the last history row of ``key`` and set the document back to the row before,
    as someone hiding the last step would: the rows left still chain. Its history id."""
    h = rows(key)
    con = db()
    try:
        con.execute("DELETE FROM history WHERE id = ?", (h[-1]["id"],))
        con.execute("UPDATE document SET version = ?, chain = ? WHERE key = ?", (h[-2]["version"], h[-2]["chain"], key))
    finally:
        con.close()
    return h[-1]["id"]


def test_rows_cut_from_the_end_are_caught_only_against_a_checkpoint(signed, cli, tmp_path):
    """The sign row cut from the end (the document set back to match) leaves a chain that
    still verifies (exit 0: what the chain alone cannot show); ``audit verify --checkpoint``
    with a checkpoint written before is exit 1 naming that document and how many rows went,
    and not the others, nor a document created after the checkpoint."""
    svc, v = signed
    a = "pacitan-sdmo-2026"
    r = cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"))
    assert r.exit_code == 0, r.stderr
    cp = json.loads((tmp_path / "cp.json").read_text())
    assert cp["documents"] == {a: [9, rows(a)[-1]["chain"]], OTHER: [3, rows(OTHER)[-1]["chain"]]}
    assert cp["rows"] == 12
    r = cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert r.exit_code == 0 and "nothing cut since the checkpoint" in r.stdout, r.stderr

    svc.new("pacitan", "pencegahan", 2026, SIGNING, SECR, at=utc("2026-01-29T09:00+07:00"))
    _cut_last_row(a)
    r = cli("audit", "verify")
    assert r.exit_code == 0, r.stderr
    assert evidence.audit(svc)["ok"] is True

    r = cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert r.exit_code == 1
    assert f"{a}: " in r.stderr and "1 row(s) cut from the end" in r.stderr, r.stderr
    assert OTHER not in r.stderr and "pacitan-pencegahan-2026" not in r.stderr
    mark = evidence.read_checkpoint(svc, (tmp_path / "cp.json").read_text(), "cp.json")
    res = evidence.audit(svc, mark)
    assert res["ok"] is False and [(b["key"], b["version"]) for b in res["broken"]] == [(a, 8)]

    # cut, then as many rows written again by ikuflow itself: the count matches, the head does not
    _cut_last_row(OTHER)  # its submit; the document stays in division_review
    svc.advance(OTHER, "synchronize", SECR, at=utc("2026-01-30T09:00+07:00"))
    assert len(rows(OTHER)) == 3 and cli("audit", "verify").exit_code == 0
    res = evidence.audit(svc, mark)
    assert {b["key"] for b in res["broken"]} == {a, OTHER}
    assert "rewritten" in next(b for b in res["broken"] if b["key"] == OTHER)["problem"]


def test_an_untouched_database_verifies_and_a_hand_edited_checkpoint_is_refused(signed, cli, tmp_path):
    """An untouched database is exit 0 with and without its checkpoint. A checkpoint edited
    by hand (a count lowered, a head changed) is refused (exit 1, its signature does not
    match), as is one read under another secret key; a file that is no checkpoint is exit 2."""
    svc, _ = signed
    r = cli("audit", "checkpoint")
    assert r.exit_code == 0
    text = r.stdout
    (tmp_path / "cp.json").write_text(text)
    assert cli("audit", "verify").exit_code == 0
    assert cli("audit", "verify", "--checkpoint", "cp.json").exit_code == 0
    assert evidence.audit(svc, evidence.read_checkpoint(svc, text, "cp.json"))["ok"] is True

    for edit in (lambda d: d["documents"]["pacitan-sdmo-2026"].__setitem__(0, 8),
                 lambda d: d["documents"][OTHER].__setitem__(1, "0" * 64),
                 lambda d: d["documents"].pop(OTHER),
                 lambda d: d.__setitem__("created_at", "2027-01-01T00:00:00+00:00")):
        data = json.loads(text)
        edit(data)
        (tmp_path / "edited.json").write_text(json.dumps(data, indent=1))
        r = cli("audit", "verify", "--checkpoint", "edited.json")
        assert r.exit_code == 1 and "altered" in r.stderr, r.stderr
        with pytest.raises(IkuflowError) as e:
            evidence.read_checkpoint(svc, json.dumps(data), "edited.json")
        assert e.value.exit_code == 1
    r = cli("audit", "verify", "--checkpoint", "cp.json",
            env={"IKUFLOW_SECRET_KEY": "another-installation-key-0123456789abcdefg"})
    assert r.exit_code == 1 and "another secret key" in r.stderr, r.stderr
    (tmp_path / "not.json").write_text('{"hello": 1}')
    assert cli("audit", "verify", "--checkpoint", "not.json").exit_code == 2
    (tmp_path / "cp.bin").write_bytes(b"\xff\xfe\x00")
    assert cli("audit", "verify", "--checkpoint", "cp.bin").exit_code == 2


# --- 4. the signing record -------------------------------------------------------------------------
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<link\b[^>]*rel\s*=\s*["']?stylesheet[^>]*href"""
                      r"""|<script\b[^>]*\bsrc\s*=|@import|url\(\s*["']?(?:https?:)?//""", re.I)


def test_record_equals_the_history_and_its_page_has_no_external_assets(signed, cli, tmp_path):
    """``record --json`` has as many steps as the history, each with its event, actor,
    version, content hash and the chain column's hash; its content hash is the signed file's.
    The HTML page carries the same hashes and loads nothing from elsewhere."""
    svc, v = signed
    doc = "pacitan-sdmo-2026"
    r = cli("record", doc, "--json", "--html", "record.html")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    h = rows(doc)
    assert len(rec["steps"]) == len(h) == 9
    assert [(s["version"], s["event"], s["actor"], s["content_sha256"], s["chain"]) for s in rec["steps"]] == \
           [(x["version"], x["event"], x["actor"], x["content_sha256"], x["chain"]) for x in h]
    assert [s["at"] for s in rec["steps"]] == [s["at"] for s in svc.history(doc)]
    assert rec["content"]["sha256"] == sha(v[2]) == sha(evidence.download(svc, doc)[1])
    assert rec["content"]["size"] == len(v[2]) and rec["content"]["version"] == 2
    assert rec["state"] == "signed" and rec["final"] is True and rec["chain_intact"] is True
    assert sha(v[2]) in rec["how_to_check"]

    page = (tmp_path / "record.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert sha(v[2]) in page and all(x["chain"] in page for x in h)
    r = cli("record", doc, "--html", "record.html")
    assert r.exit_code == 2  # never over an existing file
    r = cli("record", doc)
    assert r.exit_code == 0 and sha(v[2]) in r.stdout and "intact" in r.stdout


@pytest.mark.backends("sqlite")
def test_record_page_in_headless_chromium(signed, cli, browser, tmp_path):  # noqa: F811 (the fixture)
    """The record page opened from its file in headless Chromium shows the content's SHA-256
    and one row per step whose chain cells are the history's chain column; its screenshot
    is a real PNG, not blank."""
    from selenium.webdriver.common.by import By

    svc, v = signed
    doc = "pacitan-sdmo-2026"
    assert cli("record", doc, "--html", "record.html").exit_code == 0
    browser.get((tmp_path / "record.html").as_uri())
    h = rows(doc)
    shown = browser.find_element(By.ID, "sha256")
    assert shown.is_displayed() and shown.text.strip() == sha(v[2])
    steps = browser.find_elements(By.CSS_SELECTOR, "#steps tr[data-version]")
    assert len(steps) == len(h) and all(s.is_displayed() for s in steps)
    assert [s.get_attribute("data-event") for s in steps] == [x["event"] for x in h]
    assert [c.text.strip() for c in browser.find_elements(By.CSS_SELECTOR, "td.chain")] == [x["chain"] for x in h]
    assert browser.find_element(By.ID, "chain").get_attribute("class") == "ok"
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0

    png = browser.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    shot = tmp_path / "record.png"
    shot.write_bytes(png)
    width, height, bpp, lines = png_rows(shot, 200)
    assert width >= 800 and height >= 600
    colours = {line[i:i + 3] for line in lines for i in range(0, width * bpp, bpp * 7)}
    assert len(colours) > 2, colours


# --- the audit's fast paths compute exactly the reference bytes and digests -----------------------
@pytest.mark.no_database
def test_the_fast_hmac_and_the_c_encoder_give_the_reference_digests_and_bytes():
    """``Mac`` (precomputed HMAC states) equals hmac.digest for keys short and long and any
    message; ``canonical`` (json's C encoder made once) equals json.dumps of the same fields."""
    import hmac as std_hmac
    import json as std_json

    from hypothesis import given, settings, strategies as st

    from ikuflow.evidence import Mac, canonical

    text = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))

    @settings(max_examples=300, deadline=None)
    @given(st.binary(min_size=1, max_size=130), st.binary(max_size=300),
           st.tuples(st.text(max_size=20), st.integers(0, 2**40), text, st.text(max_size=30), text,
                     st.text(max_size=12), text, st.text(max_size=12), text, st.text(max_size=4), text))
    def check(key, message, row):
        assert Mac(key).hex(message) == std_hmac.digest(key, message, "sha256").hex()
        assert canonical(*row) == std_json.dumps(list(row), ensure_ascii=False,
                                                 separators=(",", ":")).encode("utf-8")

    check()
