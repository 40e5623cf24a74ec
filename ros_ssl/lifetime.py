"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

A parent that dies by SIGKILL runs no cleanup, so its label workers and node processes would run on as
orphans. On Linux the kernel can signal a child when its parent exits (``prctl(PR_SET_PDEATHSIG)``);
the child asks for that itself, first thing, and exits at once if its owner is already gone (the
parent may have died before the request was made). Elsewhere this does nothing.

Example::

    ProcessPoolExecutor(initializer=die_with_parent, initargs=(os.getpid(),))
    subprocess.Popen(cmd, preexec_fn=partial(die_with_parent, os.getpid(), signal.SIGTERM))
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
LINUX = sys.platform.startswith("linux")


def die_with_parent(owner_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a child process: get ``sig`` when the parent exits; exit now if ``owner_pid`` is already gone.

    ``owner_pid`` is the process that started this one (directly, or through a fork server that exits
    with it). SIGTERM lets a node close its bag; SIGKILL suits workers with nothing to save.
    """
    if not LINUX:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")
    if not process_alive(owner_pid):
        os._exit(1)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its parent, counts as gone). Linux only."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]  # the name in parentheses may hold spaces
    return state not in ("Z", "X", "x")
