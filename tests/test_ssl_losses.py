"""SSL losses against direct hand computations (explicit loops in numpy) on fixed tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ros_ssl.ssl.losses import byol, multi_positive_nt_xent, nt_xent, vicreg

torch.set_num_threads(1)


def fixed(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d))).double()


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt((v * v).sum())


def hand_supcon(z: np.ndarray, positives: np.ndarray, t: float) -> float:
    m = len(z)
    u = [unit(z[i]) for i in range(m)]
    total, anchors = 0.0, 0
    for i in range(m):
        den = sum(math.exp(float(u[i] @ u[k]) / t) for k in range(m) if k != i)
        pos = [p for p in range(m) if p != i and positives[i][p]]
        if not pos:
            continue
        total += sum(-math.log(math.exp(float(u[i] @ u[p]) / t) / den) for p in pos) / len(pos)
        anchors += 1
    return total / anchors


def test_nt_xent_matches_hand_computation() -> None:
    z0, z1 = fixed(4, 3, 0), fixed(4, 3, 1)
    z = np.concatenate([z0.numpy(), z1.numpy()])
    n = 4
    pairs = np.zeros((2 * n, 2 * n), bool)
    for i in range(n):
        pairs[i][i + n] = pairs[i + n][i] = True
    for t in (0.5, 0.1):
        assert nt_xent(z0, z1, t).item() == pytest.approx(hand_supcon(z, pairs, t), rel=1e-9)


def test_nt_xent_is_scale_invariant_and_low_for_matching_views() -> None:
    z = fixed(6, 5, 2)
    assert nt_xent(z, 3 * z).item() == pytest.approx(nt_xent(z, z).item(), rel=1e-9)
    assert nt_xent(z, z, 0.1).item() < nt_xent(z, fixed(6, 5, 3), 0.1).item()


def test_multi_positive_matches_hand_computation_and_reduces_to_nt_xent() -> None:
    z = fixed(6, 4, 4)
    positives = np.zeros((6, 6), bool)
    positives[0, [1, 2]] = positives[1, [0, 2]] = positives[2, [0, 1]] = True
    positives[3, 4] = positives[4, 3] = True  # item 5 has no positive and is left out
    got = multi_positive_nt_xent(z, torch.from_numpy(positives), 0.3).item()
    assert got == pytest.approx(hand_supcon(z.numpy(), positives, 0.3), rel=1e-9)

    z0, z1 = fixed(3, 4, 5), fixed(3, 4, 6)
    pairs = torch.zeros(6, 6, dtype=torch.bool)
    pairs[torch.arange(3), torch.arange(3) + 3] = pairs[torch.arange(3) + 3, torch.arange(3)] = True
    pairs |= torch.eye(6, dtype=torch.bool)  # the diagonal is ignored
    got = multi_positive_nt_xent(torch.cat([z0, z1]), pairs).item()
    assert got == pytest.approx(nt_xent(z0, z1).item(), rel=1e-9)


def test_byol_matches_hand_computation_and_detaches_target() -> None:
    p, z = fixed(5, 3, 7).requires_grad_(True), fixed(5, 3, 8).requires_grad_(True)
    pn, zn = p.detach().numpy(), z.detach().numpy()
    want = np.mean([2 - 2 * float(unit(pn[i]) @ unit(zn[i])) for i in range(5)])
    loss = byol(p, z)
    assert loss.item() == pytest.approx(want, rel=1e-9)
    loss.backward()
    assert p.grad is not None and z.grad is None


def test_vicreg_matches_hand_computation() -> None:
    a, b = fixed(6, 4, 9), fixed(6, 4, 10) * 0.5
    an, bn = a.numpy(), b.numpy()
    n, d = an.shape
    inv = sum((an[i, j] - bn[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)

    def var_cov(x: np.ndarray) -> tuple[float, float]:
        mean = [sum(x[i, j] for i in range(n)) / n for j in range(d)]
        cov = [[sum((x[i, j] - mean[j]) * (x[i, k] - mean[k]) for i in range(n)) / (n - 1) for k in range(d)]
               for j in range(d)]
        var = sum(max(0.0, 1 - math.sqrt(cov[j][j] + 1e-4)) for j in range(d)) / d
        off = sum(cov[j][k] ** 2 for j in range(d) for k in range(d) if j != k) / d
        return var, off

    va, ca = var_cov(an)
    vb, cb = var_cov(bn)
    want = 25 * inv + 25 * (va + vb) / 2 + 1 * (ca + cb)
    assert vicreg(a, b).item() == pytest.approx(want, rel=1e-9)
    weighted = inv + 2 * (va + vb) / 2 + 3 * (ca + cb)
    assert vicreg(a, b, 1.0, 2.0, 3.0).item() == pytest.approx(weighted, rel=1e-9)
