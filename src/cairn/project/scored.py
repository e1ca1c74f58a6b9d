"""`cairn predict -o OUTPUT`: the scored table written in the format its file name asks for."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cairn.errors import ConfigError

__all__ = ["FORMATS", "output_format", "write_scored"]

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


def write_scored(scored: pd.DataFrame, path: Path) -> str:
    """Writes `scored` to `path` (CSV or Parquet by extension); returns the format written. The table's attrs
    (the out-of-range findings, said on stderr) are not data: Parquet would try to store them."""
    kind = output_format(path)
    table = scored.copy()
    table.attrs = {}
    if kind == "parquet":
        table.columns = [str(name) for name in table.columns]
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return kind
