"""Label-efficiency study: does self-supervised pretraining let the detector learn from fewer labels?

On simulated worlds, split by world into held-out test worlds, extra unlabelled worlds and a labelled
pool: pretrain each SSL method (same steps x batch for every method) on every frame of the pool and the
extra worlds (labels unused; the test worlds stay unseen), then train the detector from scratch and
from each pretrained encoder, fine-tuned or as a frozen linear probe, with 5 %, 20 % and 100 % of the
pool's labelled recordings, for several seeds (seed k also draws the validation worlds and which
recordings carry labels, the same for every encoder). Every run gets the same optimiser steps and is
scored against the simulator's dense truth on every frame of the test worlds; ``study_report`` turns
the saved test scores into paired differences against scratch with bootstrap intervals by recording.

Layout of the study folder (a rerun skips what is already there, so an interrupted study resumes)::

    bags/world_NNNN        simulated recordings (skipped when --dataset is given)
    dataset/               their labels
    views/{labelled,test,ssl}/  the split as datasets whose shards link to dataset/'s
    pretrain/<method>[_sK]/     SSL runs (``ros-ssl pretrain``); random_sK/: the probe's untrained encoder
    runs/<encoder>_<mode>_<pct>_sK/  detector runs, each with test_scores.npy (logits on views/test)
    study.json, study.md, study.png, details.json (config, split, targets, timings, per-seed values)
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.data import Dataset, load_dataset
from ros_ssl.data.layout import HEADER, SHARDS
from ros_ssl.errors import ConfigError
from ros_ssl.experiments.study_report import SCRATCH, Cell, summarise, write_report
from ros_ssl.ssl.recipe import METHOD_PARAMS, load_pretrain_recipe
from ros_ssl.train.recipe import Recipe, load_recipe

MODES = ("finetune", "probe")
SCORES = "test_scores.npy"


@dataclass(frozen=True)
class StudyConfig:
    worlds: int = 32  # simulated worlds (one recording each)
    duration_s: float = 20.0  # simulated seconds per world
    first_seed: int = 1000  # world k has seed first_seed + k (away from the demo's seeds)
    test_worlds: int = 8  # held out, scored against dense truth
    unlabelled_worlds: int = 6  # extra recordings only SSL sees; the rest is the labelled pool
    methods: tuple[str, ...] = ("simclr", "egomotion")
    fractions: tuple[float, ...] = (0.05, 0.2, 1.0)
    modes: tuple[str, ...] = MODES
    seeds: int = 3
    seed: int = 0  # seeds are seed, seed + 1, ...
    model: str = "paper_cnn"
    # Pretraining budget, the same for every method: epochs x steps of batch frames.
    pretrain_epochs: int = 4
    pretrain_steps: int = 75
    pretrain_batch: int = 128
    pretrain_per_seed: bool = False  # one pretraining per seed (GPU) instead of one per method
    # Detector training: a trainer recipe, every run given the same epochs x steps of its batch size.
    finetune_recipe: str = "ssl_finetune"
    finetune_epochs: int = 4
    finetune_steps: int = 50
    probe_lr: float = 0.01  # the probe trains its head only
    bootstrap: int = 1000
    label_workers: int = 2

    def validate(self) -> StudyConfig:
        unknown = [m for m in self.methods if m not in METHOD_PARAMS]
        if unknown:
            raise ConfigError(f"study method {unknown[0]!r} is not one of {', '.join(METHOD_PARAMS)}")
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"study fractions {self.fractions} must be in (0, 1]")
        bad_modes = [m for m in self.modes if m not in MODES]
        if not self.modes or bad_modes:
            raise ConfigError(f"study modes {self.modes} must be among {', '.join(MODES)}")
        if self.test_worlds < 1 or self.unlabelled_worlds < 0:
            raise ConfigError(f"a study needs at least 1 test world and >= 0 unlabelled worlds, got "
                              f"{self.test_worlds} and {self.unlabelled_worlds}")
        if self.worlds < self.test_worlds + self.unlabelled_worlds + 2:
            raise ConfigError(f"a study of {self.worlds} worlds cannot hold {self.test_worlds} test, "
                              f"{self.unlabelled_worlds} unlabelled and 2 labelled worlds; use more worlds")
        for name in ("seeds", "pretrain_epochs", "pretrain_steps", "pretrain_batch", "finetune_epochs",
                     "finetune_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"study {name} = {getattr(self, name)} must be >= 1")
        return self


# A smoke test in minutes on 2 cores: tiny worlds, a few steps per run (the figures mean nothing).
QUICK = StudyConfig(worlds=6, duration_s=4.0, test_worlds=2, unlabelled_worlds=1, seeds=2,
                    pretrain_epochs=1, pretrain_steps=2, pretrain_batch=16, finetune_epochs=1,
                    finetune_steps=3, bootstrap=50, label_workers=1)


@dataclass(frozen=True)
class StudySplit:
    """Recording ids of each part (groups never straddle parts)."""

    labelled: list[str]
    test: list[str]
    unlabelled: list[str]


def run_study(out: str | Path, config: StudyConfig, dataset: str | Path | None = None,
              progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or finish) the study into ``out``; returns what study.json holds (rewritten after every run)."""
    config.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    details_file = out / "details.json"
    timings: dict[str, float] = (json.loads(details_file.read_text()).get("timings", {})
                                 if details_file.is_file() else {})
    t0 = time.perf_counter()
    if dataset is None:
        dataset = _simulated_dataset(out, config, progress)
        timings.setdefault("data_s", round(time.perf_counter() - t0, 1))
    split = split_worlds(Path(dataset), config)
    views = {name: make_view(Path(dataset), out / "views" / name, ids)
             for name, ids in (("labelled", split.labelled), ("test", split.test),
                               ("ssl", split.labelled + split.unlabelled))}
    base = load_recipe(config.finetune_recipe, {
        "model": config.model, "epochs": config.finetune_epochs, "steps_per_epoch": config.finetune_steps,
        "bootstrap": 0, "test_fraction": 0.0})
    seeds = [config.seed + k for k in range(config.seeds)]
    test = load_dataset(views["test"])
    ssl_frames = len(load_dataset(views["ssl"]))
    cells: list[Cell] = []
    summary: dict[str, Any] = {}

    def record(key: str, start: float) -> None:
        timings[key] = round(time.perf_counter() - start, 1)

    def report() -> None:
        nonlocal summary
        summary, details = summarise(cells, test, config.bootstrap)
        details.update({"config": asdict(config), "dataset": str(dataset), "timings": timings,
                        "split": {"labelled": split.labelled, "test": split.test,
                                  "unlabelled": split.unlabelled,
                                  "ssl_frames": ssl_frames}})
        write_report(out, summary, details)

    for seed in seeds:
        inits = {SCRATCH: _random_encoder(out, config.model, test.image_hw, seed)}
        for method in config.methods:
            t = time.perf_counter()
            inits[method], trained = _pretrained(views["ssl"], out, config, method, seed, progress)
            if trained:
                key = f"pretrain_{Path(inits[method]).name}_s"
                record(key, t)
                log(f"study: pretrained {method} in {timings[key]:.0f} s")
        for fraction in config.fractions:
            for mode in config.modes:
                for encoder, init in inits.items():
                    run = out / "runs" / f"{encoder}_{mode}_{_pct(fraction)}_s{seed}"
                    new = not (run / SCORES).is_file()  # else scored by an earlier, interrupted study
                    if new:
                        t = time.perf_counter()
                        shutil.rmtree(run, ignore_errors=True)  # an interrupted run starts over
                        recipe = _run_recipe(base, config, encoder, init, mode, fraction, seed)
                        _train_and_score(views["labelled"], test, run, recipe, progress)
                        record(run.name + "_s", t)
                        log(f"study: {run.name} done in {timings[run.name + '_s']:.0f} s")
                    cells.append(Cell(encoder, mode, fraction, seed, run / SCORES))
                    if new:
                        report()  # the report so far
    report()
    return summary


