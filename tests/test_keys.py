"""The secret key: init generates it owner-only beside an SQLite database and says where;
IKUFLOW_SECRET_KEY overrides it; a short key or one others can read is refused (exit 2)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import run_ikuflow

pytestmark = pytest.mark.no_database


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.delenv("IKUFLOW_SECRET_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'office' / 'ikuflow.db'}"
    (tmp_path / "office").mkdir()
    monkeypatch.setenv("IKUFLOW_DATABASE_URL", url)
    return tmp_path / "office" / "ikuflow.db.key"


def test_init_makes_an_owner_only_key_beside_the_database_once_and_says_where(fresh):
    first = run_ikuflow("init")
    assert first.returncode == 0, first.stderr
    assert f"secret key: generated {fresh}" in first.stdout and "owner-only" in first.stdout
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    key = fresh.read_text().strip()
    assert len(key) >= 32
    again = run_ikuflow("init")
    assert again.returncode == 0 and f"secret key: {fresh}" in again.stdout and "generated" not in again.stdout
    assert fresh.read_text().strip() == key  # never replaced: links and sessions stay valid


def test_the_web_refuses_a_key_others_can_read_and_a_short_one(fresh):
    from ikuflow.errors import UsageError
    from ikuflow.store.keys import secret_key

    assert run_ikuflow("init").returncode == 0
    assert secret_key() == fresh.read_text().strip().encode()
    os.chmod(fresh, 0o640)
    with pytest.raises(UsageError, match="readable by others.*chmod 600"):
        secret_key()
    p = run_ikuflow("web", "--port", "1")
    assert p.returncode == 2 and "chmod 600" in p.stderr and "Traceback" not in p.stderr
    os.chmod(fresh, 0o600)
    p = run_ikuflow("web", "--port", "1", env={"IKUFLOW_SECRET_KEY": "short"})
    assert p.returncode == 2 and "at least 32" in p.stderr
    assert secret_key() == fresh.read_text().strip().encode()


def test_without_a_key_the_web_says_how_to_get_one(fresh, monkeypatch):
    assert run_ikuflow("init").returncode == 0
    fresh.unlink()
    p = run_ikuflow("web", "--port", "1")
    assert p.returncode == 2 and "ikuflow init" in p.stderr and "IKUFLOW_SECRET_KEY" in p.stderr
    monkeypatch.setenv("IKUFLOW_SECRET_KEY", "k" * 40)
    from ikuflow.store.keys import secret_key

    assert secret_key() == b"k" * 40
    assert not Path(fresh).exists()
