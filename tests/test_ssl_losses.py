"""SSL losses against direct hand computations (explicit loops in numpy) on fixed tensors; the DDP gather."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from ros_ssl.ssl.gather import gather
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


def _gathered_loss(rank: int, world: int, init: str, z0: torch.Tensor, z1: torch.Tensor,
                   positives: torch.Tensor, out: dict[int, Any]) -> None:
    """One process of the DDP check: its half of the batch, the loss over the gathered global batch."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        n = z0.shape[0] // world
        part = slice(rank * n, (rank + 1) * n)
        a = z0[part].clone().requires_grad_(True)
        b = z1[part].clone().requires_grad_(True)
        g0, g1 = gather(a), gather(b)
        loss = nt_xent(g0, g1, 0.3) + multi_positive_nt_xent(torch.cat([g0, g1]), positives, 0.3)
        loss.backward()
        assert a.grad is not None and b.grad is not None
        out[rank] = (loss.item(), a.grad.clone(), b.grad.clone())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gather_under_two_gloo_processes_equals_the_loss_on_the_concatenated_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    z0, z1 = torch.randn(8, 5), torch.randn(8, 5)
    place = torch.arange(16) % 8 // 2  # items 2k and 2k+1 show one place (both views)
    positives = place[:, None] == place[None, :]
    a, b = z0.clone().requires_grad_(True), z1.clone().requires_grad_(True)
    single = nt_xent(a, b, 0.3) + multi_positive_nt_xent(torch.cat([a, b]), positives, 0.3)
    single.backward()
    assert a.grad is not None and b.grad is not None
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        out = manager.dict()
        init = f"file://{tmp_path / 'rendezvous'}"
        procs = [ctx.Process(target=_gathered_loss, args=(r, 2, init, z0, z1, positives, out))
                 for r in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
        results = dict(out)
    for rank in range(2):
        loss, grad0, grad1 = results[rank]
        assert loss == pytest.approx(single.item(), rel=1e-6)
        # Every process holds world_size x its part's gradient; DDP's average over the 2 processes
        # turns that into the single-process gradient.
        part = slice(rank * 4, (rank + 1) * 4)
        assert torch.allclose(grad0 / 2, a.grad[part], atol=1e-6)
        assert torch.allclose(grad1 / 2, b.grad[part], atol=1e-6)
