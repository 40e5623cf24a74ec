"""Labelling jobs as Ray tasks: the only module that imports ray (``pip install 'ros_ssl[cluster]'``).

Without an address the executor starts a private single-node cluster on the loopback interface (no
dashboard, no usage report) and shuts it down on exit, error or not; with one it joins that cluster
and only disconnects. A task whose worker process dies (killed, out of memory, node lost) is run again
up to ``max_retries`` times; a job that raises is not retried (a broken bag stays broken).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from ros_ssl.label.executors import Executor, ExecutorError, Finished, J, R, describe

MAX_RETRIES = 3


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ExecutorError at once if nothing listens at a HOST:PORT address (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ExecutorError(f"cannot reach the Ray cluster at {address} ({err.strerror or err})") from err


class RayExecutor(Executor):
    """Jobs on Ray, one CPU each; a cluster started here is stopped by the handle ``ray.init`` returned."""

    def __init__(self, address: str | None = None, cpus: int = 0, max_retries: int = MAX_RETRIES) -> None:
        self.address = address
        self.cpus = cpus or os.cpu_count() or 1
        self.max_retries = max_retries
        self._context: Any = None

    def __enter__(self) -> RayExecutor:
        try:
            import ray
        except ImportError as err:
            raise ExecutorError("--executor ray needs Ray: pip install 'ros_ssl[cluster]'") from err
        if ray.is_initialized():  # a caller's own session (a notebook): use it, leave it running
            return self
        try:
            if self.address is None:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                self._context = ray.init(address="local", num_cpus=self.cpus, include_dashboard=False,
                                         _node_ip_address="127.0.0.1", log_to_driver=False,
                                         logging_level=logging.WARNING)
            else:
                check_reachable(self.address)
                self._context = ray.init(address=self.address, log_to_driver=False,
                                         logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError, OSError) as err:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise ExecutorError(f"cannot start or reach {where} ({err})") from err
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.disconnect()  # shuts down the cluster this executor started; leaves a joined one running

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[Finished[J, R]]:
        import ray
        from ray.exceptions import RayError, RayTaskError

        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(fn)
        pending = {task.remote(job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayTaskError as err:  # the job raised: report its own error
                    yield Finished(job, None, describe(err.cause if err.cause is not None else err))
                except RayError as err:  # the worker died more than max_retries times, or the node was lost
                    yield Finished(job, None, f"{type(err).__name__}: {str(err).splitlines()[0]}")
                else:
                    yield Finished(job, result)
