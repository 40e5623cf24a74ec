"""Errors users see. Each message is one sentence naming the file or value and the problem."""

from __future__ import annotations


class RosSslError(Exception):
    """Base of every error ros_ssl raises on purpose; the CLI prints it as one line."""


class ConfigError(RosSslError):
    """A robot profile or training recipe is invalid."""


class BagError(RosSslError):
    """A bag is missing, corrupt, truncated, or lacks what the profile asks for."""


class MessageError(RosSslError):
    """A message cannot be converted (unknown encoding, wrong size, bad values)."""


class DatasetError(RosSslError):
    """A dataset directory is missing, inconsistent or incompatible."""


class ModelPackageError(RosSslError):
    """A model package is missing, corrupt, or does not match its metadata."""


class OutputError(RosSslError):
    """An output path cannot be written (read-only, under a file, disk full)."""
