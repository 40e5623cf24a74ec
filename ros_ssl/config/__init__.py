"""Torch-free configuration: robot profiles and the schema every YAML config goes through.

Modules: ``profile`` (topics, sensor poses, odometry source, label settings), ``geometry`` (the label
geometry type), ``schema`` (bounded YAML, dataclass building, overrides), ``encoders`` (encoder names and
default normalisation the recipes validate against).
"""

from ros_ssl.config.profile import (
    CameraConfig,
    ImageConfig,
    LabelConfig,
    OdometryConfig,
    ProximityConfig,
    RobotProfile,
    SensorConfig,
    builtin_profiles,
    load_profile,
    profile_from_dict,
)

__all__ = [
    "CameraConfig",
    "ImageConfig",
    "LabelConfig",
    "OdometryConfig",
    "ProximityConfig",
    "RobotProfile",
    "SensorConfig",
    "builtin_profiles",
    "load_profile",
    "profile_from_dict",
]
