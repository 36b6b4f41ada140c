"""Shared fixtures: a fresh SQLite database per test with a small real directory, the CLI
runner, and a controlled clock (every write takes an explicit ``at``)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SIGNING = date(2026, 1, 28)

COORD = "sri@pacitan.example.id"          # coordinator pacitan/sdmo
COORD_HUKUM = "dewi@pacitan.example.id"   # coordinator pacitan/hukum
SECR = "budi@pacitan.example.id"          # secretariat pacitan
CHAIR = "ahmad@pacitan.example.id"        # chair pacitan
OTHER_CHAIR = "rudi@badung.example.id"    # chair of another office (badung, WITA)
NOBODY = "tanpa.peran@example.id"         # a person with no role
ADMIN = "admin@ri.example.id"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Every test gets its own database URL and no actor from the caller's shell."""
    monkeypatch.setenv("IKUFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'ikuflow.db'}")
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(WORKFLOWS))
    monkeypatch.delenv("IKUFLOW_USER", raising=False)
    monkeypatch.delenv("IKUFLOW_TZ", raising=False)
    monkeypatch.chdir(tmp_path)


def utc(text: str) -> datetime:
    from ikuflow.calendar import parse_at

    return parse_at(text)


def seed_directory() -> None:
    """Offices in two time zones and one person per role."""
    from ikuflow import admin

    admin.init()
    admin.add_office("ri", "Bawaslu Republik Indonesia")
    admin.add_office("jawa-timur", "Bawaslu Provinsi Jawa Timur", parent="ri", level="province")
    admin.add_office("pacitan", "Bawaslu Kabupaten Pacitan", parent="jawa-timur")
    admin.add_office("bali", "Bawaslu Provinsi Bali", "Asia/Makassar", parent="ri", level="province")
    admin.add_office("badung", "Bawaslu Kabupaten Badung", "Asia/Makassar", parent="bali")
    admin.add_person(COORD, "Sri Wahyuni", "coordinator", "pacitan", "sdmo")
    admin.add_person(COORD_HUKUM, "Dewi Lestari", "coordinator", "pacitan", "hukum")
    admin.add_person(SECR, "Budi Santoso", "secretariat", "pacitan")
    admin.add_person(CHAIR, "Ahmad Fauzi", "chair", "pacitan")
    admin.add_person(OTHER_CHAIR, "Rudi Hartono", "chair", "badung")
    admin.add_person(ADMIN, "Admin RI", "admin", "ri")
    from ikuflow.store.db import connect

    con = connect()
    con.execute("INSERT INTO person (email, name) VALUES (?, ?)", (NOBODY, "Tanpa Peran"))
    con.close()


@pytest.fixture
def directory():
    seed_directory()


@pytest.fixture
def svc(directory):
    from ikuflow.service import Service

    s = Service()
    yield s
    s.close()


@pytest.fixture
def doc(svc):
    """pacitan-sdmo-2026 in draft, signing on 2026-01-28."""
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    return "pacitan-sdmo-2026"


class Cli:
    """The Typer app in-process (fast), with stdout and stderr apart."""

    def __call__(self, *args: str, env: dict | None = None):
        from typer.testing import CliRunner

        from ikuflow.cli import app

        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def cli():
    return Cli()


def run_ikuflow(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real console script in a subprocess."""
    exe = Path(sys.executable).with_name("ikuflow")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
