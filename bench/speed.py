"""Benchmark: random against length-grouped batches (trainer.batch_sampler), side by side.

Trains with sts_lab's own training arguments and loss (CoSENT by default), full STSb train, batch 16, the same
precision and seed for both samplers, in alternating blocks (random, length, length, random, random, ...) so that
both see the same machine load; each block is a fresh model and trainer (seed = --seed + block, so each block
draws other batches, the same for both samplers) and no evaluation. Prints, per sampler, the median seconds per
step (the first 2 steps of each block left out as warm-up), real and padded tokens per step (what the data
collator hands the model, both sentences), the padding share, and the speed-up:

    python bench/speed.py --data ../shared/data/stsb                                # MiniLM, 4 blocks of 20 steps
    python bench/speed.py --data ../shared/data/stsb --model mpnet --blocks 2 --steps 25   # 50 steps each
    python bench/speed.py --data ../shared/data/stsb --tokens-only   # one whole epoch's tokens per sampler, no training
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from shapes import MODELS, model_overrides

BENCH_DIR = Path(__file__).resolve().parent
SAMPLERS = ("random", "length")
WARM_UP = 2  # steps per block left out of the timing


class CountingCollator:
    """Wraps the trainer's data collator and counts the tokens it hands the model: real (attention mask) and padded."""

    def __init__(self, collate) -> None:
        self.collate, self.real, self.padded = collate, 0, 0

    def __call__(self, features):
        batch = self.collate(features)
        for key, value in batch.items():
            if key.endswith("attention_mask"):
                self.real += int(value.sum())
                self.padded += value.numel()
        return batch

    def __getattr__(self, name):  # valid_label_columns and the rest: the wrapped collator's
        return getattr(self.collate, name)


