"""Start-up checks of a composed config: every bad value is refused before data or model load."""

from __future__ import annotations

from omegaconf import DictConfig
from transformers.trainer_utils import SchedulerType

from sts_lab.run.batching import BATCH_SAMPLERS
from sts_lab.errors import StsLabError
from sts_lab.names import METRIC_NAMES, objective_names
from sts_lab.run.encoders import CROSS, ENCODERS, loss_encoder, loss_name
from sts_lab.run.losses import required_label_range
from sts_lab.run.normalization import label_range
from sts_lab.run.precision import PRECISIONS


def require(condition: bool, key: str, value: object, rule: str) -> None:
    if not condition:
        raise StsLabError(f"{key}={value!r}: {rule}")


def validate(cfg: DictConfig) -> None:
    optimizer, trainer, data = cfg.optimizer, cfg.trainer, cfg.data
    for name in objective_names(cfg.objective):
        require(name in METRIC_NAMES, "objective", name, f"not a metric; available: {list(METRIC_NAMES)}")
    require(optimizer.lr > 0, "optimizer.lr", optimizer.lr, "must be > 0")
    require(optimizer.weight_decay >= 0, "optimizer.weight_decay", optimizer.weight_decay, "must be >= 0")
    require(0 <= optimizer.warmup_ratio < 1, "optimizer.warmup_ratio", optimizer.warmup_ratio, "must be in [0, 1)")
    schedulers = [s.value for s in SchedulerType]
    require(optimizer.scheduler in schedulers, "optimizer.scheduler", optimizer.scheduler, f"must be one of {schedulers}")
    require(trainer.batch_size >= 1, "trainer.batch_size", trainer.batch_size, "must be >= 1")
    require(trainer.batch_sampler in BATCH_SAMPLERS, "trainer.batch_sampler", trainer.batch_sampler, f"must be one of {list(BATCH_SAMPLERS)}")
    require(trainer.length_window >= 1, "trainer.length_window", trainer.length_window, "must be >= 1 (batches)")
    patience = trainer.early_stopping_patience
    require(patience is None or patience >= 1, "trainer.early_stopping_patience", patience, "must be null or >= 1 (evaluations)")
    require(trainer.early_stopping_threshold >= 0, "trainer.early_stopping_threshold", trainer.early_stopping_threshold, "must be >= 0")
    require(trainer.early_stopping_warmup_steps >= 0, "trainer.early_stopping_warmup_steps",
            trainer.early_stopping_warmup_steps, "must be >= 0 (steps)")
    require(trainer.eval_batch_size >= 1, "trainer.eval_batch_size", trainer.eval_batch_size, "must be >= 1")
    require(trainer.epochs > 0, "trainer.epochs", trainer.epochs, "must be > 0")
    require(trainer.max_steps is None or trainer.max_steps >= 1, "trainer.max_steps", trainer.max_steps, "must be null or >= 1")
    require(trainer.eval_steps > 0, "trainer.eval_steps", trainer.eval_steps, "must be > 0 (steps, or a fraction < 1 of all steps)")
    require(trainer.precision in PRECISIONS, "trainer.precision", trainer.precision, f"must be one of {list(PRECISIONS)}")
    require(data.limit is None or data.limit >= 1, "data.limit", data.limit, "must be null or >= 1")
    require(data.path is not None or data.hub_id is not None, "data.path", data.path, "set data.path or data.hub_id")
    require(data.min_score < data.max_score, "data.max_score", data.max_score, "must be > data.min_score")
    validate_encoder(cfg)
    labels, needed = label_range(data, cfg.normalization), required_label_range(cfg.loss)
    if needed is not None and not (needed[0] <= labels[0] and labels[1] <= needed[1]):
        fixes = "normalization=unit" if needed[0] >= 0 else "normalization=unit or normalization=signed"
        raise StsLabError(
            f"loss={loss_name(cfg.loss)} needs labels in {list(needed)}, but this "
            f"normalization gives labels in {list(labels)}: use {fixes}"
        )


def validate_encoder(cfg: DictConfig) -> None:
    """The encoder, its loss and its pooling agree: a loss trains one kind of model, a cross-encoder pools nothing."""
    encoder = cfg.encoder.type
    require(encoder in ENCODERS, "encoder.type", encoder, f"must be one of {list(ENCODERS)}")
    trains = loss_encoder(cfg.loss)
    if trains != encoder:
        losses = "loss=bce or loss=mse" if encoder == CROSS else "loss=cosine, loss=cosent or loss=angle"
        raise StsLabError(f"encoder={encoder} with loss {loss_name(cfg.loss)}: a {trains}-encoder loss; "
                          f"encoder={encoder} trains with {losses}")
    if encoder == CROSS and cfg.pooling.mode is not None:
        raise StsLabError(f"encoder=cross with pooling={cfg.pooling.mode}: a cross-encoder scores the pair with its "
                          "head and pools nothing; drop pooling= (or use encoder=bi)")
