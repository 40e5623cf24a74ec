"""An MCAP file that is a valid, readable MCAP after every commit, even if the writer is SIGKILLed.

A plain MCAP writer only writes the footer at close, so a killed recorder leaves a file no reader
opens. Here the file is created at its full size (sparse) and always ends in a valid trailer::

    magic | header | records ... | PAD (private record over the unused space) | DataEnd | Footer | magic

Records are written *inside* the pad as chunks fill up (1 MiB), where readers do not look, except
the first 9 bytes (a record prefix) of what follows the last commit. A commit writes a new pad
prefix behind the new records, then those 9 bytes over the old pad's prefix: that last write is the
commit point; it never straddles a page, so a kill leaves either the old or the new file, both valid.
``close()`` writes the summary (chunk indexes, statistics) inside the pad, truncates the file after
it, and finally empties the pad: at each step indexed readers see a complete file.

After a crash the file is still full size and has no summary; readers scan it (rosbags and the
``mcap`` reader both do, skipping the pad as an unknown record as the MCAP spec requires).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ros_ssl.errors import BagError

MAGIC = b"\x89MCAP0\r\n"
PAD_OP = 0x80  # first of the opcodes MCAP reserves for private records
_PAGE = 4096
_PREFIX = 9  # opcode (1) + record length (8)
_IOV_MAX = 1024
_Buffer = bytes | bytearray | memoryview
CHUNK_BYTES = 1 << 20  # messages are grouped into chunks of about this size, each written when full
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


def _string(text: str) -> bytes:
    raw = text.encode()
    return _U32.pack(len(raw)) + raw


def _record(op: int, body: bytes) -> bytes:
    return bytes([op]) + _U64.pack(len(body)) + body


def _pad_prefix(length: int) -> bytes:
    return bytes([PAD_OP]) + _U64.pack(length)


def _footer(summary_start: int = 0, summary_offset_start: int = 0) -> bytes:
    """Footer record and closing magic (``summary_start`` 0: no summary, readers scan)."""
    return _record(0x02, _U64.pack(summary_start) + _U64.pack(summary_offset_start) + _U32.pack(0)) + MAGIC


_DATA_END = _record(0x0F, _U32.pack(0))  # data section CRC 0: not computed
_TRAILER = len(_DATA_END) + len(_footer())
_CHUNK_OVERHEAD = _PREFIX + 40  # chunk record fields around the message bytes
_INDEX_OVERHEAD = _PREFIX + 64  # chunk index record fields, without per-channel entries
_STATS_OVERHEAD = _PREFIX + 46  # statistics record fields, without per-channel counts


def _pwrite_all(fd: int, parts: Sequence[_Buffer], offset: int) -> None:
    """Write buffers back to back at ``offset`` without joining them (no copy), finishing short writes."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        n = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += n
        while n:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0], n = views[0][n:], 0


@dataclass
class _Chunk:
    """Messages not yet written to the file."""

    data: bytearray = field(default_factory=bytearray)
    start_ns: int = 2**63 - 1
    end_ns: int = 0
    index: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # channel -> (log_ns, offset)
    index_bytes: int = 0  # size of the message index records this chunk will need


