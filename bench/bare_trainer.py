"""The STS recipe written directly against sentence-transformers, without sts_lab: the benchmark's baseline.

Reads the original STS Benchmark files, scores / 5, CoSENT (or cosine) loss, batch 16, 10% warmup, dev
evaluation 10 times, test at the end. Prints one JSON line: steps, train_seconds, test_spearman.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, CosineSimilarityLoss


def read_split(path: Path) -> Dataset:
    # The release has no quoting and some rows carry 2 extra columns.
    frame = pd.read_csv(path, sep="\t", quoting=3, header=None, usecols=[4, 5, 6], names=range(9), keep_default_na=False)
    return Dataset.from_dict({"sentence1": frame[5].tolist(), "sentence2": frame[6].tolist(), "score": (frame[4] / 5).tolist()})


def evaluator(pairs: Dataset, name: str) -> EmbeddingSimilarityEvaluator:
    return EmbeddingSimilarityEvaluator(
        list(pairs["sentence1"]), list(pairs["sentence2"]), list(pairs["score"]),
        batch_size=64, main_similarity="cosine", similarity_fn_names=["cosine"], name=name, write_csv=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--loss", choices=["cosent", "cosine"], default="cosent")
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args()

    train, dev, test = (read_split(args.data / f"sts-{split}.csv") for split in ("train", "dev", "test"))
    model = SentenceTransformer(args.model)
    loss = CoSENTLoss(model) if args.loss == "cosent" else CosineSimilarityLoss(model)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(args.output_dir), num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=16, per_device_eval_batch_size=64, learning_rate=args.lr,
        weight_decay=0.01, warmup_steps=0.1, eval_strategy="steps", eval_steps=0.1, logging_steps=0.02,
        save_strategy="no", seed=args.seed, report_to="none", dataloader_pin_memory=False,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args, train_dataset=train, loss=loss, evaluator=evaluator(dev, "dev")
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    test_spearman = evaluator(test, "test")(model)["test_spearman_cosine"]
    print(json.dumps({"steps": trainer.state.global_step, "train_seconds": seconds, "test_spearman": test_spearman}))


if __name__ == "__main__":
    main()
