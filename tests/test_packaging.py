"""ikuflow installs like any package (issue 14): the wheel and the sdist carry the default
workflow, the calendar file and every e-mail template, and a wheel installed into a fresh
virtualenv runs ``init``, ``workflow show``, ``demo`` and ``workflow export`` in an empty folder.

Nothing is downloaded: the sdist and the wheel are built with ``python -m build --no-isolation``
(the wheel from the sdist, as pip does with an sdist), the wheel is installed with ``--no-index
--no-deps``, and the fresh virtualenv borrows this one's site-packages for the dependencies
through a ``.pth`` file (whose own ``.pth`` files, the editable ikuflow's among them, are not
processed, so only the installed wheel provides ``ikuflow``).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.no_database

DATA = ("workflows", "notifications")
STATES = ("draft", "division_review", "synchronized", "chair_approved", "signed")


def repo_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> content), caches left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 600)
    return subprocess.run(args, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from the repository (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    r = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
    assert r.returncode == 0, f"building failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    wheels, sdists = list(out.glob("ikuflow-*.whl")), list(out.glob("ikuflow-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def venv(dists, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed and this venv's packages as dependencies."""
    v = tmp_path_factory.mktemp("venv")
    r = _run([sys.executable, "-m", "venv", "--without-pip", str(v)])
    assert r.returncode == 0, r.stderr
    py = v / "bin" / "python"
    # pip runs under the fresh interpreter (--python), so it sees only the fresh environment
    r = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
              "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
              str(dists["wheel"])])
    assert r.returncode == 0, r.stdout + r.stderr
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    ours = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    (Path(purelib.stdout.strip()) / "_ikuflow_test_deps.pth").write_text(
        "".join(f"{p}\n" for p in ours if Path(p).is_dir()))
    return v


