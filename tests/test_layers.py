"""The layer rule of ``ros_ssl/__init__.py`` and the README, checked on the import statements themselves.

Every ``import`` / ``from ... import`` in every module under ros_ssl/ counts, including the ones inside
functions (a lazy import is still a dependency; it only moves the cost). ``importlib`` calls with
computed names are not seen: the CLI registers its own command modules that way, nothing else does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ros_ssl

ROOT = Path(ros_ssl.__file__).parent

# Sub-package (or top-level module) of ros_ssl -> layer. A new package must be placed here.
PACKAGE_LAYER = {
    "__init__": "core", "errors": "core", "lifetime": "core", "fsync": "core", "checksum": "core",
    "config": "core", "msgs": "core", "bag": "core", "label": "core", "data": "core", "sim": "core",
    "io": "core",
    "edge": "edge",
    "models": "learning", "train": "learning", "ssl": "learning", "export": "learning", "loop": "learning",
    "nodes": "nodes",
    "experiments": "experiments",
    "cli": "cli", "__main__": "cli",
}
# Layer -> the layers its modules may import. The numbering core < edge < learning < nodes <
# experiments < cli, with one exception: the nodes run on a robot, which never installs torch.
MAY_IMPORT = {
    "core": {"core"},
    "edge": {"core", "edge"},
    "learning": {"core", "edge", "learning"},
    "nodes": {"core", "edge", "nodes"},
    "experiments": {"core", "edge", "learning", "experiments"},
    "cli": {"core", "edge", "learning", "nodes", "experiments", "cli"},
}
# Third-party package -> the layers (or ros_ssl packages, or single modules) that may import it; "ros" is
# rclpy and every ROS 2 message or launch package. Ray is an optional extra: one module imports it, lazily.
THIRD_PARTY = {
    "torch": {"learning", "experiments", "cli"},
    "torchvision": {"learning", "experiments", "cli"},
    "onnx": {"learning", "experiments", "cli"},
    "onnxruntime": {"edge", "learning"},
    "ros": {"nodes"},
    "pybullet": {"sim"},
    "ray": {"ros_ssl.label.ray_executor"},
    "fsspec": {"io"},
}


def _third_party_key(top: str) -> str:
    ros_names = ("rclpy", "launch", "launch_ros", "ament_index_python")
    return "ros" if top in ros_names or top.endswith(("_msgs", "_interfaces")) else top


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted name of a module file under the package ``root``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """The ros_ssl sub-package (or top-level module) a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of everything a module of ``package`` imports (``from ros_ssl import x``:
    ros_ssl.x)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: one dot is the module's own package, each further dot one up
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base == "ros_ssl":  # a sub-package, or an attribute of the root such as __version__
                found += [(node.lineno, "ros_ssl" if a.name.startswith("__") else f"ros_ssl.{a.name}")
                          for a in node.names]
            else:
                found.append((node.lineno, base))
    return found


def violations(path: Path, module: str) -> list[str]:
    """Every import in ``path`` (the module ``module``) that its layer may not make."""
    package = _package(module)
    layer = PACKAGE_LAYER.get(package)
    if layer is None:
        return [f"{module}: package ros_ssl.{package} has no layer; add it to PACKAGE_LAYER and the README"]
    out = []
    own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for line, name in imported_modules(ast.parse(path.read_text(), str(path)), own_package):
        top = name.split(".")[0]
        where = f"{module}:{line} imports {name}"
        if top == "ros_ssl":
            target = PACKAGE_LAYER.get(_package(name))
            if target is None:
                out.append(f"{where}, which has no layer")
            elif target not in MAY_IMPORT[layer]:
                out.append(f"{where}: layer {layer} may not import layer {target}")
            continue
        allowed = THIRD_PARTY.get(_third_party_key(top))
        if allowed is not None and not allowed & {layer, package, module}:
            out.append(f"{where}: {top} is allowed only in {sorted(allowed) or 'no layer'}")
    return out


def test_every_module_imports_only_what_its_layer_may() -> None:
    modules = sorted(ROOT.rglob("*.py"))
    assert len(modules) > 50  # the walk really sees the package
    found = [v for path in modules for v in violations(path, module_name(path))]
    assert found == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("ros_ssl.bag.bad", "def load():\n    import torch\n", "torch is allowed only in"),
    ("ros_ssl.edge.bad", "from ros_ssl.export import run\n", "layer edge may not import layer learning"),
    ("ros_ssl.nodes.bad", "def f():\n    from ros_ssl.train.trainer import train\n",
     "layer nodes may not import layer learning"),
    ("ros_ssl.nodes.bad", "import torchvision.models\n", "torchvision is allowed only in"),
    ("ros_ssl.label.bad", "from ros_ssl import nodes\n", "layer core may not import layer nodes"),
    ("ros_ssl.train.bad", "from ..experiments import study\n",
     "layer learning may not import layer experiments"),
    ("ros_ssl.cli.bad", "import rclpy\n", "rclpy is allowed only in ['nodes']"),
    ("ros_ssl.sim.bad", "from sensor_msgs.msg import Image\n", "sensor_msgs is allowed only in ['nodes']"),
    ("ros_ssl.experiments.bad", "import ray\n", "ray is allowed only in ['ros_ssl.label.ray_executor']"),
    ("ros_ssl.label.executors", "def start():\n    import ray\n", "ray is allowed only in"),
    ("ros_ssl.data.remote", "import fsspec\n", "fsspec is allowed only in ['io']"),
    ("ros_ssl.newpkg.bad", "import numpy\n", "has no layer"),
])
def test_checker_flags_a_bad_module(tmp_path: Path, module: str, source: str, expected: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    found = violations(path, module)
    assert len(found) == 1 and expected in found[0], found


def test_checker_accepts_what_the_rule_allows(tmp_path: Path) -> None:
    path = tmp_path / "ok.py"
    path.write_text("import numpy\nfrom ros_ssl.bag import BagReader\nfrom ros_ssl.edge import EdgeModel\n"
                    "def f():\n    import torch\n    from ros_ssl.experiments.study import run_study\n")
    assert violations(path, "ros_ssl.cli.ok") == []
    assert [v.split(": ", 1)[1] for v in violations(path, "ros_ssl.export.ok")] == [
        "layer learning may not import layer experiments"]
    path.write_text("def start():\n    import ray\n")
    assert violations(path, "ros_ssl.label.ray_executor") == []
