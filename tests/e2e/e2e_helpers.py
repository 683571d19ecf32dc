"""Constants and types shared by the end-to-end tests and their fixtures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ADMIN_EMAIL = "ada@lab.org"
ADMIN_PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("NANOBRIDGE_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Server:
    """A running nanobridge server."""

    url: str
    home: Path
    log: Path