def step_clock():
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall and CPU time (this process's) of every training step, data loading included (time between two
        step ends). With one thread, CPU time is the work done, whatever else the machine runs."""

        def __init__(self) -> None:
            self.ends: list[tuple[float, float]] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.ends = [(time.perf_counter(), time.process_time())]

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append((time.perf_counter(), time.process_time()))

        def seconds(self, clock: int = 0) -> list[float]:
            return [b[clock] - a[clock] for a, b in zip(self.ends, self.ends[1:])][WARM_UP:]

    return StepClock()


def run_block(cfg, workdir: Path) -> dict:
    """Train ``cfg`` for its max_steps without evaluation; returns step times and token counts."""
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import set_seed
    from transformers.trainer_utils import IntervalStrategy

    from sts_lab.run.batching import batch_sampler
    from sts_lab.run.data import load_splits
    from sts_lab.run.losses import build_loss
    from sts_lab.run.modeling import build_model
    from sts_lab.run.normalization import normalize
    from sts_lab.run.training_args import training_arguments

    set_seed(cfg.seed)
    splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
    model = build_model(cfg.model, cfg.pooling)
    clock = step_clock()
    args = training_arguments(cfg, workdir, batch_sampler=batch_sampler(cfg.trainer, splits["train"], model))
    args.eval_strategy = IntervalStrategy.NO  # training steps only
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=splits["train"], loss=build_loss(cfg.loss, model), callbacks=[clock],
    )
    trainer.data_collator = counter = CountingCollator(trainer.data_collator)
    trainer.train()
    steps = trainer.state.global_step
    return {"seconds": clock.seconds(), "cpu_seconds": clock.seconds(1), "real": counter.real / steps, "padded": counter.padded / steps}


def epoch_tokens(cfg) -> dict[str, tuple[int, int]]:
    """Real and padded token positions over one whole epoch of each sampler (epoch 0, seed cfg.seed), as the
    collator pads: each sentence column to its batch's longest. No training: the samplers and the tokenizer only."""
    import torch
    from torch.utils.data import RandomSampler

    from sts_lab.run.batching import batch_sampler
    from sts_lab.run.data import load_splits
    from sts_lab.run.modeling import build_model

    train = load_splits(cfg.data)["train"]
    model = build_model(cfg.model, cfg.pooling)
    columns = [[len(ids) for ids in model.tokenizer(list(train[c]), truncation=True, max_length=model.max_seq_length)["input_ids"]]
               for c in ("sentence1", "sentence2")]
    samplers = {
        # What SentenceTransformerTrainer builds for BatchSamplers.BATCH_SAMPLER, with its seeded generator.
        "random": torch.utils.data.BatchSampler(RandomSampler(train, generator=torch.Generator().manual_seed(cfg.seed)),
                                                   cfg.trainer.batch_size, False),
        "length": batch_sampler(cfg.trainer, train, model)(train, batch_size=cfg.trainer.batch_size, drop_last=False,
                                                           seed=cfg.seed),
    }
    counts = {}
    for name, sampler in samplers.items():
        batches = list(sampler)
        real = sum(lengths[i] for batch in batches for lengths in columns for i in batch)
        padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches for lengths in columns)
        counts[name] = (real, padded)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="directory of the original STS Benchmark files")
    parser.add_argument("--model", choices=MODELS, default="minilm")
    parser.add_argument("--loss", default="cosent")
    parser.add_argument("--steps", type=int, default=20, help="training steps per block")
    parser.add_argument("--blocks", type=int, default=4, help="blocks per sampler, alternating")
    parser.add_argument("--precision", default="auto", help="trainer.precision, the same for both samplers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 stays steady on a machine shared with other work, where two threads "
                             "wait on each other whenever one is descheduled")
    parser.add_argument("--tokens-only", action="store_true", help="only the whole-epoch token counts (no training)")
    args = parser.parse_args()
    if args.tokens_only:
        print_epoch_tokens(args)
        return

    import torch
    from hydra import compose, initialize_config_dir

    torch.set_num_threads(args.threads)

    from sts_lab.run.precision import choose_precision

    results: dict[str, list[dict]] = {sampler: [] for sampler in SAMPLERS}
    with tempfile.TemporaryDirectory() as tmp:
        models = model_overrides(args.model, Path(tmp))
        for block in range(args.blocks):
            # ABBA order: a drift in machine load over time hits both samplers alike.
            for sampler in SAMPLERS if block % 2 == 0 else SAMPLERS[::-1]:
                overrides = [
                    *models, f"loss={args.loss}", "data=stsb", f"data.path={args.data.resolve()}",
                    f"trainer.batch_sampler={sampler}", f"trainer.precision={args.precision}",
                    f"trainer.max_steps={args.steps}", f"seed={args.seed + block}",
                ]
                with initialize_config_dir(config_dir=str(BENCH_DIR.parent / "conf"), version_base="1.3"):
                    cfg = compose(config_name="train", overrides=overrides)
                results[sampler].append(run_block(cfg, Path(tmp) / f"{sampler}-{block}"))
                last = results[sampler][-1]
                print(f"block {block} {sampler:6s} median {statistics.median(last['seconds']):.3f} s/step", flush=True)

    precision = choose_precision(args.precision)
    print(f"\n{args.model}, {args.loss}, batch 16, {precision.name} on {precision.device}, seeds {args.seed}..{args.seed + args.blocks - 1}, "
          f"{args.blocks} blocks x {args.steps} steps per sampler ({WARM_UP} warm-up steps per block not timed), "
          f"{args.threads} torch thread(s)")
    per_step = {}
    for sampler, blocks in results.items():
        seconds = [s for block in blocks for s in block["seconds"]]
        real, padded = (statistics.mean(block[key] for block in blocks) for key in ("real", "padded"))
        per_step[sampler] = statistics.median(seconds)
        print(f"{sampler:6s}  {per_step[sampler]:.3f} s/step (median of {len(seconds)}; mean {statistics.mean(seconds):.3f})  "
              f"tokens/step {padded:.0f} padded, {real:.0f} real  padding {1 - real / padded:.1%}")
    print(f"speed-up per step (random / length, medians): {per_step['random'] / per_step['length']:.2f}x  (target >= 1.5)")
    print_epoch_tokens(args)


def print_epoch_tokens(args: argparse.Namespace) -> None:
    from hydra import compose, initialize_config_dir

    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(config_dir=str(BENCH_DIR.parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            *model_overrides(args.model, Path(tmp)), "data=stsb", f"data.path={args.data.resolve()}",
            "trainer.batch_sampler=length", f"seed={args.seed}"])
        counts = epoch_tokens(cfg)
    for sampler, (real, padded) in counts.items():
        print(f"one epoch (seed {args.seed}), {sampler:6s}: {real} real tokens in {padded} padded positions ({real / padded:.0%} real)")


if __name__ == "__main__":
    main()
