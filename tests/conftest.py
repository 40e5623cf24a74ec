"""Shared test set-up: DDS stays on this machine; small bags are built in tmp_path with our own writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Must be set before rclpy is imported anywhere in the test session.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real recordings not found at {REALDATA} (../shared/realdata beside the repo)")
    return REALDATA
