"""The models folder: immutable packages ``MODELS/<id>/``, an atomic ``current`` pointer, a history.

Layout (the contract the detector node reads)::

    MODELS/<id>/          a model package (ros-ssl export), never changed once it has its name
    MODELS/.tmp-<id>/     a package being copied in (names starting with '.' are never read)
    MODELS/current        symlink to the bare name <id> (or a file holding "<id>\\n" where a sync
                          cannot carry symlinks); replaced by one os.replace
    MODELS/history.jsonl  one JSON line per publish or rollback (the learner's; the detector ignores it)

A package is published by copying it to a dot-name, fsyncing it and renaming it into place; only then
does ``current`` move. Rollback points ``current`` at the newest earlier package that still verifies
(checksums and model files), so a broken package dropped into the folder is never chosen.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ros_ssl.edge.package import METADATA, load_package
from ros_ssl.edge.swap import CURRENT, read_current
from ros_ssl.errors import ModelPackageError, RosSslError
from ros_ssl.fsync import copy_into_place, fsync_path

HISTORY = "history.jsonl"
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PublishError(RosSslError):
    """The models folder could not take a package; ``current`` is unchanged."""


def verify_package(path: Path) -> str:
    """The fp32 model file's SHA-256 if the package is whole (checksums, metadata, model file), else raise."""
    package = load_package(path)
    package.verify("fp32")
    return package.metadata.files["fp32"].sha256


class ModelsDir:
    """Reads and changes a models folder by the contract above."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def current(self) -> str | None:
        """The id ``current`` names (symlink target or pointer file), or None without one."""
        found = read_current(self.path)
        return found[0] if found else None

    def package(self, model_id: str) -> Path:
        return self.path / model_id

    def ids(self) -> list[str]:
        """Published package ids (directories with metadata.json), in name order."""
        if not self.path.is_dir():
            return []
        return sorted(d.name for d in self.path.iterdir()
                      if not d.name.startswith(".") and d.name != CURRENT and (d / METADATA).is_file())

    def new_id(self, stem: str) -> str:
        """``stem`` or ``stem.N``: a name no package (or dot-name in flight) ever had here."""
        taken = {d.name.lstrip(".").removeprefix("tmp-") for d in self.path.iterdir()} \
            if self.path.is_dir() else set()
        model_id, n = stem, 1
        while model_id in taken:
            model_id, n = f"{stem}.{n}", n + 1
        return model_id

    def publish(self, package: Path, model_id: str, record: dict[str, Any], attempts: int = 3,
                wait_s: float = 1.0) -> Path:
        """Copy ``package`` in as ``model_id``, then point ``current`` at it and log ``record``.

        An OSError (folder not writable, disk full) is retried ``attempts`` times ``wait_s`` apart, then
        raises PublishError; ``current`` moves only after the package is complete under its name.
        """
        if not MODEL_ID.fullmatch(model_id):
            raise PublishError(f"model id {model_id!r} is not a plain name ([A-Za-z0-9._-])")
        target = self.package(model_id)
        last: OSError | None = None
        for attempt in range(attempts):
            try:
                if not target.exists():
                    self._copy_in(package, model_id)
                self.set_current(model_id)
                self.log({"event": "publish", "model_id": model_id, **record})
                return target
            except OSError as err:
                last = err
                if attempt + 1 < attempts:
                    time.sleep(wait_s * (attempt + 1))
        raise PublishError(f"models folder {self.path} did not take {model_id} after {attempts} attempts "
                           f"({last}); current stays {self.current()}")

    def _copy_in(self, package: Path, model_id: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        copy_into_place(package, self.path / f".tmp-{model_id}", self.package(model_id))

    def set_current(self, model_id: str) -> None:
        """Point ``current`` at ``model_id`` in one atomic replace (a symlink; a pointer file if there
        already is one)."""
        link, tmp = self.path / CURRENT, self.path / ".current.tmp"
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        if link.is_file() and not link.is_symlink():
            tmp.write_text(model_id + "\n")
            fsync_path(tmp)
        else:
            os.symlink(model_id, tmp)
        os.replace(tmp, link)
        fsync_path(self.path)

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to history.jsonl (flushed and fsynced)."""
        with (self.path / HISTORY).open("a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def history(self) -> list[dict[str, Any]]:
        """history.jsonl's records; a line cut by a crash (the last one) is ignored."""
        file = self.path / HISTORY
        if not file.is_file():
            return []
        records = []
        for line in file.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def rollback(self, to: str | None = None, check: Callable[[Path], str] = verify_package) -> str:
        """Point ``current`` at ``to``, or at the newest package published before the current one that
        still verifies; returns its id. Packages that fail ``check`` are passed over."""
        now = self.current()
        if to is not None:
            candidates = [to]
        else:
            published = [r["model_id"] for r in self.history() if r.get("event") == "publish"]
            order = list(dict.fromkeys(reversed(published)))  # newest first, each id once
            start = order.index(now) + 1 if now in order else 0
            candidates = order[start:]
        problems = []
        for model_id in candidates:
            if not MODEL_ID.fullmatch(model_id) or model_id == now:
                continue
            try:
                check(self.package(model_id))
            except (RosSslError, OSError) as err:
                problems.append(f"{model_id}: {err}")
                continue
            self.set_current(model_id)
            self.log({"event": "rollback", "model_id": model_id, "from": now})
            return model_id
        why = "; ".join(problems) or "no earlier published package"
        raise ModelPackageError(f"nothing to roll back to in {self.path} (current {now}): {why}")
