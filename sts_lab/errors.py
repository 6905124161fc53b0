"""The one error type users see: a bad config value, data file or model, reported as a single line."""

from hydra.errors import CompactHydraException


class StsLabError(CompactHydraException):
    """Bad user input. Hydra prints only the message (no traceback) and exits with status 1.

    The message names the config key (``optimizer.lr``) or the file and line (``sts-dev.csv:17``).
    """