class Office:
    """An empty working folder where the installed ``ikuflow`` runs with no IKUFLOW_* variable
    (nor PYTHONPATH) in its environment."""

    def __init__(self, venv: Path, folder: Path) -> None:
        self.venv, self.folder = venv, folder

    def __repr__(self) -> str:  # failure messages show the folder, never the environment
        return f"Office({self.folder})"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """``ikuflow ARGS`` of the fresh virtualenv, in the folder."""
        return self._run(str(self.venv / "bin" / "ikuflow"), *args)

    def python(self, code: str) -> subprocess.CompletedProcess:
        """``python -c CODE`` of the fresh virtualenv, in the folder."""
        return self._run(str(self.venv / "bin" / "python"), "-c", code)

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("IKUFLOW_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        return _run(list(argv), cwd=self.folder, env=env, timeout=300)


@pytest.fixture
def office(venv, tmp_path) -> Office:
    """An empty folder to run the installed ikuflow in."""
    folder = tmp_path / "office"
    folder.mkdir()
    return Office(venv, folder)


# --- what the distributions carry ---------------------------------------------------------------
def test_the_wheel_carries_every_default_file(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = set(z.namelist())
        for name in DATA:
            expected = repo_files(ROOT / name)
            prefix = f"ikuflow/_defaults/{name}/"
            packed = {n[len(prefix):] for n in names if n.startswith(prefix) and not n.endswith("/")}
            assert packed == set(expected), (
                f"{name}/ in the wheel: missing {sorted(set(expected) - packed)}, "
                f"extra {sorted(packed - set(expected))}")
            for rel, content in expected.items():
                assert z.read(prefix + rel) == content, f"{name}/{rel} differs in the wheel"
    assert {"workflows/iku.yaml", "workflows/calendar.yaml"} <= {
        f"workflows/{n}" for n in repo_files(ROOT / "workflows")}


def test_the_wheel_carries_every_module_and_package_file(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = set(z.namelist())
    pkg = ROOT / "ikuflow"
    wanted = {f"ikuflow/{rel}" for rel in repo_files(pkg)
              if rel.endswith(".py") or rel.startswith("templates/") or rel.endswith(".mako")}
    missing = sorted(wanted - names)
    assert not missing, (f"the wheel lacks {missing}; list a new subpackage in [tool.setuptools] "
                         "packages (or its data in package-data) in pyproject.toml")


def test_the_sdist_carries_every_default_file(dists):
    with tarfile.open(dists["sdist"]) as t:
        names = {m.name for m in t.getmembers() if m.isfile()}
        top = dists["sdist"].name[:-len(".tar.gz")]
        for name in DATA:
            expected = repo_files(ROOT / name)
            prefix = f"{top}/{name}/"
            packed = {n[len(prefix):] for n in names if n.startswith(prefix)}
            assert packed == set(expected), (
                f"{name}/ in the sdist: missing {sorted(set(expected) - packed)}, "
                f"extra {sorted(packed - set(expected))}")
            for rel, content in expected.items():
                f = t.extractfile(prefix + rel)
                assert f is not None and f.read() == content, f"{name}/{rel} differs in the sdist"


# --- a wheel installed into a fresh virtualenv, run in an empty folder ---------------------------
def test_the_installed_package_is_the_wheel_not_the_clone(venv, office):
    r = office.python("import ikuflow, ikuflow.paths as p; print(ikuflow.__file__); "
                      "print(p.shipped_dir('workflows')); print(p.shipped_dir('notifications'))")
    assert r.returncode == 0, r.stderr
    module, workflows, notifications = (Path(line) for line in r.stdout.splitlines())
    assert venv.resolve() in module.resolve().parents, module
    assert ROOT.resolve() not in module.resolve().parents
    for shipped in (workflows, notifications):
        assert venv.resolve() in shipped.resolve().parents and shipped.parent.name == "_defaults"


def test_init_and_workflow_show_in_an_empty_folder(office):
    r = office.run("init")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "iku v1" in r.stdout and (office.folder / "ikuflow.db").is_file()
    r = office.run("workflow", "show", "iku")
    assert r.returncode == 0, r.stdout + r.stderr
    for state in STATES:
        assert state in r.stdout, f"'{state}' not in: {r.stdout}"
    r = office.run("workflow", "check")
    assert r.returncode == 0 and "all valid" in r.stdout, r.stdout + r.stderr


def test_demo_in_an_empty_folder(office):
    r = office.run("demo")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "from draft to signed" in r.stdout and "signed (Ditandatangani / Signed) - final" in r.stdout
    assert "The SMTP sink received" in r.stdout  # the e-mails rendered from the packaged templates
    assert list((office.folder / "demo" / "mail").glob("*.eml"))


def test_workflow_export_writes_the_defaults_and_refuses_to_overwrite(office):
    r = office.run("workflow", "export", "mine")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mine/workflows: 2 file(s)" in r.stdout and "mine/notifications" in r.stdout
    mine = office.folder / "mine"
    for name in DATA:
        assert repo_files(mine / name) == repo_files(ROOT / name), name

    (mine / "workflows" / "iku.yaml").write_text("# the office's own\n")
    r = office.run("workflow", "export", "mine")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "already exist" in r.stderr and "--force" in r.stderr, r.stderr
    assert (mine / "workflows" / "iku.yaml").read_text() == "# the office's own\n"

    r = office.run("workflow", "export", "mine", "--force")
    assert r.returncode == 0 and "overwritten" in r.stdout, r.stdout + r.stderr
    assert repo_files(mine / "workflows") == repo_files(ROOT / "workflows")


def test_exported_folders_in_the_working_directory_override_the_packaged_ones(office):
    assert office.run("workflow", "export", ".").returncode == 0
    iku = office.folder / "workflows" / "iku.yaml"
    iku.write_text(iku.read_text(encoding="utf-8").replace("name: iku", "name: iku_kantor", 1),
                   encoding="utf-8")
    r = office.run("workflow", "show", "iku_kantor")
    assert r.returncode == 0 and "workflow iku_kantor" in r.stdout, r.stdout + r.stderr


# --- export's refusals, in-process (no build needed) ---------------------------------------------
def test_export_to_a_file_is_one_line_and_exit_1(cli, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    r = cli("workflow", "export", str(target))
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: {target} is a file, not a folder; give a folder "
                                             "to export to"]


def test_export_into_the_shipped_folders_themselves_is_refused(cli):
    r = cli("workflow", "export", str(ROOT), "--force")  # this clone's folders are the shipped ones
    assert r.exit_code == 1 and r.stdout == ""
    assert "is the workflows folder shipped with ikuflow" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_export_writes_nothing_when_one_file_exists(cli, tmp_path):
    (tmp_path / "notifications" / "en").mkdir(parents=True)
    (tmp_path / "notifications" / "en" / "sign.txt").write_text("ours")
    r = cli("workflow", "export", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.strip() == (f"error: {tmp_path / 'notifications' / 'en' / 'sign.txt'} already "
                                "exists; pass --force to overwrite, or export to an empty folder")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) \
        == ["notifications/en/sign.txt"]


def test_the_docs_show_installing_without_a_clone_and_export():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Install without a clone" in readme and "pipx install" in readme
    for doc in ("README.md", "docs/guide-en.md", "docs/guide-id.md", "docs/operator.md"):
        assert "ikuflow workflow export" in (ROOT / doc).read_text(encoding="utf-8"), doc
