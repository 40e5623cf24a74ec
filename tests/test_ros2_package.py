"""ros_ssl as a ROS 2 package, both ways the README sets it up, with the real ``ros2`` tools:

- pip into the venv (``.ci/dev``): ``ros2 pkg`` / ``ros2 run`` find it through the ament index pip installs
  into the venv (its .pth puts the venv on AMENT_PREFIX_PATH), with nothing of the venv on PATH;
- ``colcon build`` of a workspace holding this repo, then ``source install/setup.bash``: ``ros2 pkg`` finds
  the workspace's copy, and ``ros2 launch ros_ssl sim.launch.py`` records a complete bag and stops cleanly.

colcon-common-extensions is installed once into .venv/colcon (about 15 s from the package index) and run with
the venv's Python, so the nodes colcon installs run with rclpy and the project's dependencies.
"""

from __future__ import annotations

import ast
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from launchtools import (
    FINISHED,
    NODES,
    PYTHON,
    ROOT,
    VENV,
    assert_bag_complete,
    copy_repo,
    plain_env,
    ros2_tools,
    session,
    small_profile,
)
from projecttools import project

BASE_DOMAIN = 210  # this file uses domains 210..214
COLCON = VENV / "colcon"  # colcon-common-extensions, installed with pip --target (git-ignored with .venv/)


def run(cmd: list[str | Path], env: dict[str, str], cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_package_xml_version_is_the_pyproject_version() -> None:
    xml = ET.parse(ROOT / "package.xml").getroot()
    meta = project()
    assert xml.findtext("name") == meta["name"]
    assert xml.findtext("version") == meta["version"]


def test_setup_py_wraps_every_node_script() -> None:
    """setup.py writes lib/ros_ssl/<node> (what ros2 run and launch start) for each node console script."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    (wrapped,) = [ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["NODES"]]
    scripts = project()["scripts"]
    assert sorted(wrapped) == sorted(s for s in scripts if s.startswith("ros-ssl-")) == list(NODES)


@pytest.fixture(scope="session")
def ros2() -> Path:
    return ros2_tools()


@pytest.mark.ros
@pytest.mark.slow
def test_ros2_pkg_finds_the_nodes_in_the_venv(ros2: Path) -> None:
    env = plain_env(BASE_DOMAIN)
    listed = run([ros2, "pkg", "executables", "ros_ssl"], env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[:-1] == [f"ros_ssl {n}" for n in NODES]
    prefix = run([ros2, "pkg", "prefix", "ros_ssl"], env)
    assert prefix.stdout.strip() == str(VENV), prefix.stderr


@pytest.mark.ros
@pytest.mark.slow
def test_ros2_run_with_a_bad_parameter_exits_non_zero(ros2: Path, tmp_path: Path) -> None:
    out = run([ros2, "run", "ros_ssl", "ros-ssl-recorder", "--ros-args", "-p", f"out:={tmp_path / 'b'}",
               "-p", "flush_interval:=0.0"], plain_env(BASE_DOMAIN + 1), timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "error: node recorder: parameter flush_interval" in out.stderr
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="session")
def colcon() -> list[str | Path]:
    """The command that runs colcon with the venv's Python (installing colcon once into .venv/colcon)."""
    env = {**plain_env(), "PYTHONPATH": str(COLCON)}
    check = [PYTHON, "-c", "import colcon_core, colcon_ros, colcon_python_setup_py, colcon_bash"]
    if run(check, env).returncode != 0:
        done = run([PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade",
                    "--target", COLCON, "colcon-common-extensions"], plain_env(), timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return ["env", f"PYTHONPATH={COLCON}", PYTHON, "-m", "colcon"]


@pytest.mark.ros
@pytest.mark.slow
def test_colcon_workspace_builds_and_launches(ros2: Path, colcon: list[str | Path], tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    copy_repo(ws / "src" / "ros_ssl")
    env = {**plain_env(BASE_DOMAIN + 2), "COLCON_HOME": str(tmp_path / "colcon_home")}
    built = run([*colcon, "build", "--event-handlers", "console_direct-"], env, cwd=ws, timeout=300)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert "Summary: 1 package finished" in built.stdout + built.stderr

    def sourced(command: str) -> list[str | Path]:
        return ["bash", "-c", f'source "{ws}/install/setup.bash" && {command}']

    install = ws / "install" / "ros_ssl"
    found = run(sourced(f'"{ros2}" pkg prefix ros_ssl && "{ros2}" pkg executables ros_ssl && '
                        f'"{PYTHON}" -c "import ros_ssl; print(ros_ssl.__file__)"'), env, cwd=tmp_path)
    assert found.returncode == 0, found.stdout + found.stderr
    prefix, *executables, module = found.stdout.split("\n")[:-1]
    assert prefix == str(install)  # the workspace, in front of the venv's own copy
    assert executables == [f"ros_ssl {n}" for n in NODES]
    assert module.startswith(str(install))

    profile, bag = small_profile(tmp_path / "small.yaml"), tmp_path / "bag"
    cmd = sourced(f'exec "{ros2}" launch ros_ssl sim.launch.py profile:={profile} out:={bag} seed:=3')
    with session(cmd, env, tmp_path / "launch.log") as launched:
        launched.wait_for(r"\[recorder\]: .* written [1-9]")
        code = launched.interrupt()
        log = launched.text()
    assert code == 0 and log.count(FINISHED) == 2, log[-4000:]
    assert_bag_complete(bag, log, profile)
