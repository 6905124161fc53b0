"""Files that several processes read while others rewrite them."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Write to a temporary file beside ``path``, then move it over ``path`` (``os.replace``, atomic): workers and
    jobs sharing a sweep dir rewrite its files, and a reader never sees one half written."""
    temporary = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
