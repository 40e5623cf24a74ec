"""Robot profiles: topics, sensor poses, odometry source and label geometry, validated from YAML."""

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
