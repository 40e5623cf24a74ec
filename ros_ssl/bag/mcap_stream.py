"""rosbag2 MCAP messages in log-time order, reading a chunk only when its first message is due.

rosbags' MCAP reader merges its chunks behind one marker per chunk that sorts before every message
logged at the chunk's start time, so all chunks that share a start time (one chunk per topic, or a
writer that raises log times to the latest one written, as ``BagWriter`` does) are read and held at
once: a 1-hour bag held hundreds of MB. Here a chunk's marker sorts by (start time, chunk offset),
exactly as its messages are tie-broken, so memory is bounded by the chunks overlapping in time, not
by the file's length. Messages, order and connections are rosbags' own (same index, same chunk
parser, same filters); only when chunks are read changes. Files without a chunk index keep rosbags'
linear scan, which already streams chunk by chunk.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader as Reader2
from rosbags.rosbag2.reader import DirectoryReader
from rosbags.rosbag2.storage_mcap import ChunkInfo, McapReader, msgsrc

Raw = tuple[Connection, int, bytes]


def lazy_messages(reader: Reader2, connections: Collection[Connection]) -> Iterator[Raw] | None:
    """``reader.messages(connections)`` read lazily, or None if the bag is not (only) MCAP files."""
    storage = reader.storage
    if isinstance(storage, McapReader):
        return _file_messages(storage, connections)
    if (isinstance(storage, DirectoryReader) and storage.metadata.compression_mode != "message"
            and storage.storages and all(isinstance(s, McapReader) for s in storage.storages)):
        return _directory_messages(storage, connections)
    return None


def _directory_messages(bag: DirectoryReader, connections: Collection[Connection]) -> Iterator[Raw]:
    """File after file, as rosbags' ``DirectoryReader.messages`` (same connection matching)."""
    for storage in bag.storages:
        assert isinstance(storage, McapReader)  # checked by lazy_messages
        connmap = {}
        for x in storage.connections:
            conn = next((y for y in connections
                         if y.topic == x.topic and y.msgtype == x.msgtype and y.ext == x.ext
                         and (not x.digest or not y.digest or y.digest == x.digest)), None)
            if conn is not None:
                connmap[x.id] = conn
        mine = [x for x in storage.connections if x.id in connmap]
        if mine:
            for storage_conn, t_ns, data in _file_messages(storage, mine):
                yield connmap[storage_conn.id], t_ns, data


def _file_messages(storage: McapReader, connections: Collection[Connection]) -> Iterator[Raw]:
    """One MCAP file's messages in (log time, chunk offset, order in chunk) order, as rosbags yields them."""
    if not storage.chunks:
        yield from storage.messages(connections)
        return
    channel_map = {c.id: c for c in connections}
    chunks = [_chunk(x, channel_map, storage) for x in storage.chunks
              if any(x.channel_count.get(cid, 0) for cid in channel_map)]
    for _t, _offset, seq, conn, data in heapq.merge(*chunks):
        if seq >= 0:
            assert conn is not None and data is not None
            yield conn, _t, data


def _chunk(chunk: ChunkInfo, channel_map: dict[int, Connection],
           storage: McapReader) -> Iterator[tuple[int, int, int, Connection | None, bytes | None]]:
    """A marker keyed (start time, offset, -1), then the chunk's messages, read only after the marker
    is taken; ``seq`` keeps keys unique so tuples never compare connections."""
    yield chunk.message_start_time, chunk.chunk_start_offset, -1, None, None
    assert storage.bio is not None  # open while messages are read
    messages = msgsrc(chunk, channel_map, chunk.message_start_time, chunk.message_end_time + 1, storage.bio)
    next(messages)  # rosbags' own marker
    for seq, m in enumerate(messages):
        yield m.timestamp, chunk.chunk_start_offset, seq, m.connection, m.data