class DurableMcapFile:
    """Write an MCAP (ros2 profile) of at most ``capacity`` bytes that survives SIGKILL after each commit.

    ``fits()`` tells the caller when to start a new file. Not thread safe: one writer thread owns it.
    """

    def __init__(self, path: str | Path, capacity: int, fsync: bool = True, library: str = "ros_ssl") -> None:
        self.path = Path(path)
        self.capacity = int(capacity)
        self.fsync = fsync
        self._schemas: dict[int, bytes] = {}
        self._channels: dict[int, bytes] = {}
        self._chunk_indexes: list[bytes] = []
        self._index_bytes = 0
        self._pending = bytearray()  # schema / channel records not yet written
        self._chunk = _Chunk()
        self.counts: dict[int, int] = {}  # channel -> messages added
        self.committed: dict[int, int] = {}  # channel -> messages committed
        self.start_ns = 2**63 - 1  # log time range of the committed messages
        self.end_ns = 0
        self._written = (2**63 - 1, 0)  # log time range of messages written since the last commit
        head = MAGIC + _record(0x01, _string("ros2") + _string(library))
        self._pos = len(head)  # where the pad record starts: the end of the committed records
        self._tail = self._pos  # end of the records written since the last commit
        self._held = b""  # their first 9 bytes, written only at commit
        if not self.fits(0):
            raise BagError(f"bag file capacity {self.capacity} bytes is too small for {self.path}")
        if self.path.exists():
            raise BagError(f"bag file {self.path} already exists; refusing to overwrite it")
        # Build the empty file under a temporary name, then link it into place: the final name never
        # shows a half-made file, and linking fails rather than replace a file that appeared meanwhile.
        tmp = self.path.with_name(self.path.name + ".new")
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(self._fd, self.capacity)
            os.pwrite(self._fd, head + self._pad_header(self._pos), 0)
            os.pwrite(self._fd, _DATA_END + _footer(), self.capacity - _TRAILER)
            self._sync()
            os.link(tmp, self.path)
        except FileExistsError as err:
            os.close(self._fd)
            raise BagError(f"bag file {self.path} already exists; refusing to overwrite it") from err
        finally:
            os.unlink(tmp)

    # -- building records ---------------------------------------------------------------------------
    def add_schema(self, schema_id: int, name: str, encoding: str, data: str) -> None:
        rec = _record(0x03, _U16.pack(schema_id) + _string(name) + _string(encoding) + _string(data))
        self._schemas[schema_id] = rec
        self._pending += rec

    def add_channel(self, channel_id: int, schema_id: int, topic: str, metadata: dict[str, str],
                    message_encoding: str = "cdr") -> None:
        meta = b"".join(_string(k) + _string(v) for k, v in metadata.items())
        body = (_U16.pack(channel_id) + _U16.pack(schema_id) + _string(topic) + _string(message_encoding)
                + _U32.pack(len(meta)) + meta)
        rec = _record(0x04, body)
        self._channels[channel_id] = rec
        self.counts[channel_id] = 0
        self.committed[channel_id] = 0
        self._pending += rec

    def add_message(self, channel_id: int, log_ns: int, data: bytes | memoryview,
                    publish_ns: int = 0) -> None:
        """Add one message; it becomes durable (and visible) at the next ``commit()``."""
        c = self._chunk
        entries = c.index.setdefault(channel_id, [])
        c.index_bytes += 16 + (0 if entries else _PREFIX + 6)
        entries.append((log_ns, len(c.data)))
        c.data += bytes([0x05]) + _U64.pack(22 + len(data)) + _U16.pack(channel_id) + _U32.pack(0)
        c.data += _U64.pack(log_ns) + _U64.pack(publish_ns or log_ns)
        c.data += data
        c.start_ns, c.end_ns = min(c.start_ns, log_ns), max(c.end_ns, log_ns)
        self.counts[channel_id] += 1
        if len(c.data) >= CHUNK_BYTES:
            self._write([self._pending, *self._close_chunk()])


    @property
    def buffered_bytes(self) -> int:
        """Bytes added since the last commit (written to the file or not yet)."""
        return self._tail - self._pos + len(self._pending) + len(self._chunk.data)

    def fits(self, message_bytes: int, record_bytes: int = 0) -> bool:
        """Whether one more message of ``message_bytes`` (plus new schema/channel records) still fits."""
        c = self._chunk
        chunk = _CHUNK_OVERHEAD + len(c.data) + c.index_bytes + 2 * _PREFIX  # + alignment filler + pad
        new = (31 + message_bytes + 16 + _PREFIX + 6 if message_bytes else 0) + record_bytes
        need = self._tail + len(self._pending) + chunk + new + self._summary_size_bound(record_bytes)
        return need <= self.capacity - _TRAILER

    # -- committing --------------------------------------------------------------------------------
    def commit(self) -> None:
        """Make everything added durable; the file on disk is a valid MCAP before and after."""
        self._write([self._pending, *self._close_chunk()])
        if self._tail == self._pos:
            return
        end, tail = self._tail, b""
        if end % _PAGE > _PAGE - _PREFIX:  # keep the next pad prefix inside one page: add an empty record
            tail, end = _pad_prefix(0), end + _PREFIX
        if end + _PREFIX + len(self._summary(0)) > self.capacity - _TRAILER:
            raise BagError(f"bag file {self.path} overflowed its {self.capacity} bytes; "
                           f"this is a bug in fits()")
        os.pwrite(self._fd, tail + self._pad_header(end), self._tail)  # inside the old pad: invisible
        self._sync()
        os.pwrite(self._fd, self._held, self._pos)  # the commit point (one page, atomic)
        self._sync()
        self._pos = self._tail = end
        self._held = b""
        self.committed = dict(self.counts)
        self.start_ns, self.end_ns = min(self.start_ns, self._written[0]), max(self.end_ns, self._written[1])
        self._written = (2**63 - 1, 0)

    def close(self) -> None:
        """Commit, then write the summary so readers need not scan. Idempotent."""
        if self._fd < 0:
            return
        try:
            self.commit()
            base = self._pos + _PREFIX
            tail = self._summary(base)
            os.pwrite(self._fd, tail, base)  # inside the pad
            self._sync()
            os.ftruncate(self._fd, base + len(tail))  # indexed readers now use the summary
            self._sync()
            os.pwrite(self._fd, _pad_prefix(0), self._pos)  # and scanning readers see an empty pad
            self._sync()
        finally:
            os.close(self._fd)
            self._fd = -1

    # -- internals ---------------------------------------------------------------------------------
    def _write(self, records: Sequence[bytes | bytearray]) -> None:
        """Write records after the last ones, inside the pad, holding back the first 9 bytes of a block."""
        parts: list[_Buffer] = [p for p in records if p]
        if not parts:
            return
        size = sum(map(len, parts))
        offset = self._tail
        if self._tail == self._pos:  # first records since the commit: their prefix is the next commit point
            self._held = bytes(parts[0][:_PREFIX])  # every record is at least a prefix long
            parts[0] = memoryview(parts[0])[_PREFIX:]
            offset += _PREFIX
        _pwrite_all(self._fd, parts, offset)
        self._tail += size
        self._pending = bytearray()

    def _pad_header(self, pos: int) -> bytes:
        return _pad_prefix(self.capacity - _TRAILER - pos - _PREFIX)

    def _sync(self) -> None:
        if self.fsync:
            os.fdatasync(self._fd)

    def _close_chunk(self) -> list[bytes | bytearray]:
        """The chunk record and its message indexes; remembers the chunk index for the summary."""
        c = self._chunk
        if not c.data:
            return []
        chunk_start = self._tail + len(self._pending)
        head = (bytes([0x06]) + _U64.pack(40 + len(c.data)) + _U64.pack(c.start_ns) + _U64.pack(c.end_ns)
                + _U64.pack(len(c.data)) + _U32.pack(zlib.crc32(c.data)) + _string("")
                + _U64.pack(len(c.data)))
        chunk_len = len(head) + len(c.data)
        parts: list[bytes | bytearray] = [head, c.data]
        offsets = bytearray()
        at = chunk_start + chunk_len
        for cid, entries in c.index.items():
            rec = _record(0x07, _U16.pack(cid) + _U32.pack(16 * len(entries))
                          + b"".join(_U64.pack(t) + _U64.pack(o) for t, o in entries))
            offsets += _U16.pack(cid) + _U64.pack(at)
            parts.append(rec)
            at += len(rec)
        index_len = at - chunk_start - chunk_len
        idx = _record(0x08, _U64.pack(c.start_ns) + _U64.pack(c.end_ns) + _U64.pack(chunk_start)
                      + _U64.pack(chunk_len) + _U32.pack(len(offsets)) + bytes(offsets) + _U64.pack(index_len)
                      + _string("") + _U64.pack(len(c.data)) + _U64.pack(len(c.data)))
        self._chunk_indexes.append(idx)
        self._index_bytes += len(idx)
        self._written = (min(self._written[0], c.start_ns), max(self._written[1], c.end_ns))
        self._chunk = _Chunk()
        return parts

    def _summary_size_bound(self, record_bytes: int) -> int:
        """Upper bound of the summary size after the next commit, with ``record_bytes`` of new records."""
        nch = len(self._channels) + 1  # a new channel adds a count to the statistics
        records = sum(map(len, self._schemas.values())) + sum(map(len, self._channels.values()))
        stats, index = _STATS_OVERHEAD + 10 * nch, self._index_bytes + _INDEX_OVERHEAD + 10 * nch
        return len(_DATA_END) + records + record_bytes + stats + index + 4 * 26 + len(_footer())

    def _summary(self, base: int) -> bytes:
        """DataEnd, summary section (schemas, channels, statistics, chunk indexes), offsets, footer."""
        total = sum(self.counts.values())
        counts = b"".join(_U16.pack(cid) + _U64.pack(n) for cid, n in sorted(self.counts.items()))
        stats = _record(0x0B, _U64.pack(total) + _U16.pack(len(self._schemas))
                        + _U32.pack(len(self._channels)) + _U32.pack(0) + _U32.pack(0)  # no attachments
                        + _U32.pack(len(self._chunk_indexes)) + _U64.pack(self.start_ns if total else 0)
                        + _U64.pack(self.end_ns) + _U32.pack(len(counts)) + counts)
        groups = [(0x03, b"".join(self._schemas.values())), (0x04, b"".join(self._channels.values())),
                  (0x0B, stats), (0x08, b"".join(self._chunk_indexes))]
        summary_start = base + len(_DATA_END)
        body, offsets, at = bytearray(), bytearray(), summary_start
        for op, blob in groups:
            if blob:
                offsets += _record(0x0E, bytes([op]) + _U64.pack(at) + _U64.pack(len(blob)))
                body += blob
                at += len(blob)
        return _DATA_END + bytes(body) + bytes(offsets) + _footer(summary_start, at)
