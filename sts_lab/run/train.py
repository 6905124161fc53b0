"""One experiment: fine-tune a SentenceTransformer (or a CrossEncoder) on STS pairs and measure Spearman on dev
and test."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from sentence_transformers import CrossEncoderTrainer, SentenceTransformerTrainer
from transformers import EarlyStoppingCallback, TrainerCallback, set_seed

from sts_lab.errors import StsLabError
from sts_lab.names import DEV_CURVE_FILE, METRICS_FILE, PREDICTION_COLUMNS, TEST_PREDICTIONS_FILE, dev_scores
from sts_lab.run.batching import batch_sampler
from sts_lab.run.data import load_splits
from sts_lab.run.encoders import CROSS
from sts_lab.run.evaluation import SplitScores, dev_evaluator, score_split
from sts_lab.run.losses import build_loss
from sts_lab.run.modeling import Model, build_model, has_trained_head
from sts_lab.run.normalization import normalize
from sts_lab.run.precision import Precision, choose_precision
from sts_lab.run.training_args import training_arguments
from sts_lab.run.validation import validate

log = logging.getLogger(__name__)

# (key, compute) -> (number, whether it came from a cache): a sweep's jobs share their zero-shot score through
# one (sts_lab.search.sweep_cache); a single run computes it.
NumberCache = Callable[[Mapping[str, Any], Callable[[], float]], tuple[float, bool]]


def no_cache(key: Mapping[str, Any], compute: Callable[[], float]) -> tuple[float, bool]:
    return compute(), False


def prepare(cfg: DictConfig) -> Precision:
    """Check the config (every bad value refused before data or model load) and choose the precision: once per
    job, before anything is logged (sts_lab.job), or by ``train`` itself when called alone."""
    validate(cfg)
    try:  # what this machine can do: bf16 on a CPU without native bf16, fp16 on a CPU
        precision = choose_precision(cfg.trainer.precision)
    except ValueError as error:
        raise StsLabError(f"trainer.precision={cfg.trainer.precision!r}: {error}") from None
    log.info("Precision %s on %s (%s)", precision.name, precision.device, precision.reason)
    return precision


def train(
    cfg: DictConfig, output_dir: Path, callbacks: Sequence[TrainerCallback] = (), precision: Precision | None = None,
    cached: NumberCache = no_cache,
) -> dict[str, float]:
    """Run the experiment ``cfg`` and write its results into ``output_dir``; returns the metrics.

    ``metrics.json`` is written last: its presence marks a finished run. ``callbacks`` join the trainer
    (experiment trackers, pruners); ``precision`` is ``prepare(cfg)``'s (called here when None).
    """
    precision = precision or prepare(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
    model = build_model(cfg.model, cfg.pooling, cfg.encoder.type)
    log.info("Model %s: %.1fM parameters on %s", cfg.model.name_or_path, count_parameters(model) / 1e6, model.device)
    zero_shot = zero_shot_score(cfg, model, splits["test"], cached)
    trainer = build_trainer(cfg, model, splits, output_dir, precision, callbacks)
    result, train_seconds = run(trainer, output_dir)
    model = trained_model(trainer, model, output_dir)
    dev, test = (score_split(model, splits[split], cfg.trainer.eval_batch_size) for split in ("dev", "test"))
    metrics = collect_metrics(trainer, result, train_seconds, zero_shot, dev, test, count_parameters(model))
    log.info("Dev Spearman %.4f | test Spearman %.4f (zero-shot %s) | %d steps in %.0f s", dev.spearman,
             test.spearman, "none" if zero_shot is None else f"{zero_shot:.4f}", metrics["steps"], train_seconds)
    write_outputs(cfg, output_dir, model, trainer, splits["test"]["score"], test, {**metrics, "precision": precision.name})
    return metrics


def zero_shot_score(cfg: DictConfig, model: Model, test: Any, cached: NumberCache) -> float | None:
    """Test Spearman before training; None for a cross-encoder whose head is new (its scores are random)."""
    if not has_trained_head(model):
        log.info("Zero-shot test Spearman: none (a new cross-encoder head scores at random)")
        return None
    score, from_cache = cached(zero_shot_key(cfg), lambda: score_split(model, test, cfg.trainer.eval_batch_size).spearman)
    log.info("Zero-shot test Spearman %.4f%s", score, " (scored by an earlier job of this sweep)" if from_cache else "")
    return score


def build_trainer(
    cfg: DictConfig, model: Model, splits: Mapping[str, Any], output_dir: Path, precision: Precision,
    callbacks: Sequence[TrainerCallback],
) -> SentenceTransformerTrainer | CrossEncoderTrainer:
    sampler = batch_sampler(cfg.trainer, splits["train"], model)
    trainer_class = CrossEncoderTrainer if cfg.encoder.type == CROSS else SentenceTransformerTrainer
    return trainer_class(
        model=model,
        args=training_arguments(cfg, output_dir / "trainer", precision, sampler),
        train_dataset=splits["train"],
        loss=build_loss(cfg.loss, model),
        evaluator=dev_evaluator(splits["dev"], cfg.trainer.eval_batch_size, cfg.encoder.type),
        callbacks=[*callbacks, *early_stopping(cfg.trainer)],
    )


def run(trainer: SentenceTransformerTrainer, output_dir: Path) -> tuple[Any, float]:
    """Train; a pruned or failed run keeps the dev curve it got so far. Returns the result and its seconds."""
    started = time.perf_counter()
    try:
        result = trainer.train()
    except BaseException:
        write_rows(output_dir / DEV_CURVE_FILE, dev_curve(trainer.state.log_history))
        raise
    return result, time.perf_counter() - started


def trained_model(trainer: SentenceTransformerTrainer, model: Model, output_dir: Path) -> Model:
    """The model to score: with early stopping the best dev one (loaded by the trainer; its checkpoint copies
    are removed). Evaluations during training ran in the training precision (accelerate wraps the forward in
    autocast); the final scores are fp32, with that wrapper removed, so they compare across precisions."""
    if stopped_early(trainer) is not None:
        log.info("Early stopping at step %d; the best dev evaluation (step %s) is the model kept",
                 trainer.state.global_step, trainer.state.best_global_step)
    for checkpoint in (output_dir / "trainer").glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    return trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)


def stopped_early(trainer: SentenceTransformerTrainer) -> int | None:
    """The step early stopping ended training at; None when the run took all its steps."""
    return trainer.state.global_step if trainer.state.global_step < trainer.state.max_steps else None


def collect_metrics(trainer: SentenceTransformerTrainer, result: Any, train_seconds: float, zero_shot: float | None,
                    dev: SplitScores, test: SplitScores, parameters: int) -> dict[str, float]:
    """The values of ``names.METRIC_NAMES`` (a test checks the two agree)."""
    curve = dev_curve(trainer.state.log_history)
    return {
        "zero_shot_test_spearman": zero_shot,
        "dev_spearman": dev.spearman,
        "dev_pearson": dev.pearson,
        "best_dev_spearman": max([row["dev_spearman"] for row in curve] + [dev.spearman]),
        "test_spearman": test.spearman,
        "test_pearson": test.pearson,
        "train_loss": result.training_loss,
        "train_seconds": train_seconds,
        "train_samples_per_second": result.metrics["train_samples_per_second"],
        "steps": trainer.state.global_step,
        "stopped_at_step": stopped_early(trainer),
        "parameters": parameters,
    }


def write_outputs(cfg: DictConfig, output_dir: Path, model: Model, trainer: SentenceTransformerTrainer,
                  gold: Sequence[float], test: SplitScores, metrics: Mapping[str, Any]) -> None:
    """The model (``trainer.save_model``), the dev curve, the test predictions, and ``metrics.json`` last."""
    if cfg.trainer.save_model:
        model.save(str(output_dir / "model"))
    write_rows(output_dir / DEV_CURVE_FILE, dev_curve(trainer.state.log_history))
    column = PREDICTION_COLUMNS[cfg.encoder.type]
    write_rows(output_dir / TEST_PREDICTIONS_FILE,
               [{"gold": score, column: float(prediction)} for score, prediction in zip(gold, test.predictions)])
    (output_dir / METRICS_FILE).write_text(json.dumps(dict(metrics), indent=2) + "\n")


class EarlyStoppingAfterWarmup(EarlyStoppingCallback):
    """transformers' EarlyStoppingCallback, counting patience only from ``warmup_steps`` on: it has no warm-up of its
    own, and the rank losses' dev Spearman dips below its first evaluations before it recovers."""

    def __init__(self, patience: int, threshold: float, warmup_steps: int):
        super().__init__(patience, threshold)
        self.warmup_steps = warmup_steps

    def check_metric_value(self, args, state, control, metric_value) -> None:
        if state.global_step >= self.warmup_steps:
            super().check_metric_value(args, state, control, metric_value)


