"""One experiment: fine-tune a SentenceTransformer on STS pairs and measure Spearman on dev and test."""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from transformers import TrainerCallback, set_seed

from sts_lab.data import load_splits
from sts_lab.evaluation import DEV_PEARSON_LOG_KEY, DEV_SPEARMAN_LOG_KEY, dev_evaluator, score_split
from sts_lab.losses import build_loss
from sts_lab.modeling import build_model
from sts_lab.normalization import normalize
from sts_lab.outputs import DEV_CURVE_FILE, METRIC_NAMES, METRICS_FILE, TEST_PREDICTIONS_FILE
from sts_lab.precision import choose_precision
from sts_lab.sweep_cache import cached_number
from sts_lab.training_args import training_arguments
from sts_lab.validation import validate

log = logging.getLogger(__name__)


def train(
    cfg: DictConfig, output_dir: Path, callbacks: Sequence[TrainerCallback] = (), cache_dir: Path | None = None,
) -> dict[str, float]:
    """Run the experiment ``cfg`` and write its results into ``output_dir``; returns the metrics.

    ``metrics.json`` is written last: its presence marks a finished run. ``callbacks`` join the trainer
    (experiment trackers, pruners). ``cache_dir`` (a sweep's) shares the zero-shot score between its jobs.
    """
    validate(cfg)
    precision = choose_precision(cfg.trainer.precision)
    log.info("Precision %s on %s (%s)", precision.name, precision.device, precision.reason)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
    model = build_model(cfg.model, cfg.pooling)
    batch_size = cfg.trainer.eval_batch_size
    log.info("Model %s: %.1fM parameters on %s", cfg.model.name_or_path, count_parameters(model) / 1e6, model.device)

    zero_shot, cached = cached_number(
        cache_dir, zero_shot_key(cfg), lambda: score_split(model, splits["test"], batch_size).spearman
    )
    log.info("Zero-shot test Spearman %.4f%s", zero_shot, " (scored by an earlier job of this sweep)" if cached else "")

    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_arguments(cfg, output_dir / "trainer", precision),
        train_dataset=splits["train"],
        loss=build_loss(cfg.loss, model),
        evaluator=dev_evaluator(splits["dev"], batch_size),
        callbacks=list(callbacks),
    )
    started = time.perf_counter()
    try:
        result = trainer.train()
    except BaseException:  # a pruned or failed run keeps the dev curve it got so far
        write_rows(output_dir / DEV_CURVE_FILE, dev_curve(trainer.state.log_history))
        raise
    train_seconds = time.perf_counter() - started
    # Evaluations during training ran in the training precision (accelerate wraps the model's forward in
    # autocast); the final scores are fp32, with that wrapper removed, so they compare across precisions.
    model = trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)

    dev = score_split(model, splits["dev"], batch_size)
    test = score_split(model, splits["test"], batch_size)
    curve = dev_curve(trainer.state.log_history)
    metrics = {
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
        "parameters": count_parameters(model),
    }
    assert set(metrics) == set(METRIC_NAMES), "outputs.METRIC_NAMES is out of date"
    log.info(
        "Dev Spearman %.4f | test Spearman %.4f (zero-shot %.4f) | %d steps in %.0f s",
        dev.spearman, test.spearman, zero_shot, metrics["steps"], train_seconds,
    )
    if cfg.trainer.save_model:
        model.save(str(output_dir / "model"))
    write_rows(output_dir / DEV_CURVE_FILE, curve)
    write_rows(output_dir / TEST_PREDICTIONS_FILE, [
        {"gold": gold, "cosine": float(pred)} for gold, pred in zip(splits["test"]["score"], test.predictions)
    ])
    (output_dir / METRICS_FILE).write_text(json.dumps({**metrics, "precision": precision.name}, indent=2) + "\n")
    return metrics


def zero_shot_key(cfg: DictConfig) -> dict:
    """All that decides the zero-shot test score: the model before training (the seed initialises a random
    one), its pooling, the test pairs and the evaluation batch (padding)."""
    parts = {name: OmegaConf.to_container(cfg[name], resolve=True) for name in ("model", "pooling", "data", "normalization")}
    return {"metric": "zero_shot_test_spearman", **parts, "seed": cfg.seed, "eval_batch_size": cfg.trainer.eval_batch_size}


def count_parameters(model: SentenceTransformer) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def dev_curve(log_history: list[dict]) -> list[dict]:
    """Dev Spearman/Pearson at every evaluation the trainer ran, from its log history."""
    return [
        {"step": entry["step"], "epoch": entry["epoch"], "dev_spearman": entry[DEV_SPEARMAN_LOG_KEY],
         "dev_pearson": entry[DEV_PEARSON_LOG_KEY]}
        for entry in log_history
        if DEV_SPEARMAN_LOG_KEY in entry
    ]


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["step"])
        writer.writeheader()
        writer.writerows(rows)