def _pretrain_name(config: StudyConfig, method: str, seed: int) -> str:
    return f"{method}_s{seed}" if config.pretrain_per_seed else method


def _pretrained(ssl_view: Path, out: Path, config: StudyConfig, method: str, seed: int,
                progress: bool) -> tuple[str, bool]:
    """The pretraining run of ``method`` and whether it trained now; the same budget for every method."""
    from ros_ssl.ssl.pretrain import pretrain

    run = out / "pretrain" / _pretrain_name(config, method, seed)
    recipe = load_pretrain_recipe(f"ssl_{method}", {
        "model": config.model, "epochs": config.pretrain_epochs, "steps_per_epoch": config.pretrain_steps,
        "batch_size": config.pretrain_batch, "seed": seed if config.pretrain_per_seed else config.seed})
    if _epochs_done(run) >= recipe.epochs:
        return str(run), False
    pretrain(ssl_view, run, recipe, resume=(run / "checkpoints" / "last.pt").is_file(), progress=progress)
    return str(run), True


def _random_encoder(out: Path, model: str, image_hw: tuple[int, int], seed: int) -> str:
    """An untrained encoder saved as a run: the probe's scratch baseline (random frozen features)."""
    import torch

    from ros_ssl.models import build_encoder
    from ros_ssl.train.checkpoint import save_checkpoint

    run = out / "pretrain" / f"random_s{seed}"
    file = run / "checkpoints" / "encoder.pt"
    if not file.is_file():
        torch.manual_seed(seed)
        save_checkpoint(file, build_encoder(model, image_hw).state_dict())
    return str(run)