def early_stopping(trainer_cfg: DictConfig) -> list[TrainerCallback]:
    """Early stopping when trainer.early_stopping_patience is set (the training arguments then track the best dev
    Spearman: sts_lab.run.training_args.checkpointing)."""
    if trainer_cfg.early_stopping_patience is None:
        return []
    return [EarlyStoppingAfterWarmup(trainer_cfg.early_stopping_patience, trainer_cfg.early_stopping_threshold,
                                     trainer_cfg.early_stopping_warmup_steps)]


def zero_shot_key(cfg: DictConfig) -> dict:
    """All that decides the zero-shot test score: the model before training (the seed initialises a random
    one), its pooling, the test pairs and the evaluation batch (padding)."""
    parts = {name: OmegaConf.to_container(cfg[name], resolve=True)
             for name in ("model", "encoder", "pooling", "data", "normalization")}
    return {"metric": "zero_shot_test_spearman", **parts, "seed": cfg.seed, "eval_batch_size": cfg.trainer.eval_batch_size}


def count_parameters(model: Model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def dev_curve(log_history: list[dict]) -> list[dict]:
    """Dev Spearman/Pearson at every evaluation the trainer ran, from its log history."""
    return [
        {"step": entry["step"], "epoch": entry["epoch"], "dev_spearman": scores[0], "dev_pearson": scores[1]}
        for entry in log_history
        if (scores := dev_scores(entry)) is not None
    ]


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["step"])
        writer.writeheader()
        writer.writerows(rows)
