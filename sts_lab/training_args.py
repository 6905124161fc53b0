"""Map the ``optimizer`` and ``trainer`` config groups onto SentenceTransformerTrainingArguments."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformerTrainingArguments

from sts_lab.precision import Precision, choose_precision, trainer_flags


def training_arguments(
    cfg: DictConfig, output_dir: Path, precision: Precision | None = None
) -> SentenceTransformerTrainingArguments:
    """``precision``: as chosen by ``choose_precision(cfg.trainer.precision)`` (chosen here when None)."""
    precision = precision or choose_precision(cfg.trainer.precision)
    optimizer, trainer = cfg.optimizer, cfg.trainer
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=trainer.epochs,
        max_steps=trainer.max_steps or -1,
        per_device_train_batch_size=trainer.batch_size,
        per_device_eval_batch_size=trainer.eval_batch_size,
        optim=optimizer.impl,
        learning_rate=optimizer.lr,
        weight_decay=optimizer.weight_decay,
        adam_beta1=optimizer.betas[0],
        adam_beta2=optimizer.betas[1],
        adam_epsilon=optimizer.eps,
        lr_scheduler_type=optimizer.scheduler,
        warmup_steps=optimizer.warmup_ratio,  # a float < 1 is a ratio of the total steps
        eval_strategy="steps",
        eval_steps=trainer.eval_steps,
        logging_steps=trainer.logging_steps,
        save_strategy="no",  # the final model is saved by train() when trainer.save_model is set
        seed=cfg.seed,
        dataloader_num_workers=trainer.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to="none",  # trackers join through trainer callbacks (sts_lab.tracking)
        **trainer_flags(precision),
    )
