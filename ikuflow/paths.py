"""Where ikuflow finds its data folders (workflows/, notifications/), and exporting the defaults.

The repository's top-level ``workflows/`` and ``notifications/`` are the source of the defaults.
A wheel (or sdist) packs them as ``ikuflow/_defaults/workflows`` and ``ikuflow/_defaults/
notifications`` (see ``package-dir`` in pyproject.toml); an editable install from a clone has no
``_defaults`` and uses the repository's folders directly.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ikuflow.errors import IkuflowError

PACKAGE = Path(__file__).resolve().parent
PACKED = PACKAGE / "_defaults"  # in an installed wheel
CLONE = PACKAGE.parent  # in an editable install: the repository the package lives in
#: The data folders, each with the environment variable that overrides it.
FOLDERS = {"workflows": "IKUFLOW_WORKFLOWS", "notifications": "IKUFLOW_NOTIFICATIONS"}


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (workflows or notifications) shipped with ikuflow."""
    packed = PACKED / name
    if packed.is_dir():
        return packed
    if (CLONE / "pyproject.toml").is_file() and (CLONE / name).is_dir():
        return CLONE / name
    return packed  # a broken install: error messages name where the folder should be


def data_dir(env: str, name: str) -> Path:
    """``$env`` if set, else ``./name`` if it exists, else the folder shipped with ikuflow."""
    if os.environ.get(env):
        return Path(os.environ[env])
    local = Path(name)
    return local if local.is_dir() else shipped_dir(name)


def shipped_files(name: str) -> list[Path]:
    """Every file of the shipped folder ``name``, relative to it, sorted."""
    root = shipped_dir(name)
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.relative_to(root).parts)


@dataclass(frozen=True)
class Exported:
    """What :func:`export_defaults` wrote: every file, and those that replaced an existing one."""

    directory: Path
    written: list[Path]
    overwritten: list[Path]


def export_defaults(directory: Path, force: bool = False) -> Exported:
    """Copy the shipped workflows/ and notifications/ into ``directory`` (same layout).

    Nothing is written if a file would be replaced and ``force`` is false.
    Raises IkuflowError (exit 1) for an existing file, a folder that cannot be written, or the
    shipped folders themselves as the target.
    """
    plan: list[tuple[Path, Path]] = []
    for name in FOLDERS:
        source = shipped_dir(name)
        if not source.is_dir():
            raise IkuflowError(f"the {name} folder shipped with ikuflow is missing ({source}); "
                               "reinstall ikuflow")
        target = directory / name
        if target.resolve() == source.resolve():
            raise IkuflowError(f"{target} is the {name} folder shipped with ikuflow; export to "
                               "another folder")
        plan += [(source / rel, target / rel) for rel in shipped_files(name)]
    if directory.exists() and not directory.is_dir():
        raise IkuflowError(f"{directory} is a file, not a folder; give a folder to export to")
    existing = [dest for _, dest in plan if dest.exists() or dest.is_symlink()]
    if existing and not force:
        what = (f"{existing[0]} and {len(existing) - 1} more file(s) already exist" if len(existing) > 1
                else f"{existing[0]} already exists")
        raise IkuflowError(f"{what}; pass --force to overwrite, or export to an empty folder")
    for src, dest in plan:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_symlink():  # replace the link, never write through it
                dest.unlink()
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise IkuflowError(f"cannot write {exc.filename or dest}: {exc.strerror or exc}; "
                               "choose a folder you can write to") from exc
    return Exported(directory, [dest for _, dest in plan], existing)
