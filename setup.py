"""ROS 2 (ament_python) install layout. All package metadata stays in pyproject.toml.

Adds the data files that make ros_ssl a ROS 2 package wherever it is installed: by pip (regular or
editable, into any prefix) or by ``colcon build`` (which runs ``setup.py install`` / ``develop``):

    share/ament_index/resource_index/packages/ros_ssl   ament index marker: ros2 pkg / launch / run find it
    share/ros_ssl/package.xml
    share/ros_ssl/launch/*.launch.py                    ros2 launch ros_ssl sim.launch.py
    share/ros_ssl/profiles/*.yaml                       the built-in robot profiles
    lib/ros_ssl/<node>                                  ros2 run ros_ssl <node>; Node(package="ros_ssl")

``lib/ros_ssl/<node>`` is a small shell script that execs the console script of the same name in
``<prefix>/bin`` (pip and colcon both put console scripts there), so a node runs with the interpreter
it was installed for. The install prefix (the venv, or colcon's install/ros_ssl) must be on
``AMENT_PREFIX_PATH``: colcon's setup scripts put it there; for a venv see README.
"""

import glob
import os
import stat
from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution

PACKAGE = "ros_ssl"
# The node console scripts of [project.scripts] in pyproject.toml that `ros2 run` should find.
NODES = ("ros-ssl-recorder", "ros-ssl-simulator", "ros-ssl-detector", "ros-ssl-controller")

# `colcon build --symlink-install` runs this file through a symlink in its build folder, beside
# symlinks to the packages and data files but not to pyproject.toml: point setuptools at the source.
_source = os.path.dirname(os.path.realpath(__file__))
_src_root = {} if os.path.samefile(_source, os.curdir) else {"src_root": _source}


class _Distribution(Distribution):
    # setuptools' editable_wheel installs data files only when the distribution answers has_data(),
    # which setuptools' Distribution does not define (it has has_data_files()), so `pip install -e .`
    # would silently drop data_files (pypa/setuptools#3399). Regular installs and colcon are
    # unaffected. An editable install copies them: re-install after changing a launch file.
    def has_data(self) -> bool:
        return bool(self.has_data_files())

    # colcon (colcon-python-setup-py 0.2.9) reads this object back with ast.literal_eval(repr(...)),
    # which fails on requires-python, a packaging SpecifierSet once pyproject.toml is applied. Keep the
    # SpecifierSet (setuptools still validates and writes it) but let it print as a plain string.
    def parse_config_files(self, *args, **kwargs):
        super().parse_config_files(*args, **kwargs)
        for obj in (self, self.metadata):
            spec = getattr(obj, "python_requires", None)
            if spec is not None and not isinstance(spec, str):
                printable = type("Specifier", (type(spec),), {"__repr__": lambda s: repr(str(s))})
                obj.python_requires = printable(str(spec))


def _node_wrappers() -> list[str]:
    """Write the lib/ros_ssl/<node> scripts into build/ (git-ignored); return their relative paths."""
    out = Path("build", "ament_lib", PACKAGE)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for exe in NODES:
        path = out / exe
        text = ("#!/bin/sh\n"
                f"# {PACKAGE}: runs the console script {exe} installed in <prefix>/bin.\n"
                f'exec "$(dirname "$0")/../../bin/{exe}" "$@"\n')
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        paths.append(str(path))
    return paths


setup(
    **_src_root,
    distclass=_Distribution,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob.glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/profiles", sorted(glob.glob(f"{PACKAGE}/config/profiles/*.yaml"))),
        (f"lib/{PACKAGE}", _node_wrappers()),
    ],
)
