"""Small MLP heads the methods compose with an encoder: projection, prediction, expander, classifier."""

from __future__ import annotations

from torch import nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2, batch_norm: bool = True,
        last_batch_norm: bool = False) -> nn.Sequential:
    """``layers`` linear layers with BatchNorm + ReLU between them (the SimCLR/BYOL/VICReg head shape).

    ``last_batch_norm`` adds an affine-free BatchNorm on the output, as SimCLR v2's projection does.
    """
    if layers < 1:
        raise ValueError(f"an MLP head needs at least one layer, got {layers}")
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden_dim, bias=not batch_norm)]
        if batch_norm:
            mods.append(nn.BatchNorm1d(hidden_dim))
        mods.append(nn.ReLU(inplace=True))
        dim = hidden_dim
    mods.append(nn.Linear(dim, out_dim, bias=not last_batch_norm))
    if last_batch_norm:
        mods.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*mods)
