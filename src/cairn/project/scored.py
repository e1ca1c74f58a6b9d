"""`cairn predict -o OUTPUT`: the format its file name asks for (cairn.project.batch writes it)."""

from __future__ import annotations

from pathlib import Path

from cairn.errors import ConfigError

__all__ = ["FORMATS", "output_format"]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(path: Path) -> str:
    """csv or parquet, from the file's extension; any other is a mistake said before anything is scored."""
    found = FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise ConfigError.single(
            f"cairn predict cannot tell which format to write {path} in.", where="--output",
            expected="a file name ending in " + ", ".join(FORMATS), got=Path(path).suffix or "no extension",
            fix=f"name the output {Path(path).with_suffix('.csv').name} or {Path(path).with_suffix('.parquet').name}")
    return found
