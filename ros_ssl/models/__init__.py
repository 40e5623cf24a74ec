"""Detector models: swappable encoders (paper CNN, ResNet-18, MobileNetV3-Small) and the label head.

Example::

    from ros_ssl.models import Detector, build_encoder, normalize, to_chw
    model = Detector(build_encoder("paper_cnn", (64, 80)), label_shape=(5, 31))
    probs = model(normalize(to_chw(frames_uint8))).sigmoid()   # (B, 5, 31)
"""

from ros_ssl.config.encoders import IMAGENET_MEAN, IMAGENET_STD
from ros_ssl.models.detector import Detector
from ros_ssl.models.encoders import ENCODERS, FEATURE_DIM, Encoder, build_encoder
from ros_ssl.models.normalize import normalize, to_chw

__all__ = ["ENCODERS", "FEATURE_DIM", "IMAGENET_MEAN", "IMAGENET_STD", "Detector", "Encoder", "build_encoder",
           "normalize", "to_chw"]
