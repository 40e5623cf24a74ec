"""Running the real ``ros2`` tools (``../shared/ros2-launch``) against ros_ssl as an installed ROS 2 package.

Shared by tests/test_launch_files.py (the venv way) and tests/test_ros2_package.py (the colcon way).
Every ``ros2 launch`` starts in a session of its own and the whole process group is killed at the end:
``launch`` can orphan a node it had started when a later one cannot be executed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml
from bagtools import decode_rosbag2

from ros_ssl.config import load_profile

ROOT = Path(__file__).resolve().parents[1]
SHARED_LAUNCH = ROOT.parent / "shared" / "ros2-launch"
VENV = Path(sys.prefix)  # the venv running the tests: the nodes and ros2 run from it
PYTHON = VENV / "bin" / "python"
ROS2 = VENV / "bin" / "ros2"
NODES = ("ros-ssl-controller", "ros-ssl-detector", "ros-ssl-recorder", "ros-ssl-simulator")
FINISHED = "process has finished cleanly"  # what launch logs for a node that exits 0


def _run(cmd: Sequence[str | Path], timeout: float = 300, cwd: Path | None = None,
         env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=cwd, env=env)


def _works(*code: str) -> bool:
    return _run([PYTHON, "-c", "; ".join(code)], timeout=60, env=plain_env()).returncode == 0


def plain_env(domain: int | None = None) -> dict[str, str]:
    """The test environment without the venv on PATH or AMENT_PREFIX_PATH: ros2 must find ros_ssl
    through the ament index (the venv's .pth appends the venv), not by searching PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AMENT_PREFIX_PATH", "PYTHONPATH", "VIRTUAL_ENV", "COLCON_PREFIX_PATH")}
    env.update(PATH="/usr/bin:/bin", PYTHONUNBUFFERED="1", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    if domain is not None:
        env["ROS_DOMAIN_ID"] = str(domain)
    return env


def _installed_launch_files_current() -> bool:
    share = VENV / "share" / "ros_ssl"
    copies = {ROOT / "package.xml": share / "package.xml",
              **{f: share / "launch" / f.name for f in (ROOT / "launch").glob("*.launch.py")}}
    return (all((VENV / "lib" / "ros_ssl" / n).is_file() for n in NODES)
            and all(dst.is_file() and dst.read_bytes() == src.read_bytes() for src, dst in copies.items()))


@functools.cache
def ros2_tools() -> Path:
    """``ros2`` of the test venv with the real launch tools, and ros_ssl's current files in its ament index.

    Installs ../shared/ros2-launch once (about 30 s, skipped when already there), and re-installs ros_ssl
    (editable, no dependencies, seconds) when the copies setup.py makes of package.xml and the launch
    files are missing or out of date, so the tests never run stale launch files.
    """
    if not (SHARED_LAUNCH / "install.sh").is_file():
        pytest.skip(f"real ROS 2 launch tools not found at {SHARED_LAUNCH} (../shared/ros2-launch)")
    assert sys.prefix != sys.base_prefix, "the launch tests install into the test venv: run them from .venv"
    if not (ROS2.is_file() and _works("import launch_ros.actions, ros2launch, ros2pkg, ros2run")):
        done = _run(["bash", SHARED_LAUNCH / "install.sh", VENV], timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    if not _installed_launch_files_current():
        done = _run([PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                     "--no-build-isolation", "-e", ROOT], timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    prefix = _run([PYTHON, "-c", "import os; print(os.environ.get('AMENT_PREFIX_PATH', ''))"],
                  env=plain_env())
    if str(VENV) not in prefix.stdout.strip().split(os.pathsep):
        pytest.fail(f"{VENV} is not on AMENT_PREFIX_PATH of its own Python: run .ci/dev once "
                    "(it writes the .pth that adds it)")
    return ROS2


def small_profile(path: Path) -> Path:
    """The sim profile with a small, slower camera: keeps the simulator cheap on a loaded machine."""
    data = load_profile("sim").to_dict()
    data["camera"].update(width=160, height=120, rate_hz=10.0)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_bag_complete(bag: Path, log: str, profile: Path) -> None:
    """The recorder's bag holds the profile's camera and proximity topics, and mcap-ros2-support decodes
    every message the recorder says (in its closing log line) it wrote, by the schemas stored in the bag."""
    closed = re.search(r"\[recorder\]: closed \S+: (.*)$", log, re.M)
    assert closed, log[-3000:]
    written = {t: int(n) for t, n in (item.rsplit(" ", 1) for item in closed.group(1).split(", "))}
    p = load_profile(profile)
    assert written[p.camera.topic] > 0 and all(written[t] > 0 for t in p.proximity_topics()), written
    assert decode_rosbag2(bag) == {t: n for t, n in written.items() if n}


def copy_repo(dest: Path) -> Path:
    """The repo's files (tracked, or new and not ignored) copied to ``dest``, symlinks kept as links."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("copying the repo into a workspace needs a git checkout of the repo")
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in sorted(set(filter(None, listed.stdout.split("\0")))):
        src, dst = ROOT / name, dest / name
        if not src.is_symlink() and not src.is_file():
            continue  # deleted in the working tree, or a submodule
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))  # ros_ssl/recipes -> ../training
        else:
            shutil.copy2(src, dst)
    return dest


class Session:
    """A command in a new session (its own process group) logging to ``log``."""

    def __init__(self, cmd: Sequence[str | Path], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([str(c) for c in cmd], env=dict(env), stdout=log.open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, *patterns: str, timeout: float = 60) -> None:
        """Until every regex in ``patterns`` matches the log; fails early if the command exits."""
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            missing = [p for p in patterns if not re.search(p, text, re.M)]
            if not missing:
                return
            if self.proc.poll() is not None or time.monotonic() > end:
                state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else f"{timeout} s"
                raise AssertionError(f"{missing} not in the log ({state}):\n{text[-4000:]}")
            time.sleep(0.2)

    def finish(self, timeout: float = 60) -> int:
        """The exit status, once the command and every process of its group are gone."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"did not exit within {timeout} s:\n{self.text()[-4000:]}") from None
        end = time.monotonic() + 5  # children that exited with it are reaped by init in a moment
        while self.group_alive():
            assert time.monotonic() < end, f"processes left behind after exit {code}:\n{self.text()[-3000:]}"
            time.sleep(0.1)
        return code

    def interrupt(self, group: bool = False, timeout: float = 60) -> int:
        """SIGINT, then :meth:`finish`. ``ros2 launch`` gets it alone and stops its nodes itself;
        ``group``: every process, as Ctrl-C in a terminal does (``ros2 run`` needs that)."""
        if group:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGINT)
        return self.finish(timeout)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """The whole process group, whatever state it is in."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextmanager
def session(cmd: Sequence[str | Path], env: Mapping[str, str], log: Path) -> Iterator[Session]:
    s = Session(cmd, env, log)
    try:
        yield s
    finally:
        s.kill()
