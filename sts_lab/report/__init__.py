"""The report side: reading sweeps and Optuna studies back (``sweep_results``, ``study_results``), statistics,
rendering tables and the figure (``render``), the W&B view and report (``wandb_view``, ``wandb_publish``), the
Hydra callback (``callback``) and ``python -m sts_lab.report``. It imports no torch, transformers or
sentence-transformers (an import-linter contract in pyproject.toml)."""

from sts_lab.report.callback import SweepReport

__all__ = ["SweepReport"]
