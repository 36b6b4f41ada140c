"""Issue 14, no silent data loss in the directory: a change to an office, a division or a person
changes only what the command names and says what changed; directory files refuse keys they do
not know; roles can be taken away; delegations can be listed and revoked, and clashing ones are
refused; names have a length limit."""

from __future__ import annotations

import json

import pytest

from conftest import ADMIN, CHAIR, COORD, NOBODY, SECR, db, run_ikuflow

KEY = "pacitan-sdmo-2026"


def one_error_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def office(cli, code: str) -> dict:
    return next(o for o in json.loads(cli("office", "list", "--json").stdout) if o["code"] == code)


def scalar(sql: str, *args):
    con = db()
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def directory_version() -> int:
    return int(scalar("SELECT value FROM meta WHERE key = 'directory_version'"))


def count(table: str) -> int:
    return scalar(f"SELECT count(*) FROM {table}")


# =============================================================================================
# office add / division add / person add on what exists: only what is named changes, and it says so
# =============================================================================================
def test_office_add_on_an_existing_office_changes_only_its_name_and_says_so(cli, doc):
    r = cli("office", "add", "pacitan", "--name", "Bawaslu Kab. Pacitan")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "updated office pacitan: name 'Bawaslu Kabupaten Pacitan' -> 'Bawaslu Kab. Pacitan'"
    assert office(cli, "pacitan") == {"code": "pacitan", "name": "Bawaslu Kab. Pacitan", "tz": "Asia/Jakarta",
                                      "parent": "jawa-timur", "level": "regency"}
    # the regency stays in its province's overdue list (it dropped out when the parent was reset)
    rows = json.loads(cli("overdue", "--office", "jawa-timur", "--json", "--at", "2026-01-27T10:00+07:00").stdout)
    assert [row["key"] for row in rows] == [KEY]
    # an office in WITA keeps its zone
    r = cli("office", "add", "badung", "--name", "Bawaslu Kab. Badung", "--json")
    res = json.loads(r.stdout)
    assert res["changes"] == {"name": {"from": "Bawaslu Kabupaten Badung", "to": "Bawaslu Kab. Badung"}}
    assert (res["tz"], res["parent"], res["created"]) == ("Asia/Makassar", "bali", False)
    r = cli("office", "add", "pacitan", "--name", "Bawaslu Kab. Pacitan")
    assert r.exit_code == 0 and r.stdout.strip() == "office pacitan: nothing to change"
    r = cli("office", "add", "badung", "--tz", "WIT")  # no --name needed to change an existing office
    assert r.stdout.strip() == "updated office badung: tz Asia/Makassar -> Asia/Jayapura"
    assert office(cli, "badung")["name"] == "Bawaslu Kab. Badung"
    # a new office: the defaults (WIB, no parent), and a name is required
    r = cli("office", "add", "kab-baru", "--name", "Bawaslu Kabupaten Baru", "--json")
    assert {k: json.loads(r.stdout)[k] for k in ("tz", "parent", "created", "changes")} == \
        {"tz": "Asia/Jakarta", "parent": None, "created": True, "changes": {}}
    r = cli("office", "add", "kab-lain", "--tz", "WITA")
    assert r.exit_code == 2 and "--name" in one_error_line(r)


def test_the_parent_is_removed_only_when_asked(cli, directory):
    r = cli("office", "add", "pacitan", "--parent", "jawa-timur", "--no-parent")
    assert r.exit_code == 2 and "--no-parent" in one_error_line(r)
    assert office(cli, "pacitan")["parent"] == "jawa-timur"
    r = cli("office", "add", "pacitan", "--no-parent")
    assert r.exit_code == 0 and r.stdout.strip() == "updated office pacitan: parent jawa-timur -> (none)"
    assert office(cli, "pacitan")["parent"] is None
    assert cli("office", "add", "pacitan", "--parent", "jawa-timur").exit_code == 0
    r = cli("office", "add", "pacitan", "--parent", "")
    assert r.exit_code == 0 and office(cli, "pacitan")["parent"] is None
    assert "--no-parent" in cli("office", "add", "--help").stdout


def test_division_add_on_an_existing_code_says_what_changed(cli, directory):
    r = cli("division", "add", "hukum", "--name", "Hukum")
    assert r.exit_code == 0 and r.stdout.strip() == "division hukum: nothing to change"
    r = cli("division", "add", "hukum", "--name", "Hukum dan HAM")
    assert r.stdout.strip() == "updated division hukum: name 'Hukum' -> 'Hukum dan HAM'"
    r = cli("division", "add", "humas", "--name", "Humas", "--json")
    assert json.loads(r.stdout) == {"code": "humas", "name": "Humas", "created": True, "changes": {}}


