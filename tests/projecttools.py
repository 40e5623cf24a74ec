"""The repo's ``pyproject.toml`` as tests read it: ``tomllib`` from Python 3.11, ``tomli`` on 3.10 (the
package supports 3.10; the test extra installs tomli there)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def project() -> dict[str, Any]:
    """The ``[project]`` table."""
    table: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return table
