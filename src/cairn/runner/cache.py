"""Cache keys: a stage reruns only when its section of the project file, its inputs or cairn itself changed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import cairn
from cairn.config.schema import STAGE_SECTIONS, ProjectConfig

# Code that never shapes a stage's outputs: editing the report, the API or the CLI keeps the cache.
NOT_STAGE_CODE = frozenset({"report", "serving", "monitoring", "store", "examples", "cli.py", "project.py",
                            "registry.py"})


@cache
def code_version() -> str:
    """The release plus a hash of the source stages run, so an edited stage never reuses outputs of old code."""
    root = Path(cairn.__file__).parent
    digest = hashlib.sha256(cairn.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        if not NOT_STAGE_CODE & set(path.relative_to(root).parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{cairn.__version__}+{digest.hexdigest()[:12]}"


def config_sections(config: ProjectConfig, stage: str) -> dict[str, Any]:
    dumped = config.model_dump(mode="json")
    return {name: dumped[name] for name in STAGE_SECTIONS[stage]}


def stage_cache_key(stage: str, *, config: ProjectConfig, input_fingerprints: dict[str, str],
                    extra: dict[str, str] | None = None) -> str:
    payload = {"stage": stage, "cairn": code_version(), "config": config_sections(config, stage),
               "inputs": dict(sorted(input_fingerprints.items())), "extra": extra or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def config_hash(config: ProjectConfig) -> str:
    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def salt_identity(config: ProjectConfig) -> str:
    """Hashed PII columns change with the salt: the key sees which salt, never the salt itself."""
    privacy = config.data.privacy
    if privacy.pii != "hash" or not privacy.salt_env:
        return ""
    salt = os.environ.get(privacy.salt_env, "")
    return hmac.new(salt.encode(), b"cairn salt identity", hashlib.sha256).hexdigest()[:16]
