"""A model bundle in a folder of its own, as `cairn export` writes it: what `cairn serve --model DIR` reads.

    DIR/export.json           the model's name and version, the manifest's sha256, serving settings
    DIR/model/manifest.json   the bundle's manifest (each file's sha256), byte for byte as the store keeps it
    DIR/model/model.json      the model's description
    DIR/model/pipeline.joblib the fitted pipeline

Reading it goes through `load_bundle`, so every file is checked against its sha256 (the manifest against
export.json, the files against the manifest) before anything is deserialised. This guards against a file changed
by accident or on purpose after the export; it is not a signature: whoever can rewrite every file can rewrite the
sha256 list too, so compare `manifest_sha256` with the registry's (`cairn models --json`) when that matters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cairn.errors import NotFoundError
from cairn.model.bundle import DESCRIPTION, PIPELINE, BundleError, load_bundle
from cairn.model.trained import TrainedModel

__all__ = ["BUNDLE_FOLDER", "EXPORT_FILE", "MANIFEST", "export_settings", "load_exported"]

EXPORT_FILE = "export.json"
BUNDLE_FOLDER = "model"
MANIFEST = "manifest.json"


def export_settings(folder: Path) -> dict[str, Any]:
    """export.json of an exported model: a clear error when `folder` is not one."""
    path = folder / EXPORT_FILE
    if not path.is_file():
        raise NotFoundError.single(
            f"{folder} is not a model exported by cairn: it has no {EXPORT_FILE}.", where="--model",
            expected="a folder written by `cairn export --to DIR`", got=str(folder),
            fix="run `cairn export --to DIR` in the project, then `cairn serve --model DIR`")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError.single(f"{path} cannot be read.", where=str(path), expected="the JSON cairn export wrote",
                                 got=str(error)[:120], fix="export the model again with `cairn export --force`"
                                 ) from None
    manifest = settings.get("manifest_sha256") if isinstance(settings, dict) else None
    if not isinstance(manifest, str):
        raise BundleError.single(f"{path} does not name the bundle's manifest.", where=str(path),
                                 expected="a manifest_sha256", got="none",
                                 fix="export the model again with `cairn export --force`")
    return dict(settings)


def load_exported(folder: Path) -> TrainedModel:
    """The exported model, each of its files checked against its sha256 before it is read as anything."""
    folder = Path(folder)
    settings = export_settings(folder)
    bundle = folder / BUNDLE_FOLDER
    return load_bundle(settings["manifest_sha256"], _reader(bundle, settings["manifest_sha256"]),
                       what=f"exported to {folder}")


def _reader(bundle: Path, manifest_sha256: str) -> Any:
    """sha256 -> bytes for `load_bundle`: the manifest by the sha256 export.json gives, the files by the names the
    manifest lists (only model.json and pipeline.joblib: `load_bundle` refuses any other name before reading)."""

    def read(sha256: str) -> bytes:
        if sha256 == manifest_sha256:
            return (bundle / MANIFEST).read_bytes()
        for name, listed in _listing(bundle).items():
            if listed == sha256 and name in (DESCRIPTION, PIPELINE):
                return (bundle / name).read_bytes()
        raise FileNotFoundError(sha256)

    return read


def _listing(bundle: Path) -> dict[str, str]:
    try:
        files = json.loads((bundle / MANIFEST).read_bytes()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(name): str(sha) for name, sha in files.items()} if isinstance(files, dict) else {}
