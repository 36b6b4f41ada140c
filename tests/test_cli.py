"""The CLI contract of PRODUCT.md section 6, in-process through Typer's runner."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import CHAIR, COORD, COORD_HUKUM, NOBODY, SECR, WORKFLOWS

KEY = "pacitan-sdmo-2026"
NEW = ["new", "--office", "pacitan", "--division", "sdmo", "--year", "2026",
       "--signing-date", "2026-01-28", "--at", "2026-01-12T09:00+07:00"]
STEPS = [("submit", COORD, "2026-01-19T10:00+07:00", "division_review"),
         ("synchronize", SECR, "2026-01-21T14:00+07:00", "synchronized"),
         ("approve", CHAIR, "2026-01-26T11:00+07:00", "chair_approved"),
         ("sign", CHAIR, "2026-01-28T10:00+07:00", "signed")]


@pytest.fixture
def created(cli, directory):
    r = cli(*NEW, "--as", COORD)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == KEY
    return KEY


def one_error_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def test_init_is_idempotent_and_versions_changed_workflows(cli, tmp_path, monkeypatch):
    r = cli("init", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["workflows_loaded"] == ["iku v1"]
    r = cli("init", "--json")
    assert json.loads(r.stdout)["workflows_loaded"] == []
    changed = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, changed)
    text = (changed / "iku.yaml").read_text().replace('title: "IKU tahunan', 'title: "IKU tahunan (rev)')
    (changed / "iku.yaml").write_text(text)
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(changed))
    assert json.loads(cli("init", "--json").stdout)["workflows_loaded"] == ["iku v2"]
    r = cli("division", "list", "--json")
    assert {d["code"] for d in json.loads(r.stdout)} == {"sdmo", "hukum", "penanganan", "pencegahan", "sengketa"}


def test_init_refuses_a_broken_workflow_folder_and_writes_nothing(cli, tmp_path, monkeypatch):
    broken = tmp_path / "wf"
    broken.mkdir()
    (broken / "iku.yaml").write_text((WORKFLOWS / "iku.yaml").read_text().replace("to: signed", "to: sigend"))
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(broken))
    r = cli("init")
    assert r.exit_code == 1 and "events.sign.to" in r.stderr and "did you mean 'signed'" in r.stderr
    assert not (tmp_path / "ikuflow.db").exists()


def test_directory_commands_and_their_errors(cli):
    assert cli("init").exit_code == 0
    assert cli("office", "add", "ri", "--name", "Bawaslu RI").exit_code == 0
    r = cli("office", "add", "bali", "--name", "Bawaslu Provinsi Bali", "--tz", "WITA", "--parent", "ri")
    assert r.exit_code == 0 and "Asia/Makassar" in r.stdout
    assert cli("office", "add", "x", "--name", "X", "--tz", "Mars/Base").exit_code == 2
    assert cli("office", "add", "x", "--name", "X", "--parent", "atlantis").exit_code == 3
    assert cli("office", "add", "Bad Code", "--name", "X").exit_code == 2
    offices = json.loads(cli("office", "list", "--json").stdout)
    assert [o["code"] for o in offices] == ["bali", "ri"] and offices[0]["parent"] == "ri"
    assert cli("person", "add", "a@b.id", "--name", "A", "--role", "chiar", "--office", "bali").exit_code == 2
    assert cli("person", "add", "a@b.id", "--name", "A", "--role", "coordinator", "--office", "bali").exit_code == 2
    assert cli("person", "add", "a@b.id", "--name", "A", "--role", "chair", "--office", "nope").exit_code == 3
    assert cli("person", "add", "not-an-email", "--name", "A", "--role", "chair", "--office", "bali").exit_code == 2
    assert cli("division", "add", "humas", "--name", "Humas").exit_code == 0
    r = cli("person", "add", "A@B.id", "--name", "A", "--role", "coordinator", "--office", "bali",
            "--division", "humas")
    assert r.exit_code == 0
    people = json.loads(cli("person", "list", "--json").stdout)
    assert people == [{"email": "a@b.id", "name": "A", "role": "coordinator", "office": "bali",
                       "division": "humas"}]


def test_walk_every_event_through_the_cli(cli, created):
    for event, actor, at, state in STEPS:
        r = cli("advance", KEY, event, "--as", actor, "--at", at)
        assert r.exit_code == 0, r.stderr
        assert r.stdout.strip() == state
    hist = json.loads(cli("history", KEY, "--json").stdout)
    assert [(h["event"], h["from"], h["to"]) for h in hist] == [
        ("create", None, "draft"), ("submit", "draft", "division_review"),
        ("synchronize", "division_review", "synchronized"),
        ("approve", "synchronized", "chair_approved"), ("sign", "chair_approved", "signed")]
    assert all({"at", "actor", "event", "from", "to", "comment"} <= set(h) for h in hist)
    st = json.loads(cli("status", KEY, "--json").stdout)
    assert st["state"] == "signed" and st["overdue"] is False and st["must_act"] == []


def test_send_back_through_the_cli(cli, created):
    cli("advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00")
    r = cli("advance", KEY, "send_back", "--as", SECR)
    assert r.exit_code == 4 and "comment" in one_error_line(r)
    r = cli("advance", KEY, "send_back", "--as", SECR, "-m", "Lampiran II kurang")
    assert r.exit_code == 0 and r.stdout.strip() == "draft"
    assert json.loads(cli("history", KEY, "--json").stdout)[-1]["comment"] == "Lampiran II kurang"


@pytest.mark.parametrize("args,code,words", [
    (["advance", "nope-sdmo-2026", "submit", "--as", COORD], 3, "unknown document"),
    (["advance", KEY, "sumbit", "--as", COORD], 3, "did you mean 'submit'"),
    (["advance", KEY, "submit", "--as", "ghost@example.id"], 3, "unknown person"),
    (["advance", KEY, "approve", "--as", CHAIR], 4, "allowed now: submit"),
    (["advance", KEY, "submit", "--as", COORD_HUKUM], 5, "coordinator role"),
    (["advance", KEY, "submit", "--as", NOBODY], 5, "roles here: none"),
    (["advance", KEY, "submit", "--as", COORD, "--if-version", "7"], 6, "version"),
    (["advance", KEY, "submit"], 2, "--as"),
    (["advance", KEY, "submit", "--as", COORD, "--at", "2026-02-30T10:00"], 2, "not a valid date-time"),
    (["status", "nope-sdmo-2026"], 3, "unknown document"),
    (["status", KEY, "--at", "kemarin"], 2, "not a valid date-time"),
    (["history", "nope-sdmo-2026"], 3, "unknown document"),
    (["list", "--office", "atlantis"], 3, "unknown office"),
    (["new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date",
      "2026-02-30", "--as", COORD], 2, "not a valid signing date"),
    (["new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date",
      "2026-01-28", "--as", COORD], 6, "already exists"),
])
def test_refusals_have_their_exit_code_and_one_clear_line(cli, created, args, code, words):
    r = cli(*args)
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert words in one_error_line(r)
    assert json.loads(cli("status", KEY, "--json").stdout)["version"] == 0


def test_actor_from_environment(cli, created):
    r = cli("advance", KEY, "submit", "--at", "2026-01-19T10:00+07:00", env={"IKUFLOW_USER": COORD})
    assert r.exit_code == 0 and r.stdout.strip() == "division_review"
    assert json.loads(cli("history", KEY, "--json").stdout)[-1]["actor"] == COORD


def test_status_json_contract(cli, created):
    st = json.loads(cli("status", KEY, "--json", "--at", "2026-01-22T08:00+07:00").stdout)
    assert {"key", "state", "due_at", "overdue", "must_act"} <= set(st)
    assert st["key"] == KEY and st["state"] == "draft" and st["overdue"] is True
    assert st["due_at"] == "2026-01-21T16:00:00+07:00"
    assert [p["email"] for p in st["must_act"]] == [COORD]
    r = cli("status", KEY, "--at", "2026-01-20T08:00+07:00")
    assert "2026-01-21 16:00 WIB" in r.stdout and "Sri Wahyuni" in r.stdout


def test_list_filters_and_overdue(cli, created):
    assert cli("new", *NEW[1:4], "hukum", *NEW[5:], "--as", COORD_HUKUM).exit_code == 0
    cli("advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00")
    rows = json.loads(cli("list", "--json", "--state", "division_review").stdout)
    assert [r["key"] for r in rows] == [KEY]
    rows = json.loads(cli("list", "--json", "--overdue", "--at", "2026-01-22T09:00+07:00").stdout)
    assert [r["key"] for r in rows] == ["pacitan-hukum-2026"]
    assert json.loads(cli("list", "--json", "--division", "sdmo", "--year", "2025").stdout) == []
    assert "pacitan-hukum-2026" in cli("list").stdout


def test_no_database_is_a_clear_error(cli):
    r = cli("status", KEY)
    assert r.exit_code == 1 and "ikuflow init" in one_error_line(r)


def test_every_command_has_help():
    import typer.main

    from ikuflow.cli import app

    root = typer.main.get_command(app)

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    names = []
    for path, cmd in walk(root, []):
        assert (cmd.help or "").strip(), f"'ikuflow {' '.join(path)}' has no help"
        for p in cmd.params:
            if p.name not in ("help",) and getattr(p, "param_type_name", "") == "option":
                assert (p.help or "").strip(), f"option {p.opts} of 'ikuflow {' '.join(path)}' has no help"
        names.append(" ".join(path))
    for needed in ("init", "workflow check", "workflow show", "workflow graph", "office add",
                   "division add", "person add", "new", "advance", "status", "list", "history"):
        assert needed in names
