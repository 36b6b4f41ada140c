"""The secretariat's tools: directory import, bulk creation and advance, acting officials."""

from __future__ import annotations

import json

from conftest import ROOT, misqueued

EXAMPLES = ROOT / "examples"


def test_example_directory_imports_once_and_then_changes_nothing(cli):
    assert cli("init").exit_code == 0
    r = cli("import", str(EXAMPLES / "directory.yaml"), "--json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["offices_created"] == 9 and res["people_created"] == 64 and res["roles_added"] == 64
    again = json.loads(cli("import", str(EXAMPLES / "directory.yaml"), "--json").stdout)
    assert again["changed"] is False
    offices = {o["code"]: o for o in json.loads(cli("office", "list", "--json").stdout)}
    assert offices["badung"]["tz"] == "Asia/Makassar" and offices["badung"]["parent"] == "bali"
    people = json.loads(cli("person", "list", "--office", "pacitan", "--json").stdout)
    assert sorted(p["role"] for p in people) == ["chair"] + ["coordinator"] * 5 + ["secretariat"]


def test_the_553_real_offices_import_from_csv(cli):
    cli("init")
    res = json.loads(cli("import", str(EXAMPLES / "offices-id.csv"), "--json").stdout)
    assert res["offices_created"] == 553
    offices = {o["code"]: o for o in json.loads(cli("office", "list", "--json").stdout)}
    assert offices["pacitan"]["parent"] == "jawa-timur" and offices["kota-jayapura"]["tz"] == "Asia/Jayapura"
    assert json.loads(cli("import", str(EXAMPLES / "offices-id.csv"), "--json").stdout)["changed"] is False


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_applied(cli, tmp_path):
    cli("init")
    bad = tmp_path / "people.csv"
    bad.write_text("email,name,role,office,division\n"
                   "ok@example.id,Ok,chair,ri,\n"
                   "x@example.id,X,chiar,ri,\n"
                   "y@example.id,Y,coordinator,ri,\n")
    cli("office", "add", "ri", "--name", "Bawaslu RI")
    r = cli("import", str(bad))
    assert r.exit_code == 1
    assert "people.csv:3: role: unknown role 'chiar'; did you mean 'chair'?" in r.stderr
    assert "people.csv:4: division: a coordinator needs a division" in r.stderr
    assert json.loads(cli("person", "list", "--json").stdout) == []  # not even the good row


def test_office_cycles_unknown_parents_and_zones_are_refused(cli, tmp_path):
    cli("init")
    bad = tmp_path / "offices.yaml"
    bad.write_text("offices:\n"
                   "  - {code: a, name: A, parent: b}\n"
                   "  - {code: b, name: B, parent: a}\n"
                   "  - {code: c, name: C, parent: nowhere, tz: Mars/Base}\n")
    r = cli("import", str(bad))
    assert r.exit_code == 1
    for words in ("offices.yaml:2: parent: office 'a' would be its own ancestor",
                  "offices.yaml:4: parent: unknown office 'nowhere'", "offices.yaml:4: tz: unknown time zone"):
        assert words in r.stderr
    assert json.loads(cli("office", "list", "--json").stdout) == []
    assert cli("import", str(tmp_path / "missing.yaml")).exit_code == 1


def test_a_national_year_in_one_command(cli):
    cli("init")
    cli("import", str(EXAMPLES / "offices-id.csv"))
    cli("import", str(EXAMPLES / "directory.yaml"))
    args = ["new", "--all-offices", "--year", "2026", "--signing-date", "2026-01-28",
            "--as", "admin@ri.bawaslu.example.id", "--at", "2026-01-05T09:00+07:00", "--json"]
    res = json.loads(cli(*args).stdout)
    assert res["created"] == 553 * 5 and res["refused"] == []
    # the coordinators of the example directory's offices are told (9 offices x 5 divisions)
    created_mails = json.loads(cli("outbox", "list", "--json", "--limit", "5000").stdout)
    assert len(created_mails) == 45 and all(m["subject"].endswith("mohon disusun") for m in created_mails)
    rows = json.loads(cli("list", "--office", "kota-jayapura", "--json").stdout)
    assert [r["key"] for r in rows] == [f"kota-jayapura-{d}-2026" for d in
                                        ("hukum", "penanganan", "pencegahan", "sdmo", "sengketa")]
    assert rows[0]["due_at"] == "2026-01-21T16:00:00+09:00"  # WIT
    hist = json.loads(cli("history", "pacitan-sdmo-2026", "--json").stdout)
    assert [h["event"] for h in hist] == ["create"]
    # again: every one refused as existing; all or nothing refuses the lot with exit 6
    again = json.loads(cli(*args).stdout)
    assert again["created"] == 0 and len(again["refused"]) == 553 * 5
    assert cli(*args[:-1], "--all-or-nothing").exit_code == 6


def test_bulk_creation_refuses_what_the_actor_may_not_create(cli):
    cli("init")
    cli("import", str(EXAMPLES / "directory.yaml"))
    secr = json.loads(cli("person", "list", "--office", "pacitan", "--json").stdout)
    secretariat = next(p["email"] for p in secr if p["role"] == "secretariat")
    res = json.loads(cli("new", "--all-offices", "--year", "2026", "--signing-date", "2026-01-28",
                         "--as", secretariat, "--json").stdout)
    assert res["created"] == 5 and all(k.startswith("pacitan-") for k in res["keys"])
    assert len(res["refused"]) == 8 * 5 and "no coordinator, secretariat or admin role" in res["refused"][0]["reason"]
    r = cli("new", "--all-offices", "--year", "2027", "--signing-date", "2027-01-28", "--as", secretariat,
            "--all-or-nothing")
    assert r.exit_code == 6 and "nothing was created" in r.stderr
    assert json.loads(cli("list", "--year", "2027", "--json").stdout) == []


def _rollout(cli):
    cli("init")
    cli("import", str(EXAMPLES / "directory.yaml"))
    cli("new", "--all-offices", "--year", "2026", "--signing-date", "2026-01-28",
        "--as", "admin@ri.bawaslu.example.id", "--at", "2026-01-05T09:00+07:00")


def test_advance_many_by_filter_and_from_a_file(cli, tmp_path):
    _rollout(cli)
    admin = ["--as", "admin@ri.bawaslu.example.id", "--at", "2026-01-19T10:00+07:00"]
    r = cli("advance", "--event", "submit", "--office", "pacitan", "--state", "draft", *admin, "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["advanced"]) == 5
    items = tmp_path / "items.csv"
    items.write_text("key,event,comment\n"
                     "pacitan-sdmo-2026,send_back,Lampiran kurang\n"
                     "pacitan-hukum-2026,synchronize\n"
                     "badung-sdmo-2026,approve\n"
                     "nope-sdmo-2026,submit\n")
    r = cli("advance", "--from-file", str(items), *admin, "--json")
    res = json.loads(r.stdout)
    assert [a["key"] for a in res["advanced"]] == ["pacitan-sdmo-2026", "pacitan-hukum-2026"]
    assert [(x["key"], x["exit_code"]) for x in res["refused"]] == [("badung-sdmo-2026", 4), ("nope-sdmo-2026", 3)]
    assert r.exit_code == 4  # the first refusal's
    assert json.loads(cli("history", "pacitan-sdmo-2026", "--json").stdout)[-1]["comment"] == "Lampiran kurang"


def test_advance_all_or_nothing_changes_nothing_when_one_is_refused(cli, tmp_path):
    _rollout(cli)
    items = tmp_path / "items.csv"
    items.write_text("pacitan-sdmo-2026,submit\npacitan-hukum-2026,submit\npacitan-hukum-2026,approve\n")
    r = cli("advance", "--from-file", str(items), "--all-or-nothing", "--as", "admin@ri.bawaslu.example.id",
            "--json")
    assert r.exit_code == 4
    res = json.loads(r.stdout)
    assert res["advanced"] == [] and res["rolled_back"] is True and res["refused"][0]["event"] == "approve"
    states = {d["key"]: d["state"] for d in json.loads(cli("list", "--office", "pacitan", "--json").stdout)}
    assert set(states.values()) == {"draft"}
    outbox = json.loads(cli("outbox", "list", "--json", "--limit", "1000").stdout)
    assert {m["kind"] for m in outbox} == {"event"} and all("dibuat" in m["subject"] for m in outbox)
    assert cli("advance", "--event", "submit", "--as", "admin@ri.bawaslu.example.id").exit_code == 2


def test_an_acting_official_acts_within_the_dates_and_only_then(cli):
    from conftest import CHAIR, COORD, SECR, seed_directory

    seed_directory()
    cli("person", "add", "rudi@pacitan.example.id", "--name", "Rudi Plh", "--role", "secretariat",
        "--office", "badung")  # a person with no role at pacitan
    key = "pacitan-sdmo-2026"
    cli("new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date",
        "2026-01-28", "--as", COORD, "--at", "2026-01-12T09:00+07:00")
    for ev, who, at in (("submit", COORD, "2026-01-19T10:00+07:00"), ("synchronize", SECR, "2026-01-21T10:00+07:00")):
        assert cli("advance", key, ev, "--as", who, "--at", at).exit_code == 0
    r = cli("delegate", CHAIR, "--to", "rudi@pacitan.example.id", "--from", "2026-01-24", "--until", "2026-01-27")
    assert r.exit_code == 0 and "acts for" in r.stdout
    # before the delegation holds: refused, the chair's role is not lent yet
    r = cli("advance", key, "approve", "--as", "rudi@pacitan.example.id", "--at", "2026-01-23T23:00+07:00")
    assert r.exit_code == 5
    # the acting chair receives the chair's reminder (synchronized is due 27 Jan 16:00, reminded a day before)
    cli("tick", "--at", "2026-01-26T17:00+07:00")
    mails = json.loads(cli("outbox", "list", "--json").stdout)
    assert {m["recipient"] for m in mails if m["kind"] == "reminder"} == {CHAIR, "rudi@pacitan.example.id"}
    # within the dates: allowed, and history names both
    r = cli("advance", key, "approve", "--as", "rudi@pacitan.example.id", "--at", "2026-01-27T09:00+07:00", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["acting_for"] == CHAIR
    last = json.loads(cli("history", key, "--json").stdout)[-1]
    assert (last["actor"], last["acting_for"], last["event"]) == ("rudi@pacitan.example.id", CHAIR, "approve")
    assert "acting for ahmad@pacitan.example.id" in cli("history", key).stdout
    # after the dates: nothing
    r = cli("advance", key, "sign", "--as", "rudi@pacitan.example.id", "--at", "2026-01-28T09:00+07:00")
    assert r.exit_code == 5
    # bad requests: acting for oneself, an unknown person, dates the wrong way round
    assert cli("delegate", CHAIR, "--to", CHAIR, "--from", "2026-01-01", "--until", "2026-01-02").exit_code == 2
    assert cli("delegate", CHAIR, "--to", "ghost@example.id", "--from", "2026-01-01", "--until", "2026-01-02").exit_code == 3
    assert cli("delegate", CHAIR, "--to", SECR, "--from", "2026-01-05", "--until", "2026-01-02").exit_code == 2


def test_workflow_versions_and_migration_dry_run_then_real(cli, tmp_path, monkeypatch):
    import shutil

    from conftest import COORD, SECR, WORKFLOWS, seed_directory

    seed_directory()
    for div, who in (("sdmo", COORD), ("hukum", "dewi@pacitan.example.id")):
        cli("new", "--office", "pacitan", "--division", div, "--year", "2026", "--signing-date", "2026-01-28",
            "--as", who, "--at", "2026-01-12T09:00+07:00")
    cli("advance", "pacitan-hukum-2026", "submit", "--as", "dewi@pacitan.example.id", "--at", "2026-01-19T10:00+07:00")
    cli("advance", "pacitan-hukum-2026", "synchronize", "--as", SECR, "--at", "2026-01-20T10:00+07:00")
    # v2: drafts are due a working day earlier, and 'synchronized' is renamed 'synced'
    wf = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, wf)
    text = (wf / "iku.yaml").read_text()
    text = text.replace("due: {days_before: 5,", "due: {days_before: 6,").replace("synchronized", "synced")
    (wf / "iku.yaml").write_text(text)
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(wf))
    assert json.loads(cli("init", "--json").stdout)["workflows_loaded"] == ["iku v2"]
    # documents stay on the version they started with
    assert json.loads(cli("status", "pacitan-sdmo-2026", "--json").stdout)["workflow_version"] == 1
    dry = json.loads(cli("workflow", "migrate", "iku", "--dry-run", "--json").stdout)
    assert [m["key"] for m in dry["would_move"]] == ["pacitan-sdmo-2026"]
    assert dry["would_move"][0]["due_at"] == "2026-01-20T16:00:00+07:00"
    assert dry["not_moved"][0]["key"] == "pacitan-hukum-2026" and "'synchronized' does not exist" in dry["not_moved"][0]["reason"]
    st = json.loads(cli("status", "pacitan-sdmo-2026", "--json").stdout)
    assert st["workflow_version"] == 1 and st["version"] == 0  # the dry run changed nothing
    real = json.loads(cli("workflow", "migrate", "iku", "--json", "--at", "2026-01-13T09:00+07:00").stdout)
    assert [m["key"] for m in real["moved"]] == ["pacitan-sdmo-2026"]
    st = json.loads(cli("status", "pacitan-sdmo-2026", "--json").stdout)
    assert (st["workflow_version"], st["state"], st["due_at"]) == (2, "draft", "2026-01-20T16:00:00+07:00")
    last = json.loads(cli("history", "pacitan-sdmo-2026", "--json").stdout)[-1]
    assert (last["event"], last["from"], last["to"], last["comment"]) == ("migrate", "draft", "draft", "workflow iku v1 -> v2")
    assert json.loads(cli("status", "pacitan-hukum-2026", "--json").stdout)["workflow_version"] == 1
    assert misqueued() == []  # the moved document waits in the queue of its state in v2
    # the document left on v1 still works on v1
    assert cli("advance", "pacitan-hukum-2026", "approve", "--as", "ahmad@pacitan.example.id").exit_code == 0
    # ... and once it reaches a state v2 knows, it can move
    again = json.loads(cli("workflow", "migrate", "iku", "--dry-run", "--json").stdout)
    assert [(m["key"], m["state"]) for m in again["would_move"]] == [("pacitan-hukum-2026", "chair_approved")]
