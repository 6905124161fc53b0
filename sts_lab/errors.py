"""The one error type users see: a bad config value, data file or model, reported as a single line."""

from hydra.errors import CompactHydraException


class StsLabError(CompactHydraException):
    """Bad user input. Hydra prints only the message (no traceback) and exits with status 1.

    The message names the config key (``optimizer.lr``) or the file and line (``sts-dev.csv:17``).
    """


def first_line(error: BaseException | str) -> str:
    """An error (or its text) in one line, URL passwords masked: its message's first line, or its type's name
    when the message is empty."""
    from sts_lab.secrets import mask

    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else "(no message)"
    return mask(text.splitlines()[0])