def test_person_add_says_renamed_role_added_or_already_held(cli, directory):
    r = cli("person", "add", COORD, "--name", "Sri W.", "--role", "coordinator", "--office", "pacitan",
            "--division", "sdmo")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"{COORD}: renamed from 'Sri Wahyuni' to 'Sri W.'; already coordinator of pacitan/sdmo"
    r = cli("person", "add", COORD, "--role", "coordinator", "--office", "pacitan", "--division", "penanganan")
    assert r.stdout.strip() == f"{COORD}: role added: coordinator of pacitan/penanganan"
    r = cli("person", "add", COORD, "--name", "Sri W.", "--role", "coordinator", "--office", "pacitan",
            "--division", "sdmo", "--json")
    res = json.loads(r.stdout)
    assert (res["created"], res["person_created"], res["changes"]) == (False, False, {})
    r = cli("person", "add", "baru@pacitan.example.id", "--name", "Orang Baru", "--role", "secretariat",
            "--office", "pacitan")
    assert r.stdout.strip() == "added baru@pacitan.example.id (Orang Baru) as secretariat of pacitan"


def test_every_change_bumps_the_directory_version_and_nothing_to_change_does_not(cli, directory):
    before = directory_version()
    cli("office", "add", "pacitan", "--name", "Bawaslu Kabupaten Pacitan")
    cli("division", "add", "hukum", "--name", "Hukum")
    assert directory_version() == before
    for args in (["office", "add", "pacitan", "--tz", "WITA"], ["division", "add", "hukum", "--name", "Hukum 2"],
                 ["person", "remove-role", SECR, "--role", "secretariat", "--office", "pacitan"],
                 ["delegate", CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2026-01-25"],
                 ["delegate", "revoke", "1", "--until", "2026-01-21"], ["delegate", "revoke", "1"]):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        assert directory_version() == before + 1, args
        before += 1


# =============================================================================================
# person remove-role
# =============================================================================================
def test_a_removed_role_is_gone_for_a_running_service_and_the_person_stays(cli, svc, doc):
    from conftest import utc
    from ikuflow.errors import RoleMissing

    svc.advance(KEY, "submit", COORD, at=utc("2026-01-15T10:00+07:00"))
    svc.advance(KEY, "send_back", SECR, comment="Lampiran kurang", at=utc("2026-01-15T11:00+07:00"))
    svc.advance(KEY, "submit", COORD, at=utc("2026-01-15T12:00+07:00"))  # the service has read both people's roles
    r = cli("person", "remove-role", SECR, "--role", "secretariat", "--office", "pacitan")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == f"{SECR} is no longer secretariat of pacitan; pacitan has no secretariat now"
    with pytest.raises(RoleMissing):
        svc.advance(KEY, "synchronize", SECR, at=utc("2026-01-16T10:00+07:00"))
    people = json.loads(cli("person", "list", "--json").stdout)
    assert [p for p in people if p["email"] == SECR] == [
        {"email": SECR, "name": "Budi Santoso", "role": None, "office": None, "division": None}]
    assert [h["actor"] for h in json.loads(cli("history", KEY, "--json").stdout)] == [COORD, COORD, SECR, COORD]


@pytest.mark.parametrize("args, code, words", [
    ([SECR, "--role", "chair", "--office", "pacitan"], 3,
     f"unknown role assignment 'chair of pacitan'; {SECR} holds secretariat of pacitan"),
    ([COORD, "--role", "coordinator", "--office", "pacitan", "--division", "hukum"], 3,
     "unknown role assignment 'coordinator of pacitan/hukum'"),
    (["hantu@pacitan.example.id", "--role", "chair", "--office", "pacitan"], 3, "unknown person"),
    ([SECR, "--role", "sekretariat", "--office", "pacitan"], 2, "did you mean 'secretariat'"),
    ([COORD, "--role", "coordinator", "--office", "pacitan"], 2, "--division"),
])
def test_removing_a_role_that_is_not_held_is_refused_and_changes_nothing(cli, directory, args, code, words):
    before = (count("role_assignment"), directory_version())
    r = cli("person", "remove-role", *args)
    assert r.exit_code == code, r.stderr
    assert words in one_error_line(r)
    assert (count("role_assignment"), directory_version()) == before


# =============================================================================================
# Name lengths
# =============================================================================================
@pytest.mark.parametrize("args", [
    ["office", "add", "pacitan", "--name", "x" * 201],
    ["office", "add", "kab-baru", "--name", "x" * 201],
    ["division", "add", "humas", "--name", "x" * 201],
    ["person", "add", COORD, "--name", "x" * 201, "--role", "coordinator", "--office", "pacitan", "--division", "sdmo"],
    ["person", "add", "baru@pacitan.example.id", "--name", "x" * 201, "--role", "chair", "--office", "pacitan"],
])
def test_a_name_over_200_characters_is_refused(cli, directory, args):
    args = list(args)  # the parameter is shared by both backends' runs: change a copy
    before = (count("office"), count("division"), count("person"), directory_version())
    r = cli(*args)
    assert r.exit_code == 2 and "201 characters long; at most 200" in one_error_line(r)
    assert (count("office"), count("division"), count("person"), directory_version()) == before
    args[args.index("--name") + 1] = "x" * 200
    assert cli(*args).exit_code == 0


# =============================================================================================
# ikuflow import: unknown keys and columns, and what an update leaves alone
# =============================================================================================
@pytest.mark.parametrize("name, text, expected", [
    ("parnet.yaml", "offices:\n  - code: kab-baru\n    name: Bawaslu Kabupaten Baru\n    parnet: jawa-timur\n",
     "parnet.yaml:4: offices.parnet: unknown key 'parnet'; did you mean 'parent'?"),
    ("offce.yaml", "people:\n  - {email: baru@pacitan.example.id, name: Orang Baru, role: chair, offce: pacitan}\n",
     "offce.yaml:2: people.offce: unknown key 'offce'; did you mean 'office'?"),
    ("roles.yaml", "people:\n  - email: baru@pacitan.example.id\n    name: Orang Baru\n    roles:\n"
     "      - {role: chair, office: pacitan}\n      - {role: coordinator, office: pacitan, divison: sdmo}\n",
     "roles.yaml:6: people.roles.divison: unknown key 'divison'; did you mean 'division'?"),
    ("division.yaml", "divisions:\n  - {code: humas, nama: Humas}\n",
     "division.yaml:2: divisions.nama: unknown key 'nama'; did you mean 'name'?"),
    ("parnet.csv", "code,name,parnet,tz\nkab-baru,Bawaslu Kabupaten Baru,jawa-timur,WIB\n",
     "parnet.csv:1: header: unknown column 'parnet'; did you mean 'parent'?"),
    ("offce.csv", "email,name,role,offce,division\nbaru@pacitan.example.id,Orang Baru,chair,pacitan,\n",
     "offce.csv:1: header: unknown column 'offce'; did you mean 'office'?"),
    ("extra.csv", "email,name,role,office,division\nbaru@pacitan.example.id,Orang, Baru,chair,pacitan,\n",
     "extra.csv:2: (row): 6 values for 5 columns; put a value that holds a comma in double quotes"),
    ("twice.csv", "email,name,role,office,division\nbaru@pacitan.example.id,Orang Baru,chair,pacitan,\n"
     "baru@pacitan.example.id,Orang Lain,secretariat,pacitan,\n",
     "twice.csv:3: name: baru@pacitan.example.id is named 'Orang Baru' on line 2; give one name per person"),
    ("long.yaml", f"offices:\n  - {{code: kab-baru, name: {'x' * 201}, parent: jawa-timur}}\n",
     "long.yaml:2: name: the office name is 201 characters long; at most 200 are allowed: shorten it"),
])
def test_an_import_file_with_an_unknown_key_or_a_value_it_would_lose_imports_nothing(cli, directory, tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    tables = ("office", "division", "person", "role_assignment")
    before = [count(t) for t in tables]
    r = cli("import", str(path))
    assert r.exit_code == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: 1 problem in the import file; nothing was imported")
    assert lines[1:] == [f"  {tmp_path / expected}"]
    assert "unknown office ''" not in r.stderr
    assert [count(t) for t in tables] == before


def test_an_import_changes_only_what_the_file_gives_an_existing_office(cli, directory, tmp_path):
    yaml_file = tmp_path / "names.yaml"
    yaml_file.write_text("offices:\n  - {code: pacitan, name: Bawaslu Kab. Pacitan}\n"
                         "  - {code: badung, name: Bawaslu Kab. Badung, level: kabupaten}\n", encoding="utf-8")
    r = cli("import", str(yaml_file), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["offices_updated"] == 2
    assert office(cli, "pacitan") == {"code": "pacitan", "name": "Bawaslu Kab. Pacitan", "tz": "Asia/Jakarta",
                                      "parent": "jawa-timur", "level": "regency"}
    assert office(cli, "badung") == {"code": "badung", "name": "Bawaslu Kab. Badung", "tz": "Asia/Makassar",
                                     "parent": "bali", "level": "kabupaten"}
    csv_file = tmp_path / "zones.csv"  # an empty tz cell keeps the zone
    csv_file.write_text("code,name,tz\nbadung,Bawaslu Kabupaten Badung,\n", encoding="utf-8")
    assert cli("import", str(csv_file)).exit_code == 0
    assert office(cli, "badung")["tz"] == "Asia/Makassar" and office(cli, "badung")["parent"] == "bali"
    # an empty parent says: no parent
    yaml_file.write_text("offices:\n  - {code: pacitan, name: Bawaslu Kab. Pacitan, parent: ''}\n", encoding="utf-8")
    assert cli("import", str(yaml_file)).exit_code == 0
    assert office(cli, "pacitan")["parent"] is None


def test_an_import_checks_cycles_against_the_parent_it_keeps(cli, directory, tmp_path):
    """jawa-timur under pacitan, with pacitan's own parent (jawa-timur) left out of the file."""
    path = tmp_path / "cycle.yaml"
    path.write_text("offices:\n  - {code: jawa-timur, name: Bawaslu Provinsi Jawa Timur, parent: pacitan}\n"
                    "  - {code: pacitan, name: Bawaslu Kabupaten Pacitan}\n", encoding="utf-8")
    r = cli("import", str(path))
    assert r.exit_code == 1 and "would be its own ancestor" in r.stderr
    assert office(cli, "jawa-timur")["parent"] == "ri"


# =============================================================================================
# Delegations: list, revoke, and the ones that clash
# =============================================================================================
def test_delegate_keeps_its_form_and_gains_list_and_revoke_in_the_real_console_script(directory):
    p = run_ikuflow("delegate", CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2126-01-01")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{NOBODY} acts for {CHAIR} from 2026-01-20 until 2126-01-01 (delegation 1)"
    p = run_ikuflow("delegate", "list", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [{k: v for k, v in row.items() if k != "created_at"} for row in rows] == [
        {"id": 1, "delegator": CHAIR, "delegate": NOBODY, "from": "2026-01-20", "until": "2126-01-01"}]
    p = run_ikuflow("delegate", "revoke", "1", "--until", "2026-01-25")
    assert p.returncode == 0 and p.stdout.strip() == \
        f"delegation 1 ({NOBODY} for {CHAIR}) now ends on 2026-01-25 (was 2126-01-01)"
    p = run_ikuflow("delegate", "list")
    assert p.returncode == 0 and "2026-01-25" in p.stdout and "2126" not in p.stdout
    p = run_ikuflow("delegate", "revoke", "1")
    assert p.returncode == 0 and p.stdout.strip() == \
        f"removed delegation 1 ({NOBODY} for {CHAIR}, 2026-01-20 until 2026-01-25)"
    p = run_ikuflow("delegate", "revoke", "1")
    assert p.returncode == 3 and p.stderr.strip() == "error: unknown delegation '1'; see 'ikuflow delegate list'"
    p = run_ikuflow("delegate", "--help")
    assert p.returncode == 0
    for form in ("ikuflow delegate EMAIL --to EMAIL --from DATE --until DATE",
                 "ikuflow delegate list [--person EMAIL] [--active-on DATE]", "ikuflow delegate revoke ID"):
        assert form in p.stdout


def test_delegate_list_filters_and_delegations_that_do_not_clash_are_accepted(cli, directory):
    for args in ([CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2026-01-25"],
                 [CHAIR, "--to", SECR, "--from", "2026-01-26", "--until", "2026-01-30"],   # from the next day
                 [COORD, "--to", ADMIN, "--from", "2026-01-24", "--until", "2026-01-30"],  # another delegator
                 [NOBODY, "--to", CHAIR, "--from", "2026-02-01", "--until", "2026-02-02"]):  # mutual, other days
        r = cli("delegate", *args)
        assert r.exit_code == 0, (args, r.stderr)

    def ids(*args) -> list[int]:
        r = cli("delegate", "list", "--json", *args)
        assert r.exit_code == 0, r.stderr
        return [row["id"] for row in json.loads(r.stdout)]

    assert ids() == [1, 3, 2, 4]  # by first day
    assert ids("--person", CHAIR) == [1, 2, 4] and ids("--person", ADMIN.upper()) == [3]
    assert ids("--active-on", "2026-01-25") == [1, 3] and ids("--active-on", "2026-01-31") == []
    assert ids("--person", NOBODY, "--active-on", "2026-02-02") == [4]
    assert ids("--person", SECR, "--active-on", "2026-02-02") == []
    r = cli("delegate", "list", "--person", "hantu@example.id")
    assert r.exit_code == 3 and "unknown person" in one_error_line(r)
    r = cli("delegate", "list", "--active-on", "2026-02-30")
    assert r.exit_code == 2 and "--active-on" in one_error_line(r)


def delegate_refused(cli, args, code: int, words: str, state) -> None:
    """With delegation 1 (NOBODY for CHAIR, 20-25 January) in place, ``delegate ARGS`` is refused
    with ``code`` and ``words`` on one line, and ``state()`` is what it was."""
    assert cli("delegate", CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2026-01-25").exit_code == 0
    before = state()
    r = cli("delegate", *args)
    assert r.exit_code == code, r.stderr
    assert words in one_error_line(r)
    assert state() == before


@pytest.mark.parametrize("args, code, words", [
    ([CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2026-01-25"], 6,
     f"delegation 1 already lets {NOBODY} act for {CHAIR} from 2026-01-20 until 2026-01-25; nothing was added"),
    ([CHAIR, "--to", NOBODY, "--from", "2026-01-25", "--until", "2026-01-28"], 6,
     f"{NOBODY} already acts for {CHAIR} from 2026-01-20 until 2026-01-25 (delegation 1); one acting official"),
    ([CHAIR, "--to", SECR, "--from", "2026-01-10", "--until", "2026-01-20"], 6,
     f"{NOBODY} already acts for {CHAIR} from 2026-01-20 until 2026-01-25 (delegation 1)"),
    ([NOBODY, "--to", CHAIR, "--from", "2026-01-22", "--until", "2026-01-22"], 6,
     f"{NOBODY} acts for {CHAIR} from 2026-01-20 until 2026-01-25 (delegation 1); two people cannot act for "
     "each other"),
])
def test_a_clashing_delegation_is_refused_with_one_line(cli, directory, args, code, words):
    delegate_refused(cli, args, code, words, lambda: (count("delegation"), directory_version()))


@pytest.mark.parametrize("args, code, words", [
    (["revoke", "1", "--until", "2026-02-01"], 2, "revoke only shortens it"),
    (["revoke", "1", "--until", "2026-01-19"], 2, "to remove it, leave out --until"),
    (["revoke", "1", "--until", "2026-02-30"], 2, "not a valid --until date"),
    (["revoke", "7"], 3, "unknown delegation '7'"),
])
def test_a_bad_revoke_is_refused_and_changes_nothing(cli, directory, args, code, words):
    delegate_refused(cli, args, code, words,
                     lambda: (scalar("SELECT ends FROM delegation WHERE id = 1"), directory_version()))


def test_a_revoked_delegation_ends_the_rights_and_history_keeps_both_names(cli, doc):
    for event, actor, at in (("submit", COORD, "2026-01-15T10:00+07:00"), ("synchronize", SECR, "2026-01-16T10:00+07:00")):
        assert cli("advance", KEY, event, "--as", actor, "--at", at).exit_code == 0
    assert cli("delegate", CHAIR, "--to", NOBODY, "--from", "2026-01-20", "--until", "2026-01-31").exit_code == 0
    r = cli("advance", KEY, "approve", "--as", NOBODY, "--at", "2026-01-21T10:00+07:00")
    assert r.exit_code == 0, r.stderr
    assert cli("delegate", "revoke", "1").exit_code == 0
    r = cli("advance", KEY, "sign", "--as", NOBODY, "--at", "2026-01-28T10:00+07:00")
    assert r.exit_code == 5
    r = cli("history", KEY, "--json")
    assert r.exit_code == 0
    last = json.loads(r.stdout)[-1]
    assert (last["event"], last["actor"], last["acting_for"]) == ("approve", NOBODY, CHAIR)
    assert f"acting for {CHAIR}" in cli("history", KEY).stdout
