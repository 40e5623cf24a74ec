"""Errors of the training stage."""

from __future__ import annotations

from ros_ssl.errors import RosSslError


class TrainingError(RosSslError):
    """Training cannot go on: the loss diverged, a run directory or checkpoint does not fit, no labels."""
