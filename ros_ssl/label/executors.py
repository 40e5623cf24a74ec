"""Where labelling jobs run: in this process, in local worker processes, or on a Ray cluster.

Every executor maps one picklable function over jobs and yields each job's ``Finished`` as it ends, in
completion order, so the driver reports progress and per-job failures the same way for all of them.
Ray is imported only by ``ros_ssl.label.ray_executor``, and only when ``--executor ray`` asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Generic, TypeVar

from ros_ssl.errors import RosSslError
from ros_ssl.lifetime import die_with_parent

J = TypeVar("J")
R = TypeVar("R")


class ExecutorKind(str, Enum):
    LOCAL = "local"
    RAY = "ray"


class ExecutorError(RosSslError):
    """An executor cannot start: Ray missing, or its cluster unreachable."""


@dataclass(frozen=True)
class Finished(Generic[J, R]):
    """A job that ended: its result, or why it gave none (it raised, or its worker died for good)."""

    job: J
    result: R | None
    error: str = ""


def describe(err: BaseException) -> str:
    """One line for the report: our own errors as they are, anything else with its type."""
    return str(err) if isinstance(err, RosSslError) else f"{type(err).__name__}: {err}"


class Executor:
    """Runs jobs; used as a context manager around ``map`` (the Ray executor starts and stops there)."""

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[Finished[J, R]]:
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


class InProcess(Executor):
    """One job after the other in this process (one worker, one job, or data only this process sees)."""

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[Finished[J, R]]:
        for job in jobs:
            try:
                result = fn(job)
            except Exception as err:  # noqa: BLE001 - one failed job must not stop the others
                yield Finished(job, None, describe(err))
            else:
                yield Finished(job, result)


class LocalProcesses(Executor):
    """A pool of ``workers`` processes on this machine that die with this one."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[Finished[J, R]]:
        with ProcessPoolExecutor(max_workers=self.workers, initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(fn, job): job for job in jobs}
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except Exception as err:  # noqa: BLE001 - as above; includes a worker that died (BrokenProcessPool)
                    yield Finished(futures[fut], None, describe(err))
                else:
                    yield Finished(futures[fut], result)


def make_executor(kind: ExecutorKind, workers: int, jobs: int, address: str | None = None) -> Executor:
    """The executor for ``jobs`` jobs: ``workers`` local processes (0 = one per CPU, at most one per job),
    or Ray (``address`` of a running cluster, else a local one of ``workers`` CPUs, 0 = all)."""
    if kind is ExecutorKind.RAY:
        from ros_ssl.label.ray_executor import RayExecutor

        return RayExecutor(address, cpus=workers)
    if address is not None:
        raise ExecutorError("--address names a Ray cluster; use it with --executor ray")
    workers = workers or min(jobs, os.cpu_count() or 1)
    return InProcess() if workers <= 1 or jobs <= 1 else LocalProcesses(workers)
