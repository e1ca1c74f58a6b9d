"""Content-addressed artifact files: the name is the sha256 of the bytes, written atomically.

A file is written to a temporary name in the same folder and renamed into place, so a reader never sees half an
artifact; identical content is stored once. cairn.store.remote_artifacts.open_artifacts picks the place: this local
folder, or any fsspec URL such as s3://bucket/prefix (RemoteArtifacts there: same layout and rules).
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import joblib
import pandas as pd

from cairn.errors import StoreError
from cairn.hashing import sha256_bytes

_SHA256 = re.compile(r"[0-9a-f]{64}")
PARTIAL_PREFIX = ".partial-"
# A temporary file older than this is left by a writer that died (kill -9 between write and rename): no write
# takes that long, so removing it never races a live writer.
STALE_PARTIAL_S = 3600.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredFile:
    """One artifact as the artifact store holds it: its name, size and when it was written (epoch seconds)."""

    sha256: str
    size_bytes: int
    modified: float


class Artifacts(Protocol):
    """What the store needs of an artifact store, local or remote."""

    @property
    def location(self) -> str: ...
    def write(self, data: bytes) -> str: ...
    def read(self, sha256: str) -> bytes: ...
    def read_checked(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def listing(self) -> Iterator[StoredFile]: ...
    def delete(self, sha256: str) -> None: ...
    def remove_stale_partials(self, *, older_than_s: float = STALE_PARTIAL_S) -> int: ...


def checked_name(sha256: str, *, where: str) -> str:
    """Only a sha256 (64 hex digits) names an artifact, so no name reaches outside the artifact store."""
    if not _SHA256.fullmatch(sha256):
        raise StoreError.single("An artifact name is not a sha256.", where=f"artifact {sha256[:80]!r} in {where}",
                                expected="64 lowercase hex digits", got=f"{len(sha256)} characters",
                                fix="restore the store from a backup")
    return sha256


def checked_bytes(data: bytes, sha256: str, *, where: str) -> bytes:
    """The bytes, once they are known to be the ones stored under this name: a changed or corrupted artifact is a
    clear error, never an unpickle."""
    if sha256_bytes(data) != sha256:
        raise StoreError.single("An artifact does not match its sha256: it was changed or corrupted.",
                                where=where, expected=f"sha256 {sha256[:12]}…",
                                got=f"sha256 {sha256_bytes(data)[:12]}…",
                                fix="delete it and rerun the stage that makes it (`cairn run --from STAGE`)")
    return data


def missing_artifact(sha256: str, *, where: str) -> StoreError:
    return StoreError.single("An artifact is missing from the artifact store.", where=where,
                             expected=f"the artifact {sha256[:12]}…", got="no such file",
                             fix="restore the artifact store, or rerun with `cairn run --from STAGE`")


def encode(value: Any) -> tuple[bytes, str]:
    """A stage output as bytes and a kind: tables as Parquet (readable by any tool), the rest with joblib."""
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer, index=False, compression="zstd")
        _release_arrow_memory()
        return buffer.getvalue(), "parquet"
    if isinstance(value, str):
        return value.encode("utf-8"), "text"
    buffer = io.BytesIO()
    joblib.dump(value, buffer, compress=3)
    return buffer.getvalue(), "joblib"


def _release_arrow_memory() -> None:
    """Arrow's allocator keeps what a table's conversion used (some 300 MB for 1M rows of the Ames schema) unless
    told to give it back: a run writes several tables, and each one's leftovers would add to the run's peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def decode(data: bytes, kind: str) -> Any:
    if kind == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    if kind == "text":
        return data.decode("utf-8")
    return joblib.load(io.BytesIO(data))


class ArtifactFolder:
    """Artifacts under `root/ab/abcdef...`; safe against crashes mid-write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def path_of(self, sha256: str) -> Path:
        """Where an artifact lives; only a sha256 (64 hex digits) names one, so no name reaches outside the folder."""
        if not _SHA256.fullmatch(sha256):
            raise StoreError.single("An artifact name is not a sha256.", where=f"artifact {sha256[:80]!r}",
                                    expected="64 lowercase hex digits", got=f"{len(sha256)} characters",
                                    fix="restore the store from a backup")
        return self.root / sha256[:2] / sha256

    def write(self, data: bytes) -> str:
        sha256 = sha256_bytes(data)
        final = self.path_of(sha256)
        if final.exists():
            return sha256
        final.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=final.parent, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()

    def read_checked(self, sha256: str) -> bytes:
        """The bytes, once they are known to be the ones stored under this name: a changed or corrupted artifact
        is a clear error, never an unpickle."""
        path = self.path_of(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError.single("An artifact is missing from the artifact folder.", where=str(path),
                                    expected=f"the artifact {sha256[:12]}…", got="no such file",
                                    fix="restore the artifact folder, or rerun with `cairn run --from STAGE`") from None
        if sha256_bytes(data) != sha256:
            raise StoreError.single("An artifact does not match its sha256: it was changed or corrupted.",
                                    where=str(path), expected=f"sha256 {sha256[:12]}…",
                                    got=f"sha256 {sha256_bytes(data)[:12]}…",
                                    fix="delete it and rerun the stage that makes it (`cairn run --from STAGE`)")
        return data

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    def listing(self) -> Iterator[StoredFile]:
        """Every artifact file in the folder (not the temporary files of writes in progress)."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/*"):
            if not _SHA256.fullmatch(path.name) or path.parent.name != path.name[:2]:
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # deleted meanwhile
                continue
            yield StoredFile(path.name, info.st_size, info.st_mtime)

    def delete(self, sha256: str) -> None:
        self.path_of(sha256).unlink(missing_ok=True)

    def remove_stale_partials(self, *, older_than_s: float = STALE_PARTIAL_S) -> int:
        """Delete the temporary files of writes that never finished, once they are older than `older_than_s`
        (a younger one may belong to a write in progress). Returns how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.root.glob(f"*/{PARTIAL_PREFIX}*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another process opening the store removed it first
                continue
        if removed:
            log.info("Removed %d unfinished artifact write(s) from %s", removed, self.root)
        return removed
