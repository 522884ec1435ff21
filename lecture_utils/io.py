"""Small file helpers: checksums and atomic writes (temp file + rename), so that an interrupted
run never leaves half a checkpoint or cache behind."""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

__all__ = ["sha256_file", "atomic_write"]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None],
                 before_replace: Callable[[Path], None] | None = None) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` only once it is complete.

    ``before_replace(tmp_path)`` runs between the two, on the complete file (e.g. to record its
    checksum elsewhere before it takes the name; an exception there leaves ``path`` as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        if before_replace is not None:
            before_replace(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)        # mkstemp makes files private; use the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_stale_tmp(folder: str | os.PathLike, older_than: float = 3600.0) -> int:
    """Delete the temporary files that interrupted ``atomic_write`` calls left in ``folder``
    (``.<name>.*.tmp`` older than ``older_than`` seconds); returns how many went."""
    folder, removed = Path(folder), 0
    if not folder.is_dir():
        return 0
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except OSError:      # removed meanwhile, or not ours to remove
            pass
    return removed


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_arrays(path: str | os.PathLike, **arrays) -> Path:
    """Write NumPy arrays to ``path`` (.npz) atomically, with its sha256 in ``path.sha256``."""
    import numpy as np
    path = Path(path)

    def write(tmp: Path):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    atomic_write(path, write)
    atomic_write(_digest_path(path), lambda tmp: tmp.write_text(sha256_file(path) + "\n"))
    return path


def load_arrays(path: str | os.PathLike) -> dict:
    """The arrays ``save_arrays`` wrote to ``path``; raises ``ValueError`` for a file that is not
    the one written (no or another sha256 beside it), and never unpickles."""
    import numpy as np
    path = Path(path)
    digest = _digest_path(path)
    if not digest.exists() or digest.read_text().strip() != sha256_file(path):
        raise ValueError(f"{path} is not the file the course wrote (its sha256 does not match "
                         f"{digest.name})")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
