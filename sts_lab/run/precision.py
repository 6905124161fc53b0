"""Which floating-point precision a run trains in (``trainer.precision``), and why.

``auto``: on a GPU, bf16 where it supports it, else fp16; on a CPU, bf16 autocast where the processor has
native bf16 arithmetic (AVX512-BF16 or AMX), about twice the speed of fp32 at the same quality, else fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | fp16 | bf16
    device: str  # cuda | cpu
    reason: str  # one phrase for the log


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX tiles. torch has no public query for these; its private ones may move, so a missing
    or failing check counts as "no" (fp32 is always correct, only slower)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        try:
            if getattr(torch.cpu, probe)():
                return True
        except Exception:  # AttributeError in another torch, RuntimeError on an odd build
            continue
    return False


def cpu_support() -> str:
    return "bf16 (AVX512-BF16/AMX) and fp32" if cpu_has_native_bf16() else "fp32 only (no AVX512-BF16 or AMX)"


def choose_precision(requested: str) -> Precision:
    """The precision ``requested`` means on this machine. ValueError when the machine cannot run it."""
    if torch.cuda.is_available():
        gpu_bf16 = torch.cuda.is_bf16_supported()
        if requested == "auto":
            return Precision("bf16", "cuda", "auto: the GPU supports bf16") if gpu_bf16 else \
                Precision("fp16", "cuda", "auto: the GPU has no bf16, fp16 mixed precision")
        if requested == "bf16" and not gpu_bf16:
            raise ValueError(f"bf16 needs a GPU that supports it ({torch.cuda.get_device_name()} does not); use fp16 or fp32")
        return Precision(requested, "cuda", "as configured")
    native_bf16 = cpu_has_native_bf16()
    if requested == "auto":
        return Precision("bf16", "cpu", "auto: the CPU has native bf16 (AVX512-BF16/AMX)") if native_bf16 else \
            Precision("fp32", "cpu", "auto: the CPU has no native bf16 (AVX512-BF16/AMX)")
    if requested == "fp16":
        raise ValueError(f"fp16 needs a CUDA GPU; this machine has none, its CPU supports {cpu_support()}")
    if requested == "bf16" and not native_bf16:
        raise ValueError(f"bf16 on a CPU needs AVX512-BF16 or AMX; this CPU supports {cpu_support()}")
    return Precision(requested, "cpu", "as configured")


def trainer_flags(precision: Precision) -> dict[str, bool]:
    """TrainingArguments flags. bf16 on the CPU needs ``use_cpu``: without it transformers refuses bf16."""
    cpu_bf16 = precision.device == "cpu" and precision.name == "bf16"
    return {"bf16": precision.name == "bf16", "fp16": precision.name == "fp16", **({"use_cpu": True} if cpu_bf16 else {})}
