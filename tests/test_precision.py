"""trainer.precision: the choice on each kind of CPU (capability faked both ways), refusals, bf16 training."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer

from sts_lab.run.data import load_splits
from sts_lab.errors import StsLabError
from sts_lab.run.evaluation import score_split
from sts_lab.run.normalization import normalize
from sts_lab.run.precision import choose_precision, cpu_has_native_bf16, trainer_flags
from sts_lab.run.train import train
from sts_lab.run.training_args import training_arguments
from tests.conftest import TINY, compose_config


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def fake_cpu(monkeypatch, avx512_bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"), (False, False, "fp32"),
])
def test_auto_on_a_cpu_follows_native_bf16(monkeypatch, cpu_only, avx512_bf16, amx, expected, tmp_path):
    fake_cpu(monkeypatch, avx512_bf16, amx)
    chosen = choose_precision("auto")
    assert (chosen.name, chosen.device) == (expected, "cpu")
    assert ("has native bf16" if expected == "bf16" else "no native bf16") in chosen.reason
    args = training_arguments(compose_config(), tmp_path, chosen)
    assert (args.bf16, args.fp16, args.use_cpu) == (expected == "bf16", False, expected == "bf16")


def test_a_failing_capability_probe_counts_as_no_bf16(monkeypatch, cpu_only):
    def broken() -> bool:
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not cpu_has_native_bf16()
    assert choose_precision("auto").name == "fp32"


def test_gpu_rule(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert choose_precision("auto").name == "fp16" and choose_precision("fp32").name == "fp32"
    assert trainer_flags(choose_precision("auto")) == {"bf16": False, "fp16": True}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert trainer_flags(choose_precision("auto")) == {"bf16": True, "fp16": False}


@pytest.mark.parametrize(("override", "native_bf16", "message"), [
    ("trainer.precision=fp16", True, "trainer.precision='fp16': fp16 needs a CUDA GPU; this machine has none, "
                                     "its CPU supports bf16 (AVX512-BF16/AMX) and fp32"),
    ("trainer.precision=bf16", False, "trainer.precision='bf16': bf16 on a CPU needs AVX512-BF16 or AMX; "
                                      "this CPU supports fp32 only"),
])
def test_unsupported_precision_is_refused_before_anything_loads(monkeypatch, cpu_only, override, native_bf16,
                                                               message, tmp_path):
    fake_cpu(monkeypatch, native_bf16, False)
    loaded = []
    monkeypatch.setattr("sts_lab.run.train.load_splits", lambda *args: loaded.append("data"))
    monkeypatch.setattr("sts_lab.run.train.build_model", lambda *args: loaded.append("model"))
    with pytest.raises(StsLabError) as error:
        train(compose_config(*TINY, override), tmp_path / "run")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert loaded == [] and not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available() or not cpu_has_native_bf16(),
                    reason="needs a CPU with native bf16 (AVX512-BF16 or AMX) and no GPU")
def test_bf16_training_on_the_cpu_reports_fp32_final_scores(tmp_path):
    cfg = compose_config(*TINY, "trainer.precision=bf16", "trainer.save_model=true")
    metrics = train(cfg, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["precision"] == "bf16"
    assert metrics["steps"] == 4
    # An fp32 evaluation of the saved weights, in a fresh model, gives the metrics.json score.
    test = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)["test"]
    fp32 = score_split(SentenceTransformer(str(tmp_path / "model")), test, cfg.trainer.eval_batch_size)
    assert abs(fp32.spearman - metrics["test_spearman"]) <= 5e-4
