"""Self-supervised pretraining of detector encoders on every recorded frame, labelled or not.

Notebook use::

    from ros_ssl.ssl import load_pretrain_recipe, pretrain
    pretrain("runs/demo/dataset", "runs/byol", load_pretrain_recipe("ssl_byol", {"epochs": 5}))
    # then: ros-ssl train runs/demo/dataset --out runs/ft --init runs/byol

Pieces, each usable alone: ``losses`` (plain tensor functions), ``heads`` (MLPs), ``ema`` (momentum
targets), ``transforms`` (views of small robot frames), ``positives`` (robot-aware "same place"
pairs), ``methods`` (encoder + heads + loss), ``pretrain`` (the training loop), ``embed``
(nearest-neighbour grids), ``study`` (label-efficiency experiment).
"""

from ros_ssl.ssl.losses import byol, multi_positive_nt_xent, nt_xent, vicreg
from ros_ssl.ssl.methods import METHODS, SslMethod, build_method
from ros_ssl.ssl.pretrain import PretrainResult, pretrain
from ros_ssl.ssl.recipe import PretrainRecipe, load_pretrain_recipe

__all__ = ["METHODS", "PretrainRecipe", "PretrainResult", "SslMethod", "build_method", "byol",
           "load_pretrain_recipe", "multi_positive_nt_xent", "nt_xent", "pretrain", "vicreg"]
