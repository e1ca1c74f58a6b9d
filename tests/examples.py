"""The house-price example copied into a test folder, optionally with cheaper settings."""

import shutil
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).parents[1] / "examples" / "house-prices"


def copy_example(folder: Path, **overrides: dict) -> Path:
    """The example in `folder`, with sections of cairn.yaml replaced (e.g. a cheaper training setup)."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".cairn"))
    if overrides:
        config_path = folder / "cairn.yaml"
        config = yaml.safe_load(config_path.read_text())
        for key, value in overrides.items():
            config[key] = value if not isinstance(value, dict) else {**config.get(key, {}), **value}
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


# a quick variant for tests that need a fresh project but not the full model search
QUICK = {"models": {"candidates": ["linear"]}, "exploration": {"enabled": False},
         "evaluation": {"bootstrap": 200, "explain": "none", "latency_samples": 50}}
