"""Where the heavy work runs: this process, or a Dask cluster (`execution: {engine: dask}` in cairn.yaml).

A low layer: stages and the runner import it, it imports neither. `connected` checks the cluster before anything
is written; an engine runs cross-validation folds on it.
"""

from cairn.execution.cluster import SCHEDULER_ENV, connected, execution_record, scheduler_address
from cairn.execution.engine import DaskFolds, FoldEngine, LocalFolds

__all__ = ["SCHEDULER_ENV", "DaskFolds", "FoldEngine", "LocalFolds", "connected", "execution_record",
           "scheduler_address"]
