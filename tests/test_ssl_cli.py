"""``ros-ssl pretrain`` and ``embed`` on a tiny synthetic dataset; ``train --init`` loads it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ros_ssl.cli.main import _register, app
from ros_ssl.data import load_dataset
from ros_ssl.errors import ConfigError
from ros_ssl.models import Detector, build_encoder
from ros_ssl.ssl.embed import embed_frames, load_run_encoder
from ros_ssl.ssl.recipe import load_pretrain_recipe
from ros_ssl.train.checkpoint import load_encoder_weights
from ros_ssl.train.run_config import PretrainRunConfig, read_run_config
from ros_ssl.train.synthetic import make_synthetic_dataset

torch.set_num_threads(1)
_register()
FAST = ["--epochs", "1", "--batch-size", "16", "--set", "steps_per_epoch=2", "--quiet"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Poses advance 0.1 m/s at 15 frames/s: each frame has near neighbours for the temporal method.
    return make_synthetic_dataset(tmp_path_factory.mktemp("ssl") / "ds", recordings=4, frames=24)


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_pretrain_writes_an_encoder_the_trainer_loads_and_resumes(tiny: Path, tmp_path: Path) -> None:
    run = tmp_path / "temporal"
    out = invoke("pretrain", tiny, "--method", "temporal", "--out", run, *FAST)
    assert "encoder.pt" in out
    config = read_run_config(run)
    assert isinstance(config, PretrainRunConfig)
    assert (config.method, config.model, config.image_hw) == ("temporal", "paper_cnn", (64, 80))
    assert config.recipe.method == "temporal" and config.recordings is None
    detector = Detector(build_encoder("paper_cnn", (64, 80)), (5, 7))
    before = detector.encoder.fc[1].weight.clone()
    load_encoder_weights(detector, run, "paper_cnn")
    saved = torch.load(run / "checkpoints" / "encoder.pt", weights_only=True)
    assert torch.equal(detector.encoder.fc[1].weight, saved["fc.1.weight"])
    assert not torch.equal(before, saved["fc.1.weight"])

    result = CliRunner().invoke(app, ["pretrain", str(tiny), "--method", "temporal", "--out", str(run),
                                      *FAST])
    assert result.exit_code != 0 and "already holds a run" in str(result.exception)
    invoke("pretrain", tiny, "--method", "temporal", "--out", run, *FAST[2:], "--epochs", "2", "--resume")
    with open(run / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]


def test_embed_writes_a_neighbour_grid(tiny: Path, tmp_path: Path) -> None:
    run = tmp_path / "simclr"
    invoke("pretrain", tiny, "--method", "simclr", "--out", run, *FAST)
    png = tmp_path / "nn.png"
    invoke("embed", run, tiny, "--out", png, "--queries", "3", "--k", "4", "--exclude-s", "0.5")
    import cv2

    image = cv2.imread(str(png))
    h, w, pad = 2 * 64, 2 * 80, 4  # frames drawn at twice their size, 4 white pixels apart
    assert image.shape == (3 * (h + pad) + pad, 5 * (w + pad) + pad, 3)
    grid = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    ds = load_dataset(tiny)
    frames = np.array(ds.frames)  # a writable copy for torch
    stamps, recording = np.asarray(ds.stamps), np.asarray(ds.recording)
    big = frames.repeat(2, axis=1).repeat(2, axis=2)
    encoder, config = load_run_encoder(run)
    emb = embed_frames(encoder, frames, config.mean, config.std)

    def tile(r: int, c: int) -> np.ndarray:
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        return grid[y:y + h, x:x + w]

    for r in range(3):
        query_tile = tile(r, 0)
        assert tuple(query_tile[0, 0]) == (255, 0, 0)  # the query's red frame
        # Inside its frame the query tile is exactly one dataset frame.
        matches = np.flatnonzero((big[:, 4:-4, 4:-4] == query_tile[4:-4, 4:-4]).all(axis=(1, 2, 3)))
        assert len(matches) == 1, matches
        query = int(matches[0])
        # Its true nearest neighbours, by brute force over the embeddings: cosine, near-in-time copies out.
        candidates = [i for i in range(len(frames))
                      if not (recording[i] == recording[query] and abs(stamps[i] - stamps[query]) <= 0.5)]
        nearest = sorted(candidates, key=lambda i: -float(emb[i] @ emb[query]))[:4]
        for c, expected in enumerate(nearest, start=1):
            assert np.array_equal(tile(r, c)[20:], big[expected, 20:]), (r, c)  # below the similarity text


def test_recipes_load_and_bad_ones_name_the_problem() -> None:
    for method in ("simclr", "temporal", "byol", "vicreg", "rotation", "mae"):
        assert load_pretrain_recipe(f"ssl_{method}").method == method
    recipe = load_pretrain_recipe("ssl_simclr", {"params.temperature": 0.2, "augment.flip": 0, "epochs": 3})
    assert (recipe.params["temperature"], recipe.augment.flip, recipe.epochs) == (0.2, 0.0, 3)
    with pytest.raises(ConfigError, match="unknown recipe key"):
        load_pretrain_recipe(None, {"learning_rate": 1})
    with pytest.raises(ConfigError, match="no parameter 'temprature'"):
        load_pretrain_recipe("ssl_simclr", {"params.temprature": 0.1})
    with pytest.raises(ConfigError, match="recipe field epochs is 'ten'"):
        load_pretrain_recipe(None, {"epochs": "ten"})
    with pytest.raises(ConfigError, match="method"):
        load_pretrain_recipe(None, {"method": "moco"})


@pytest.mark.slow
def test_pretrain_under_torchrun_with_two_gloo_processes(tiny: Path, tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "ros_ssl", "pretrain", str(tiny),
           "--method", "egomotion", "--out", str(tmp_path / "ddp"), *FAST]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_run_config(tmp_path / "ddp").world_size == 2
    assert (tmp_path / "ddp" / "checkpoints" / "encoder.pt").is_file()
