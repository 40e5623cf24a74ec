"""Training the long-range detector: recipes, data, loss, augmentation, trainer, evaluation, metrics.

Modules (import what you need; ``metrics`` uses numpy only, so torch-free code can score predictions)::

    recipe      Recipe dataclass, load_recipe (training/*.yaml + overrides)
    data        FrameBatches, make_loader, split_recordings
    augment     Augment, label_mirror (horizontal flip mirrors labels)
    loss        masked_bce, balanced_pos_weight
    engine      Engine, Task: the one epoch loop (DDP, AMP, checkpoints, resume, metrics.csv)
    runs        seeding, warm-up/cosine schedule, mixed precision, the optimiser step
    run_config  RunConfig, PretrainRunConfig, read_run_config (a run's config.yaml, torch-free)
    trainer     train, DetectorTask, detector_loss
    evaluate    evaluate, predict, format_table
    metrics     roc_auc, auc_table, bootstrap_auc (numpy only)
    checkpoint  save/load checkpoints (weights_only=True), load_detector
    distributed torchrun / DDP set-up
"""