def _run_recipe(base: Recipe, config: StudyConfig, encoder: str, init: str, mode: str, fraction: float,
                seed: int) -> Recipe:
    """Seed ``seed`` draws the validation worlds and the labelled recordings, the same for every encoder."""
    probe = mode == "probe"
    return replace(base, train_fraction=fraction, seed=seed, split_seed=seed, freeze=probe,
                   init=init if probe or encoder != SCRATCH else "",
                   lr=config.probe_lr if probe else base.lr).validate()


def _train_and_score(labelled: Path, test: Dataset, run: Path, recipe: Recipe, progress: bool) -> None:
    """Train on the labelled view, then save the best checkpoint's logits on every test frame (float16)."""
    import torch

    from ros_ssl.train.checkpoint import load_detector
    from ros_ssl.train.data import make_loader
    from ros_ssl.train.evaluate import predict
    from ros_ssl.train.trainer import train

    train(labelled, run, recipe, progress=progress)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, run_config = load_detector(run, "best", device)
    loader = make_loader(test.path, np.arange(len(test)), recipe.eval_batch_size, shuffle=False)
    scores = predict(model, loader, device, run_config.mean, run_config.std, progress)
    logits = np.empty_like(scores["logits"])
    logits[scores["index"]] = scores["logits"]
    tmp = run / ("tmp_" + SCORES)
    np.save(tmp, logits.astype(np.float16))
    tmp.replace(run / SCORES)


def split_worlds(dataset: Path, config: StudyConfig) -> StudySplit:
    """Test, extra unlabelled and labelled recordings, drawn by world (group) with ``config.seed``."""
    ds = load_dataset(dataset)
    groups = ds.groups()
    unique = sorted(set(groups))
    if len(unique) < config.test_worlds + config.unlabelled_worlds + 2:
        raise ConfigError(f"dataset {dataset} has {len(unique)} world(s); the study needs "
                          f"{config.test_worlds} test, {config.unlabelled_worlds} unlabelled and 2 labelled")
    order = [unique[i] for i in np.random.default_rng(config.seed).permutation(len(unique))]
    test_g = set(order[:config.test_worlds])
    extra_g = set(order[config.test_worlds:config.test_worlds + config.unlabelled_worlds])
    parts: dict[str, list[str]] = {"labelled": [], "test": [], "unlabelled": []}
    for rec, group in zip(ds.recordings, groups, strict=True):
        part = "test" if group in test_g else "unlabelled" if group in extra_g else "labelled"
        parts[part].append(str(rec["id"]))
    return StudySplit(**parts)


def make_view(dataset: Path, view: Path, ids: list[str]) -> Path:
    """A dataset at ``view`` holding only recordings ``ids``: its shards are links to ``dataset``'s."""
    shards = view / SHARDS
    wanted = set(ids)
    if shards.is_dir() and {p.name for p in shards.iterdir()} == wanted:
        return view
    shutil.rmtree(view, ignore_errors=True)
    shards.mkdir(parents=True)
    shutil.copy(dataset / HEADER, view / HEADER)
    for rid in sorted(wanted):
        (shards / rid).symlink_to((dataset / SHARDS / rid).resolve(), target_is_directory=True)
    return view


def _simulated_dataset(out: Path, config: StudyConfig, progress: bool) -> Path:
    from ros_ssl.config import load_profile
    from ros_ssl.label.pipeline import label_bags
    from ros_ssl.sim.record import simulate

    profile = load_profile("sim")
    bags = []
    for k in range(config.worlds):
        bag = out / "bags" / f"world_{config.first_seed + k:04d}"
        if not bag.exists():
            simulate(bag, config.duration_s, config.first_seed + k, profile, progress=progress)
        bags.append(bag)
    label_bags(bags, out / "dataset", profile, config.label_workers, progress)
    return out / "dataset"


def _epochs_done(run: Path) -> int:
    """Epochs a pretraining run has finished (rows of its metrics.csv; 0 if none)."""
    file = run / "metrics.csv"
    return max(0, len(file.read_text().strip().splitlines()) - 1) if file.is_file() else 0


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}pct"
