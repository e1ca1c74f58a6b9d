"""Cache keys: a stage reruns only when its section of the project file, its inputs or its own code changed.

Key = stage name + the stage's code version (cairn.runner.code_version) + its config sections + the sha256 of
every input it declares (+ extras such as the source's fingerprint): as Hamilton's name + code + data versions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from cairn.config.schema import STAGE_SECTIONS, ProjectConfig


def config_sections(config: ProjectConfig, stage: str) -> dict[str, Any]:
    dumped = config.model_dump(mode="json")
    return {name: dumped[name] for name in STAGE_SECTIONS[stage]}


def stage_cache_key(stage: str, *, code_version: str, config: ProjectConfig, input_fingerprints: dict[str, str],
                    extra: dict[str, str] | None = None) -> str:
    payload = {"stage": stage, "code": code_version, "config": config_sections(config, stage),
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
