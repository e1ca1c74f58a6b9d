"""Cache keys: a stage reruns only when its section of the project file, its inputs or cairn itself changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cairn import __version__
from cairn.config.schema import STAGE_SECTIONS, ProjectConfig


def config_sections(config: ProjectConfig, stage: str) -> dict[str, Any]:
    dumped = config.model_dump(mode="json")
    return {name: dumped[name] for name in STAGE_SECTIONS[stage]}


def stage_cache_key(stage: str, *, config: ProjectConfig, input_fingerprints: dict[str, str],
                    extra: dict[str, str] | None = None) -> str:
    payload = {"stage": stage, "cairn": __version__, "config": config_sections(config, stage),
               "inputs": dict(sorted(input_fingerprints.items())), "extra": extra or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def config_hash(config: ProjectConfig) -> str:
    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
