"""Whether W&B logs online: read by a job's run and by the report's view and report. No W&B import here."""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse


def has_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (where ``wandb login`` puts it).

    Checked by hand because wandb's own login prompts for a key when there is none.
    """
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def choose_mode(configured: str | None) -> str:
    """logger.mode, else WANDB_MODE, else online with credentials and offline without."""
    return configured or os.environ.get("WANDB_MODE") or ("online" if has_credentials() else "offline")
