"""SSL losses as plain tensor functions, written to match their papers' reference definitions.

Every function is pure (no module state), so tests can check it against a hand computation and the
methods in ``ros_ssl.ssl.methods`` only decide what goes in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z0: Tensor, z1: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR's NT-Xent over 2N samples: views ``z0[i]`` and ``z1[i]`` are the only positive pair.

    Each of the 2N embeddings is an anchor whose negatives are the other 2N - 2 embeddings; the loss is
    the mean cross-entropy over all 2N anchors. Inputs are L2-normalised here.
    """
    n = z0.shape[0]
    z = F.normalize(torch.cat([z0, z1]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


def multi_positive_nt_xent(z: Tensor, positives: Tensor, temperature: float = 0.5) -> Tensor:
    """NT-Xent with any number of positives per anchor (supervised-contrastive form, Khosla et al. 2020).

    ``positives`` is an (M, M) bool matrix; the diagonal is ignored. Anchor i's loss is the mean over its
    positives p of -log(exp(s_ip / t) / sum_{k != i} exp(s_ik / t)); anchors without a positive are left
    out. With ``positives`` marking only the two views of each sample this equals ``nt_xent``.
    """
    m = z.shape[0]
    if positives.shape != (m, m):
        raise ValueError(f"positives has shape {tuple(positives.shape)}, expected {(m, m)}")
    z = F.normalize(z, dim=1)
    self_mask = torch.eye(m, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = positives.to(z.device) & ~self_mask
    count = pos.sum(1)
    per_anchor = -log_prob.masked_fill(~pos, 0.0).sum(1) / count.clamp(min=1)
    has_pos = count > 0
    return per_anchor[has_pos].mean() if bool(has_pos.any()) else z.sum() * 0.0


def byol(p: Tensor, z: Tensor) -> Tensor:
    """BYOL regression loss: batch mean of 2 - 2 cos(p, z), with the target ``z`` a constant (detached)."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


def vicreg(z_a: Tensor, z_b: Tensor, sim_weight: float = 25.0, var_weight: float = 25.0,
           cov_weight: float = 1.0, eps: float = 1e-4) -> Tensor:
    """VICReg as in the official code (facebookresearch/vicreg): invariance + variance + covariance.

    invariance = MSE(z_a, z_b); variance = mean over both branches of mean_d relu(1 - sqrt(var_d + eps))
    (unbiased variance); covariance = per branch sum of squared off-diagonal covariances / D, summed.
    """
    n, d = z_a.shape
    invariance = F.mse_loss(z_a, z_b)
    a = z_a - z_a.mean(dim=0)
    b = z_b - z_b.mean(dim=0)
    std_a = torch.sqrt(a.var(dim=0) + eps)
    std_b = torch.sqrt(b.var(dim=0) + eps)
    variance = F.relu(1 - std_a).mean() / 2 + F.relu(1 - std_b).mean() / 2
    off = ~torch.eye(d, dtype=torch.bool, device=z_a.device)
    cov_a = (a.T @ a) / (n - 1)
    cov_b = (b.T @ b) / (n - 1)
    covariance = cov_a[off].pow(2).sum() / d + cov_b[off].pow(2).sum() / d
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
