"""Benchmark: the share of a run spent in dev evaluation, before and after sts_lab's PairSimilarityEvaluator.

Times one dev evaluation (1500 STSb dev pairs) in CPU seconds of its one thread (the work done, whatever else the
machine runs), in the run's precision (bf16 autocast on a CPU with AVX512-BF16, as the trainer runs it), in
alternating rounds: sentence-transformers' EmbeddingSimilarityEvaluator at batch 64 (what sts_lab used before) and
PairSimilarityEvaluator (each distinct sentence once, both columns in one pass) at each --batch-sizes; prints the
dev Spearman of each (must agree within 1e-4) and its difference from fp32. Then times training steps (random and
length batches, as bench/speed.py) and projects the share of a 4-epoch run with the default trainer.eval_steps
(10 evaluations in 1440 steps) spent evaluating:

    python bench/eval_cost.py --data ../shared/data/stsb
    python bench/eval_cost.py --data ../shared/data/stsb --model mpnet --repeat 1 --batch-sizes 64 --train-steps 15
    python bench/eval_cost.py --from-log /tmp/bench_runs/quality.log   # the share in finished runs (trainer timings)
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import statistics
import tempfile
import time
from pathlib import Path

from shapes import MODELS, model_overrides
from speed import run_block

BENCH_DIR = Path(__file__).resolve().parent


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(BENCH_DIR.parent / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def evaluations_per_run(cfg, train_pairs: int) -> tuple[int, int]:
    """Training steps and dev evaluations of a full run of ``cfg`` (transformers' rule for eval_steps < 1)."""
    steps = int(cfg.trainer.epochs * math.ceil(train_pairs / cfg.trainer.batch_size))
    every = math.ceil(cfg.trainer.eval_steps * steps) if cfg.trainer.eval_steps < 1 else int(cfg.trainer.eval_steps)
    return steps, steps // every


def shares_from_log(log: Path) -> None:
    """The evaluation share of every job of a multirun whose training ended, from the trainer's own timings in its
    console log: the sum of eval_runtime over train_runtime (which includes the evaluations)."""
    jobs = re.split(r"\[HYDRA\]\s+#\d+ : ", log.read_text(errors="replace"))[1:]
    for job in jobs:
        trained = re.search(r"'train_runtime': '([\d.]+)'", job)
        if not trained:
            continue
        evaluations = [float(v) for v in re.findall(r"'eval_runtime': '([\d.]+)'", job)]
        label = " ".join(o for o in job.split()[:3])
        print(f"{label:48s} {len(evaluations)} evaluations {sum(evaluations):6.0f} s of {float(trained[1]):6.0f} s "
              f"training: {sum(evaluations) / float(trained[1]):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-log", type=Path, help="a multirun's console log: print its jobs' shares, nothing else")
    parser.add_argument("--data", type=Path, help="directory of the original STS Benchmark files")
    parser.add_argument("--model", choices=MODELS, default="minilm")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of every variant")
    parser.add_argument("--train-steps", type=int, default=30, help="training steps timed per sampler")
    parser.add_argument("--step-seconds", type=float, nargs=2, metavar=("RANDOM", "LENGTH"),
                        help="seconds per training step measured elsewhere (bench/speed.py's medians): no timing here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (see bench/speed.py)")
    args = parser.parse_args()
    if args.from_log:
        shares_from_log(args.from_log)
        return
    if not args.data:
        parser.error("--data is required")

    import torch
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from sts_lab.run.data import load_splits
    from sts_lab.run.evaluation import dev_evaluator
    from sts_lab.run.modeling import build_model
    from sts_lab.run.normalization import normalize
    from sts_lab.run.precision import choose_precision

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = [*model_overrides(args.model, Path(tmp)), "data=stsb", f"data.path={args.data.resolve()}"]
        cfg = compose(base)
        precision = choose_precision(cfg.trainer.precision)
        splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
        dev = splits["dev"]
        model = build_model(cfg.model, cfg.pooling)
        # What accelerate wraps the model's forward in during training; fp32 adds nothing.
        autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision.name == "bf16" else contextlib.nullcontext

        variants = {"before: EmbeddingSimilarityEvaluator, batch 64": EmbeddingSimilarityEvaluator(
            dev["sentence1"], dev["sentence2"], dev["score"], batch_size=64, main_similarity="cosine",
            similarity_fn_names=["cosine"], name="dev", write_csv=False)}
        variants.update({f"after: PairSimilarityEvaluator, batch {b}": dev_evaluator(dev, b) for b in args.batch_sizes})
        # CPU seconds of this process: with one thread, the work an evaluation takes, whatever else runs.
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        scores: dict[str, float] = {}
        for round_ in range(args.repeat):
            for name in variants if round_ % 2 == 0 else reversed(variants):
                started = time.process_time()
                with autocast():
                    scores[name] = variants[name](model)["dev_spearman_cosine"]
                seconds[name].append(time.process_time() - started)
        fp32 = dev_evaluator(dev, 64)(model)["dev_spearman_cosine"]

        step_seconds = dict(zip(("random", "length"), args.step_seconds or ()))
        for sampler in () if step_seconds else ("random", "length"):
            block = compose([*base, f"trainer.batch_sampler={sampler}", f"trainer.max_steps={args.train_steps}"])
            step_seconds[sampler] = statistics.mean(run_block(block, Path(tmp) / sampler)["cpu_seconds"])

    steps, evaluations = evaluations_per_run(cfg, len(splits["train"]))
    print(f"\n{args.model}, {precision.name} on {precision.device}, {args.threads} torch thread(s), "
          f"{len(dev)} dev pairs; fp32 dev Spearman {fp32:.6f}")
    print(f"training: random {step_seconds['random']:.3f} s/step, length {step_seconds['length']:.3f} s/step "
          f"({'given' if args.step_seconds else f'CPU s, means of {args.train_steps} steps less warm-up'}); a full run: {steps} steps, {evaluations} evaluations")
    reference = scores[next(iter(variants))]
    for name in variants:
        evaluation = statistics.median(seconds[name])
        shares = {s: evaluations * evaluation / (steps * step_seconds[s] + evaluations * evaluation) for s in step_seconds}
        print(f"{name:48s} {evaluation:6.2f} CPU s per evaluation (median of {args.repeat})  dev Spearman {scores[name]:.6f} "
              f"(vs before {scores[name] - reference:+.1e}, vs fp32 {scores[name] - fp32:+.1e})  "
              f"share of a run: random {shares['random']:.1%}, length {shares['length']:.1%}")


if __name__ == "__main__":
    main()
