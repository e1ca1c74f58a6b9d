"""The project file: its schema and its loader."""

from cairn.config.load import load_config, parse_config
from cairn.config.schema import ProjectConfig

__all__ = ["ProjectConfig", "load_config", "parse_config"]
