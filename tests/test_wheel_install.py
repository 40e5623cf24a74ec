"""A wheel of the repo, installed (not editable) into a fresh venv, trains with ``--recipe quick`` from a
directory outside the repo, and every shipped recipe resolves from the installed package.

The temporary venv gets no copies of the heavy dependencies: a ``.pth`` file adds the project venv's
site-packages to its path. A folder added that way has its own ``.pth`` files ignored, so the project's
editable ``ros_ssl`` is not loaded; the test checks that ``ros_ssl`` really comes from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from launchtools import copy_repo

from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.synthetic import make_synthetic_dataset

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RECIPE_NAMES = sorted(p.stem for p in (ROOT / "training").glob("*.yaml"))
# Enough to finish in seconds: one epoch of two steps, no bootstrap.
OVERRIDES = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 16, "bootstrap": 0}


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", OMP_NUM_THREADS="1")
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this repo, seeing the project venv's other packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = copy_repo(tmp / "src")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-w", tmp / "dist", source], tmp)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("ros_ssl-*.whl")
    env = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", env], tmp)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                      wheel], tmp)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp)
    assert purelib.returncode == 0, purelib.stderr
    project_site = sysconfig.get_paths()["purelib"]
    (Path(purelib.stdout.strip()) / "project_venv.pth").write_text(project_site + "\n")
    return env


def test_ros_ssl_comes_from_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    out = _run([venv / "bin" / "python", "-c", "import ros_ssl, torch; print(ros_ssl.__file__)"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(venv), out.stdout


def test_every_shipped_recipe_resolves_from_the_installed_package(venv: Path, tmp_path: Path) -> None:
    code = ("import sys\n"
            "from ros_ssl.train.recipe import RECIPES, recipe_path\n"
            "print(sorted(p.name[:-5] for p in RECIPES.iterdir() if p.name.endswith('.yaml')))\n"
            "for name in sys.argv[1:]:\n"
            "    print(recipe_path(name))\n")
    out = _run([venv / "bin" / "python", "-c", code, *RECIPE_NAMES], tmp_path)
    assert out.returncode == 0, out.stderr
    listed, *paths = out.stdout.splitlines()
    assert listed == str(RECIPE_NAMES) and len(paths) == len(RECIPE_NAMES) >= 10
    for name, path in zip(RECIPE_NAMES, map(Path, paths), strict=True):
        assert path.is_relative_to(venv) and path.name == f"{name}.yaml", path
        assert path.read_text() == (ROOT / "training" / f"{name}.yaml").read_text(), name


def test_installed_wheel_trains_with_the_quick_recipe_outside_the_repo(venv: Path, tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path / "ds", recordings=6, frames=16, image_hw=(32, 40))
    run = tmp_path / "run"
    sets = [a for key in ("steps_per_epoch", "batch_size", "bootstrap")
            for a in ("--set", f"{key}={OVERRIDES[key]}")]
    done = _run([venv / "bin" / "ros-ssl", "train", "ds", "--out", "run", "--recipe", "quick",
                 "--epochs", "1", *sets, "--quiet"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (run / "checkpoints" / "best.pt").is_file() and (run / "metrics.csv").is_file()
    recipe = yaml.safe_load((run / "config.yaml").read_text())["recipe"]
    quick = yaml.safe_load((ROOT / "training" / "quick.yaml").read_text())
    assert {k: recipe[k] for k in quick} == {**quick, **{k: v for k, v in OVERRIDES.items() if k in quick}}
    assert recipe == load_recipe(ROOT / "training" / "quick.yaml", OVERRIDES).to_dict()


def test_installed_pretrain_resolves_its_recipe_before_it_needs_the_dataset(venv: Path,
                                                                            tmp_path: Path) -> None:
    done = _run([venv / "bin" / "ros-ssl", "pretrain", "no_such_dataset", "--out", "run", "--recipe",
                 "ssl_simclr", "--quiet"], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip()
    assert error.startswith("ros-ssl: error:") and "no_such_dataset" in error, error
    assert "recipe" not in error and "Traceback" not in error, error
