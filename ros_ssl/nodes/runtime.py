"""Starting and stopping nodes: one node per process, several processes side by side (``ros-ssl run``).

Every node class takes ``**node_kwargs`` for rclpy's Node and has ``close()``, which must run even
when the process is interrupted: it is what leaves a bag complete after SIGINT or SIGTERM.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ros_ssl.errors import MessageError, RosSslError
from ros_ssl.lifetime import die_with_parent

if TYPE_CHECKING:
    from rclpy.node import Node

# Set by run_processes for its children: the pid whose death (even by SIGKILL) must stop the node.
OWNER_ENV = "ROS_SSL_OWNER_PID"


def msg_class(msgtype: str) -> Any:
    """The rclpy class of ``pkg/msg/Type``; MessageError if its package is not installed."""
    pkg, _, name = msgtype.partition("/msg/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise MessageError(f"message type {msgtype} is not importable here (package {pkg} missing?)") from err


def main_for(factory: Callable[..., Node], args: Sequence[str] | None = None) -> None:
    """Console-script body: run one node until Ctrl-C or SIGTERM, then close it.

    The signals only set a flag, so the context stays valid while the node's ``close()`` runs (a
    recorder still logs, a controller still sends its last stop command). A configuration error prints
    one line and exits with status 2, like the ``ros-ssl`` CLI. Started by ``run_processes``, the node
    gets SIGTERM when that parent dies, however it dies.
    """
    owner = os.environ.pop(OWNER_ENV, "")
    if owner.isdigit():
        die_with_parent(int(owner), signal.SIGTERM)
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with rclpy.init(args=list(args) if args is not None else sys.argv,
                        signal_handler_options=SignalHandlerOptions.NO):
            node = factory()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                while rclpy.ok() and not stop.is_set():
                    executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                pass
            finally:
                executor.shutdown()
                try:
                    node.close()  # type: ignore[attr-defined]
                finally:
                    node.destroy_node()
    except RosSslError as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        sys.exit(2)


def run_processes(commands: Sequence[Sequence[str]], duration_s: float = 0.0, grace_s: float = 30.0) -> int:
    """Run node processes side by side, like ``ros2 launch``, until Ctrl-C, SIGTERM or ``duration_s`` (> 0).

    Every process then gets SIGINT (and SIGKILL after ``grace_s``). When one exits early the others
    are stopped too. If this process dies without that (SIGKILL), each child gets SIGTERM from the
    kernel: ``main_for`` asks for it when ``OWNER_ENV`` names its parent. Returns the first non-zero exit
    status, else 0.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = [start_process(cmd) for cmd in commands]
        end = time.monotonic() + duration_s if duration_s > 0 else float("inf")
        while not stop.wait(0.1) and time.monotonic() < end and all(p.poll() is None for p in procs):
            pass
    finally:
        stop_processes(procs, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return next((p.returncode for p in procs if p.returncode), 0)


def start_process(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start one node process that gets SIGTERM when this process dies (see ``main_for``)."""
    return subprocess.Popen(list(command), env={**os.environ, OWNER_ENV: str(os.getpid())})


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], grace_s: float = 30.0) -> None:
    """SIGINT to every process still running, then SIGKILL to those still there after ``grace_s``."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class NodeGroup:
    """Node processes that run beside other work (``ros-ssl run sim-loop``): a node that dies is started
    again by ``check()`` and counted; ``stop()`` ends them all as ``run_processes`` does."""

    def __init__(self, commands: dict[str, Sequence[str]]) -> None:
        self.commands = commands
        self.procs = {name: start_process(cmd) for name, cmd in commands.items()}
        self._restarts = dict.fromkeys(commands, 0)

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                self._restarts[name] += 1
                self.procs[name] = start_process(self.commands[name])

    def restarts(self, node: str) -> int:
        return self._restarts.get(node, 0)

    def restart_with(self, commands: dict[str, Sequence[str]]) -> None:
        """Stop these nodes (in order, each fully) and start them again with new commands; not counted
        as restarts."""
        for name in commands:
            stop_processes([self.procs[name]])
        for name, cmd in commands.items():
            self.commands[name] = cmd
            self.procs[name] = start_process(cmd)

    def stop(self) -> None:
        stop_processes(list(self.procs.values()))
