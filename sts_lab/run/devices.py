"""One GPU per job when jobs run side by side on a machine with several GPUs (Hydra's joblib launcher, or several
search workers started on one machine).

Each job process takes a GPU that no other process on the machine holds, by an exclusive lock on a file per GPU,
and keeps it until the process exits (a joblib worker process runs many jobs on the one GPU it took). The GPU
is chosen through ``CUDA_VISIBLE_DEVICES``, so it must happen before anything starts CUDA in the process.
Hand-written because neither Hydra's launchers nor accelerate assign GPUs to independent single-GPU jobs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_DIR = Path(tempfile.gettempdir())
_held: tuple[str, IO] | None = None  # the GPU this process took, and the open file that holds its lock


def visible_gpus() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` as set, else every GPU (counted through NVML by
    torch, which does not start CUDA)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def claim_gpu(gpus: list[str], lock_dir: Path = LOCK_DIR) -> str | None:
    """The first of ``gpus`` no other process holds, now held by this one; None when all are held."""
    global _held
    if _held is not None:
        return _held[0]
    for gpu in gpus:
        handle = open(lock_dir / f"sts_lab-gpu-{gpu.replace('/', '_')}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held = (gpu, handle)
        return gpu
    return None


def take_one_gpu(lock_dir: Path = LOCK_DIR) -> str | None:
    """Restrict this process to one GPU of its own; the GPU, or None when there is nothing to choose."""
    gpus = visible_gpus()
    if _held is None and len(gpus) < 2:
        return None
    gpu = claim_gpu(gpus, lock_dir)
    if gpu is None:
        log.warning("trainer.one_gpu_per_job: all %d GPUs (%s) are held by other jobs; this job shares them",
                    len(gpus), ",".join(gpus))
        return None
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    log.info("trainer.one_gpu_per_job: this job runs on GPU %s", gpu)
    return gpu
