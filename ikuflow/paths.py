"""Where ikuflow finds its data folders (workflows/, notifications/)."""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent  # the repository the package was installed from


def data_dir(env: str, name: str) -> Path:
    """``$env`` if set, else ``./name`` if it exists, else the folder shipped with ikuflow."""
    if os.environ.get(env):
        return Path(os.environ[env])
    local = Path(name)
    return local if local.is_dir() else SHIPPED / name
