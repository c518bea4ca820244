"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    The file gets `mode` less the umask, as open() would give it: the CLI's umask (027) is
    what keeps auditctl's files within the modes `access check` wants."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o666) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def current_umask() -> int:
    mask = os.umask(0o077)  # reading it means setting it: set the strict one in between
    os.umask(mask)
    return mask
