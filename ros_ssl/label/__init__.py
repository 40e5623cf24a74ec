"""Labeler: future proximity readings -> pseudo-labels for earlier camera frames.

Notebook use::

    from ros_ssl.config import load_profile
    from ros_ssl.label import label_bag, label_bags
    arrays, meta = label_bag("runs/sim.bag", load_profile("sim"))   # one bag, in memory
    label_bags(["a.bag", "b.bag"], "runs/dataset", load_profile("sim"), workers=4)

``associate`` (sensor x distance, Nava et al. 2019) and ``grid_labels`` (egocentric grid) are pure
functions of frame stamps, a cleaned odometry ``Trajectory`` and posed ``Readings``;
``associate_naive`` is the slow per-frame reference they are tested and benchmarked against.
"""

from ros_ssl.label.association import Labels, MatchParams, associate
from ros_ssl.label.grid import grid_labels
from ros_ssl.label.pipeline import bag_id, label_bag, label_bags, label_streams
from ros_ssl.label.reference import associate_naive
from ros_ssl.label.report import format_table, plot_report, score_dataset, score_labels, write_report
from ros_ssl.label.trajectory import PoseQuery, Reason, Trajectory, clean_readings, clean_trajectory
from ros_ssl.label.window import Readings, posed_readings

__all__ = [
    "Labels", "MatchParams", "PoseQuery", "Readings", "Reason", "Trajectory", "associate", "associate_naive",
    "bag_id", "clean_readings", "clean_trajectory", "format_table", "grid_labels",
    "label_bag", "label_bags", "label_streams", "plot_report", "posed_readings",
    "score_dataset", "score_labels", "write_report",
]
