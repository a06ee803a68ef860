"""Content-addressed blob store: raw audio kept once, under its sha256."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from genre.atomic import atomic_path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class BlobStore:
    """Files named by their content hash under ``root/ab/abcdef...``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, source: str | Path, sha256: str | None = None) -> str:
        """Copy ``source`` in (atomically) unless the same content is already stored."""
        digest = sha256 or sha256_file(source)
        target = self.path(digest)
        if target.is_file():
            return digest
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o444)
        return digest
