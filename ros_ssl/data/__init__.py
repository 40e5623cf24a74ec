"""Datasets: frames + labels + known mask, one shard per recording, memory-mapped for reading.

Notebook use::

    from ros_ssl.data import load_dataset
    ds = load_dataset("runs/demo/dataset")
    ds.frames   # (N, H, W, 3) uint8
    ds.labels   # (N, S, D) uint8, 1 = obstacle
    ds.mask     # (N, S, D) bool, True = known
    ds.stamps, ds.distances, ds.sensors
"""

from ros_ssl.data.shard import ShardWriter
from ros_ssl.data.split import Split, split_by_group
from ros_ssl.data.store import Dataset, DatasetWriter, load_dataset

__all__ = ["Dataset", "DatasetWriter", "ShardWriter", "Split", "load_dataset", "split_by_group"]
