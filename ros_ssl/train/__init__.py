"""Training the long-range detector: recipes, data, loss, augmentation, trainer, evaluation, metrics.

Modules (import what you need; ``metrics`` uses numpy only, so torch-free code can score predictions)::

    recipe      Recipe dataclass, load_recipe (training/*.yaml + overrides)
    data        FrameBatches, make_loader, split_recordings
    augment     Augment, label_mirror (horizontal flip mirrors labels)
    loss        masked_bce, balanced_pos_weight
    trainer     train, train_step
    evaluate    evaluate, predict, format_table
    metrics     roc_auc, auc_table, bootstrap_auc (numpy only)
    checkpoint  save/load checkpoints (weights_only=True), load_detector
    distributed torchrun / DDP set-up
"""
