"""Self-supervised pretraining of detector encoders on every recorded frame, labelled or not.

Notebook use::

    from ros_ssl.ssl import load_pretrain_recipe, pretrain
    pretrain("runs/demo/dataset", "runs/byol", load_pretrain_recipe("ssl_byol", {"epochs": 5}))
    # then: ros-ssl train runs/demo/dataset --out runs/ft --init runs/byol

Pieces, each usable alone: ``losses`` (plain tensor functions), ``heads`` (MLPs), ``ema`` (momentum
targets), ``transforms`` (views of small robot frames), ``positives`` (robot-aware "same place"
pairs, odometry pose changes), ``gather`` (negatives from every process under DDP), ``methods``
(encoder + heads + loss), ``pretrain`` (the training loop), ``embed``
(nearest-neighbour grids), ``recipe`` (recipes, method names and their parameters; torch-free).
Importing the package is torch-free too: the torch re-exports load on first use. The label-efficiency
study that uses these pieces is ``ros_ssl.experiments.study``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ros_ssl.ssl.recipe import PretrainRecipe, load_pretrain_recipe

# Re-exports that need torch, imported when first used so ``ros_ssl.ssl.recipe`` stays torch-free.
_LAZY = {"byol": "losses", "multi_positive_nt_xent": "losses", "nt_xent": "losses", "vicreg": "losses",
         "METHODS": "methods", "SslMethod": "methods", "build_method": "methods",
         "PretrainResult": "pretrain", "pretrain": "pretrain"}

__all__ = ["METHODS", "PretrainRecipe", "PretrainResult", "SslMethod", "build_method", "byol",
           "load_pretrain_recipe", "multi_positive_nt_xent", "nt_xent", "pretrain", "vicreg"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
