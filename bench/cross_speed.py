"""Benchmark: the cross-encoder against the bi-encoder on the same base model and precision, pairs per second.

Training: sts_lab's own trainer setup (``encoder=bi loss=cosent`` against ``encoder=cross loss=bce``), full STSb
train, batch 16, random batches, no evaluation, in alternating blocks (bi, cross, cross, bi, ...) so both see the same machine
load; the median step (the first 2 of each block left out) gives pairs per second. Scoring: the whole STSb test
set (1379 pairs) as a run scores it at the end (``sts_lab.run.evaluation.score_split``: the bi-encoder encodes
each distinct sentence once and takes cosines, the cross-encoder runs every pair through the model), in the
same precision, best of ``--repeats``:

    python bench/cross_speed.py --data ../shared/data/stsb       # MiniLM, 4 blocks of 20 steps per encoder
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from shapes import packaged_minilm
from speed import step_clock

ENCODERS = {"bi": ["encoder=bi", "loss=cosent"], "cross": ["encoder=cross", "loss=bce"]}
WARM_UP = 2


def compose(data: Path, encoder: str, extra: list[str]):
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=[
            "model=minilm", f"model.name_or_path={packaged_minilm()}", f"data.path={data.resolve()}", "logger=none",
            *ENCODERS[encoder], *extra,
        ])


def train_block(cfg, workdir: Path) -> list[float]:
    """Seconds of each training step of one block (a fresh model and trainer), evaluation off."""
    from transformers import set_seed
    from transformers.trainer_utils import IntervalStrategy

    from sts_lab.run.data import load_splits
    from sts_lab.run.modeling import build_model
    from sts_lab.run.normalization import normalize
    from sts_lab.run.precision import choose_precision
    from sts_lab.run.train import build_trainer

    set_seed(cfg.seed)
    splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
    model = build_model(cfg.model, cfg.pooling, cfg.encoder.type)
    clock = step_clock()
    trainer = build_trainer(cfg, model, splits, workdir, choose_precision(cfg.trainer.precision), [clock])
    trainer.args.eval_strategy = IntervalStrategy.NO  # training steps only
    trainer.train()
    return clock.seconds()


def scoring_seconds(cfg, repeats: int) -> tuple[float, int]:
    """Best wall time of scoring the test split as train() does, in the training precision; and the pair count."""
    import torch

    from sts_lab.run.data import load_splits
    from sts_lab.run.evaluation import score_split
    from sts_lab.run.modeling import build_model
    from sts_lab.run.precision import choose_precision

    precision = choose_precision(cfg.trainer.precision)
    test = load_splits(cfg.data)["test"]
    model = build_model(cfg.model, cfg.pooling, cfg.encoder.type)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision.name)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode(), torch.autocast(precision.device, dtype=dtype, enabled=dtype is not None):
            score_split(model, test, cfg.trainer.eval_batch_size)
        times.append(time.perf_counter() - started)
    return min(times), len(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="directory of the original STS Benchmark files")
    parser.add_argument("--steps", type=int, default=20, help="training steps per block")
    parser.add_argument("--blocks", type=int, default=4, help="blocks per encoder, alternating")
    parser.add_argument("--repeats", type=int, default=3, help="test-set scorings per encoder (the best counts)")
    parser.add_argument("--precision", default="auto", help="trainer.precision, the same for both encoders")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 stays steady on a shared machine)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    extra = [f"trainer.max_steps={args.steps}", f"trainer.precision={args.precision}", "trainer.batch_sampler=random"]
    steps = {encoder: [] for encoder in ENCODERS}
    order = [encoder for block in range(args.blocks) for encoder in (("bi", "cross") if block % 2 == 0 else ("cross", "bi"))]
    with tempfile.TemporaryDirectory() as workdir:
        for block, encoder in enumerate(order):
            cfg = compose(args.data, encoder, [*extra, f"seed={42 + block // 2}"])
            steps[encoder] += train_block(cfg, Path(workdir) / f"{block}")
    batch = compose(args.data, "bi", extra).trainer.batch_size
    print(f"threads {args.threads}, precision {args.precision}, batch {batch}, {args.blocks} blocks x {args.steps} steps")
    print("| encoder | train s/step (median) | train pairs/s | test scoring s | test pairs/s |")
    print("|---|---|---|---|---|")
    for encoder in ENCODERS:
        step = statistics.median(steps[encoder])
        seconds, pairs = scoring_seconds(compose(args.data, encoder, extra), args.repeats)
        print(f"| {encoder} | {step:.3f} | {batch / step:.1f} | {seconds:.2f} | {pairs / seconds:.0f} |")


if __name__ == "__main__":
    main()
