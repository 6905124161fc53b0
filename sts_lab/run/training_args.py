"""Map the ``optimizer`` and ``trainer`` config groups onto the training arguments of sentence-transformers'
trainers (SentenceTransformerTrainingArguments, or CrossEncoderTrainingArguments with ``encoder=cross``)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

from sts_lab.names import DEV_LOG_KEYS
from sts_lab.run.encoders import CROSS
from sts_lab.run.precision import Precision, choose_precision, trainer_flags


def training_arguments(
    cfg: DictConfig, output_dir: Path, precision: Precision | None = None, batch_sampler=BatchSamplers.BATCH_SAMPLER,
) -> SentenceTransformerTrainingArguments | CrossEncoderTrainingArguments:
    """``precision``: as chosen by ``choose_precision(cfg.trainer.precision)`` (chosen here when None);
    ``batch_sampler``: as ``sts_lab.run.batching.batch_sampler`` builds it for ``trainer.batch_sampler``."""
    precision = precision or choose_precision(cfg.trainer.precision)
    optimizer, trainer, encoder = cfg.optimizer, cfg.trainer, cfg.encoder.type
    arguments = CrossEncoderTrainingArguments if encoder == CROSS else SentenceTransformerTrainingArguments
    return arguments(
        output_dir=str(output_dir),
        num_train_epochs=trainer.epochs,
        max_steps=trainer.max_steps or -1,
        per_device_train_batch_size=trainer.batch_size,
        batch_sampler=batch_sampler,
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
        **checkpointing(trainer, encoder),
        seed=cfg.seed,
        dataloader_num_workers=trainer.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to="none",  # trackers join through trainer callbacks (sts_lab.tracking.wandb_run)
        **trainer_flags(precision),
    )


def checkpointing(trainer: DictConfig, encoder: str) -> dict:
    """No checkpoints (train() saves the final model when trainer.save_model is set), except with early stopping:
    then the best dev Spearman so far is kept (model only, one checkpoint) and loaded when training ends."""
    if trainer.early_stopping_patience is None:
        return {"save_strategy": "no"}
    return {
        "save_strategy": "best", "metric_for_best_model": DEV_LOG_KEYS[encoder][0], "greater_is_better": True,
        "load_best_model_at_end": True, "save_only_model": True, "save_total_limit": 1,
    }
