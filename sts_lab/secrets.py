"""Keep database passwords out of everything a search writes: logs, Hydra's config files, W&B metadata.

A storage URL such as ``postgresql://sts:PASSWORD@db-host/sts`` is written ``postgresql://sts:***@db-host/sts``
wherever it appears. The recommended form keeps the password out of the command line altogether
(``hydra.sweeper.storage='${oc.env:STS_LAB_STORAGE}'``: Hydra saves the interpolation, not its value); this
module covers the rest, including a URL typed out in full.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

# scheme://user:PASSWORD@host; the password runs to the last "@" before the host (it may hold ":" or "/").
URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^\s'\"]*(?P<host>@[^@\s'\"]*)")
MASK = "***"


def mask(text: str) -> str:
    """``postgresql://sts:secret@db/sts`` -> ``postgresql://sts:***@db/sts``, anywhere in ``text``."""
    return URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}{match['host']}", text)


def scrub_file(path: Path) -> None:
    """Rewrite ``path`` with every URL password masked (for Hydra's ``.hydra/*.yaml`` of a job)."""
    text = path.read_text(encoding="utf-8")
    if (masked := mask(text)) != text:
        path.write_text(masked, encoding="utf-8")


def scrub_hydra_files(output_dir: Path) -> None:
    for path in (output_dir / ".hydra").glob("*.yaml"):
        scrub_file(path)


def install() -> None:
    """Mask URL passwords in every log record of this process, and in ``sys.argv`` (W&B records the command
    line in a run's metadata). Idempotent."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "masks_secrets", False):
        def masking_factory(*args, **kwargs) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            message = record.getMessage()
            if "://" in message and (masked := mask(message)) != message:
                record.msg, record.args = masked, ()
            return record

        masking_factory.masks_secrets = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(masking_factory)
    sys.argv[:] = [mask(argument) for argument in sys.argv]
