"""Benchmark: sts_lab against a bare SentenceTransformerTrainer script, and GPU throughput.

CPU mode (default) runs the same recipe twice in one process tree, ``python -m sts_lab`` and
``bench/bare_trainer.py``, both in fp32, and prints the time-per-step ratio (target <= 1.03) and both test
Spearmans:

    python bench/compare.py --data ../shared/data/stsb              # 4 epochs, ~30 min on 2 cores
    python bench/compare.py --data ../shared/data/stsb --max-steps 60   # a quick look

Precision mode runs ``python -m sts_lab`` with ``trainer.precision=fp32`` and ``auto`` (bf16 autocast on a CPU
with AVX512-BF16/AMX), same seed, and prints the speed-up per step (target >= 1.7) and both test Spearmans
(target |difference| <= 0.003):

    python bench/compare.py --precision --data ../shared/data/stsb

GPU mode trains a bert-base-shaped BERT built from its config (random weights, nothing downloaded) with
``trainer.precision=auto`` and prints samples/s, peak GPU memory and the fraction of peak bf16 throughput:

    python bench/compare.py --gpu --data ../shared/data/stsb --max-steps 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from shapes import packaged_minilm

BENCH_DIR = Path(__file__).resolve().parent
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512}


def run_sts_lab(args: argparse.Namespace, model: str, workdir: Path, precision: str = "fp32", *extra: str) -> dict:
    overrides = [
        f"trainer.precision={precision}", "trainer.batch_sampler=random",  # the bare trainer's batches
        "model=minilm", f"model.name_or_path={model}", f"loss={args.loss}",
        "data=stsb", f"data.path={args.data}", f"trainer.epochs={args.epochs}", f"optimizer.lr={args.lr}",
        f"seed={args.seed}", f"hydra.run.dir={workdir}", *extra,
    ]
    if args.max_steps:
        overrides.append(f"trainer.max_steps={args.max_steps}")
    subprocess.run([sys.executable, "-m", "sts_lab", *overrides], check=True)
    return json.loads((workdir / "metrics.json").read_text())


def run_bare(args: argparse.Namespace, model: str, workdir: Path) -> dict:
    command = [
        sys.executable, str(BENCH_DIR / "bare_trainer.py"), "--model", model, "--data", str(args.data),
        "--loss", args.loss, "--epochs", str(args.epochs), "--lr", str(args.lr), "--seed", str(args.seed),
        "--output-dir", str(workdir), "--max-steps", str(args.max_steps or -1),
    ]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def cpu_mode(args: argparse.Namespace) -> None:
    model = packaged_minilm()
    with tempfile.TemporaryDirectory() as tmp:
        bare = run_bare(args, model, Path(tmp) / "bare")
        ours = run_sts_lab(args, model, Path(tmp) / "sts_lab")
    ours_per_step = ours["train_seconds"] / ours["steps"]
    bare_per_step = bare["train_seconds"] / bare["steps"]
    print(f"steps                 sts_lab {ours['steps']:>8d}   bare {bare['steps']:>8d}")
    print(f"seconds per step      sts_lab {ours_per_step:8.3f}   bare {bare_per_step:8.3f}")
    print(f"time-per-step ratio   {ours_per_step / bare_per_step:.3f}  (target <= 1.03)")
    print(f"test Spearman         sts_lab {ours['test_spearman']:8.4f}   bare {bare['test_spearman']:8.4f}"
          f"   (zero-shot {ours['zero_shot_test_spearman']:.4f})")


def precision_mode(args: argparse.Namespace) -> None:
    model = packaged_minilm()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {precision: run_sts_lab(args, model, Path(tmp) / precision, precision, "trainer.save_model=true")
                for precision in ("fp32", "auto")}
        rescored = score_saved_model(Path(tmp) / "auto" / "model", args.data)
    fp32, auto = runs["fp32"], runs["auto"]
    per_step = {precision: run["train_seconds"] / run["steps"] for precision, run in runs.items()}
    print(f"precision             fp32 {fp32['precision']:>8}   auto {auto['precision']:>8}   ({fp32['steps']} steps)")
    print(f"seconds per step      fp32 {per_step['fp32']:8.3f}   auto {per_step['auto']:8.3f}")
    print(f"speed-up per step     {per_step['fp32'] / per_step['auto']:.2f}x  (target >= 1.7)")
    print(f"test Spearman         fp32 {fp32['test_spearman']:8.4f}   auto {auto['test_spearman']:8.4f}"
          f"   difference {auto['test_spearman'] - fp32['test_spearman']:+.4f}  (target |d| <= 0.003)")
    print(f"dev Spearman          fp32 {fp32['dev_spearman']:8.4f}   auto {auto['dev_spearman']:8.4f}")
    print(f"auto's weights, test  metrics.json {auto['test_spearman']:.4f}   fresh fp32 {rescored['fp32']:.4f}"
          f" ({rescored['fp32'] - auto['test_spearman']:+.5f}, target |d| <= 0.0005)   bf16 autocast "
          f"{rescored['bf16']:.4f} ({rescored['bf16'] - rescored['fp32']:+.5f}: what in-training evaluations see)")


def score_saved_model(model_dir: Path, data: Path) -> dict[str, float]:
    """Test Spearman of a saved model in a fresh process-local load: fp32, and under CPU bf16 autocast."""
    import torch
    from hydra import compose, initialize_config_dir
    from sentence_transformers import SentenceTransformer

    from sts_lab.run.data import load_splits
    from sts_lab.run.evaluation import score_split
    from sts_lab.run.normalization import normalize

    with initialize_config_dir(config_dir=str(BENCH_DIR.parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["data=stsb", f"data.path={data}"])
    test = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)["test"]
    model = SentenceTransformer(str(model_dir))
    fp32 = score_split(model, test, 64).spearman
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = score_split(model, test, 64).spearman
    return {"fp32": fp32, "bf16": bf16}


def gpu_mode(args: argparse.Namespace) -> None:
    import torch
    from hydra import compose, initialize_config_dir

    from sts_lab.run.train import train

    overrides = [
        "model=tiny", "model.max_seq_length=128", "data=stsb", f"data.path={args.data}", f"loss={args.loss}",
        "trainer.batch_size=32", f"trainer.max_steps={args.max_steps or 300}", "trainer.eval_steps=0.5",
        "trainer.precision=auto", *(f"model.random_init.{key}={value}" for key, value in BERT_BASE.items()),
    ]
    with initialize_config_dir(config_dir=str(BENCH_DIR.parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    on_gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(cfg, Path(tmp))
    samples_per_second = metrics["train_samples_per_second"]
    print(f"device                {torch.cuda.get_device_name() if on_gpu else 'cpu'}")
    print(f"samples/s             {samples_per_second:.1f}  (pairs; batch 32, {metrics['steps']} steps)")
    if not on_gpu:
        return
    print(f"peak GPU memory       {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    # Training costs ~6 FLOPs per parameter per token (forward 2, backward 4); two sentences per pair.
    tokens_per_pair = 2 * mean_tokens_per_sentence(cfg)
    achieved = 6 * metrics["parameters"] * tokens_per_pair * samples_per_second
    print(f"model FLOP/s          {achieved / 1e12:.1f} TFLOP/s = {achieved / (args.peak_tflops * 1e12):.1%} "
          f"of {args.peak_tflops:.0f} TFLOP/s peak bf16")


def mean_tokens_per_sentence(cfg) -> float:
    from sts_lab.run.data import load_splits
    from sts_lab.run.modeling import build_model

    tokenizer = build_model(cfg.model, cfg.pooling).tokenizer
    train = load_splits(cfg.data)["train"]
    sentences = list(train["sentence1"]) + list(train["sentence2"])
    lengths = [min(len(ids), cfg.model.max_seq_length) for ids in tokenizer(sentences)["input_ids"]]
    return sum(lengths) / len(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="directory of the original STS Benchmark files")
    parser.add_argument("--loss", choices=["cosent", "cosine"], default="cosent")
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: all epochs)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=42)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--gpu", action="store_true", help="GPU throughput mode")
    mode.add_argument("--precision", action="store_true", help="fp32 against trainer.precision=auto")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    args = parser.parse_args()
    args.data = args.data.resolve()
    (gpu_mode if args.gpu else precision_mode if args.precision else cpu_mode)(args)


if __name__ == "__main__":
    main()
