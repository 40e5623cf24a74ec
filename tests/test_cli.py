"""The command line: every stage is reachable, documented, and cheap to start (no torch, rclpy, pybullet)."""

import subprocess
import sys



def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ros_ssl", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_stage_and_each_stage_documents_its_options():
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    from ros_ssl.cli.main import _register, app

    _register()

    names = [c.name for c in app.registered_commands]
    assert "inspect" in names
    for name in names:
        assert name in out.stdout
        sub = _run(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage: " in sub.stdout and "--help" in sub.stdout


def test_cli_start_up_imports_no_heavy_layer():
    code = ("import sys; from ros_ssl.cli.main import _register; _register(); "
            "print(sorted(m for m in ('torch', 'rclpy', 'pybullet', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version():
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.strip()


def test_robot_side_never_imports_torch():
    """Dependency rule: bag I/O, labeler, dataset, edge runtime and nodes run on a robot without torch."""
    mods = ["ros_ssl.bag.streams", "ros_ssl.label.pipeline", "ros_ssl.data", "ros_ssl.edge.runtime",
            "ros_ssl.nodes.recorder", "ros_ssl.nodes.detector", "ros_ssl.nodes.controller", "ros_ssl.nodes.simulator"]
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {mods!r}]; "
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
