"""Artifacts on any fsspec URL (`artifacts: s3://bucket/prefix`), for a team whose store is shared: the same
content-addressed layout as the local folder (`prefix/ab/abcdef...`), so a colleague's cairn finds every file.

A write goes to a temporary key beside the final one (`prefix/ab/.partial-<random>`), then is moved to its name, so
a reader never sees half an artifact; identical content is stored once. Credentials and endpoints come from the
filesystem's own settings, as the ecosystem does it: for S3, the AWS environment variables or profile
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for an S3-compatible server), never cairn.yaml.
Install the filesystem: `pip install 'cairn[s3]'` for s3://; gcsfs or adlfs for gs:// and az://.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.errors import StoreError
from cairn.hashing import sha256_bytes
from cairn.store.artifacts import (
    _SHA256,
    PARTIAL_PREFIX,
    STALE_PARTIAL_S,
    ArtifactFolder,
    StoredFile,
    checked_bytes,
    checked_name,
    missing_artifact,
)
from cairn.urls import redacted

log = logging.getLogger(__name__)


def open_artifacts(location: str | Path) -> ArtifactFolder | RemoteArtifacts:
    """A local folder for a path (or file:// URL), RemoteArtifacts for any other fsspec URL (s3://bucket/prefix)."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return RemoteArtifacts(text)
    return ArtifactFolder(Path(text.removeprefix("file://")))


class RemoteArtifacts:
    """Artifacts under `url/ab/abcdef...` on an fsspec filesystem."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = _filesystem(self.url)

    @property
    def location(self) -> str:
        return redacted(self.url) if "@" in self.url else self.url

    def _key(self, sha256: str) -> str:
        checked_name(sha256, where=self.location)
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def write(self, data: bytes) -> str:
        sha256 = sha256_bytes(data)
        final = self._key(sha256)
        if self.fs.exists(final):
            return sha256
        temporary = f"{self.root}/{sha256[:2]}/{PARTIAL_PREFIX}{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, final)  # S3: a server-side copy (the whole object or nothing), then a delete
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm_file(temporary)
            raise
        return sha256

    def read(self, sha256: str) -> bytes:
        data: bytes = self.fs.cat_file(self._key(sha256))
        return data

    def read_checked(self, sha256: str) -> bytes:
        key = self._key(sha256)
        try:
            data: bytes = self.fs.cat_file(key)
        except FileNotFoundError:
            raise missing_artifact(sha256, where=f"{self.location}/{sha256[:2]}/{sha256}") from None
        return checked_bytes(data, sha256, where=f"{self.location}/{sha256[:2]}/{sha256}")

    def exists(self, sha256: str) -> bool:
        return bool(self.fs.exists(self._key(sha256)))

    def listing(self) -> Iterator[StoredFile]:
        for key, info in self._found().items():
            name = key.rsplit("/", 1)[-1]
            if _SHA256.fullmatch(name) and key.rsplit("/", 2)[-2] == name[:2]:
                yield StoredFile(name, int(info.get("size") or 0), _modified(info))

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._key(sha256))

    def remove_stale_partials(self, *, older_than_s: float = STALE_PARTIAL_S) -> int:
        cutoff, removed = time.time() - older_than_s, 0
        for key, info in self._found().items():
            if key.rsplit("/", 1)[-1].startswith(PARTIAL_PREFIX) and _modified(info) <= cutoff:
                try:
                    self.fs.rm_file(key)
                    removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            log.info("Removed %d unfinished artifact write(s) from %s", removed, self.location)
        return removed

    def _found(self) -> dict[str, dict[str, Any]]:
        try:
            found: dict[str, dict[str, Any]] = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        return found


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ModuleNotFoundError:
        raise StoreError.single(
            "Artifacts on a URL need fsspec, which is not installed.", where="artifacts",
            expected=f"a filesystem for {redacted(url)}", got="no module fsspec", fix="pip install 'cairn[s3]'",
        ) from None
    protocol = url.split("://", 1)[0]
    try:
        # listings are never cached: another process (a colleague's run) writes to the same place
        fs, root = fsspec.core.url_to_fs(url, use_listings_cache=False, skip_instance_cache=True)
    except (ImportError, ValueError) as error:
        raise StoreError.single(
            f"Artifacts on {protocol}:// cannot be used.", where="artifacts",
            expected=f"an installed filesystem for {protocol}://", got=str(error).splitlines()[0][:200],
            fix="pip install 'cairn[s3]' for s3:// (gcsfs for gs://, adlfs for az://)",
        ) from None
    return fs, str(root).rstrip("/")


def _modified(info: dict[str, Any]) -> float:
    """When a key was written, from whatever the filesystem reports (S3: LastModified; local: mtime)."""
    value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return time.time()  # unknown: treated as new, so never removed as stale
