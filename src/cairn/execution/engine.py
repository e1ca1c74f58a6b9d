"""Where the folds of one cross-validation run: threads of this process, or tasks on a Dask cluster.

An engine maps a fold task over the folds of one trial and hands the results back in fold order, so pruning sees
exactly what it would see one fold at a time; closing the iterator early (a pruned trial) cancels the folds not yet
started. The trial sequence around it (ask, folds, tell) never changes, so any engine and any number of workers
replay the same trials and choose the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cairn.execution.failures import cluster_losses

if TYPE_CHECKING:
    from distributed import Client

D = TypeVar("D")
R = TypeVar("R")


class FoldEngine(Protocol):
    def map_folds(self, task: Callable[[D, int], R], data: D, folds: int) -> Generator[R, None, None]:
        """`task(data, fold)` for folds 0..folds-1, the results in fold order."""
        ...


class LocalFolds:
    """Folds in this process: one after another, or `workers` side by side in threads (the boosters, forests and
    BLAS release the GIL)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def map_folds(self, task: Callable[[D, int], R], data: D, folds: int) -> Generator[R, None, None]:
        if self.workers <= 1 or folds <= 1:
            for fold in range(folds):
                yield task(data, fold)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cairn-fold")
        try:
            futures = [pool.submit(task, data, fold) for fold in range(folds)]
            for future in futures:
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class DaskFolds:
    """Each fold one Dask task. The data goes to every worker once (`scatter(broadcast=True)`) and stays there for
    every trial that reads it; a task lost with its worker runs again elsewhere (the scheduler's `allowed_failures`).

    The scheduler's active memory manager drops the extra copies of scattered data between trials, so one worker
    may hold the only copy. Data has no task to recompute it: lost with that worker, the scheduler forgets it and
    cancels every fold that needs it. The data is then sent again and the folds not yet read run again (a fold's
    result does not depend on where it ran), up to RESENDS times in one trial."""

    KEPT_ON_WORKERS = 2  # data objects kept scattered: the search's scope, and the one before it changed
    RESENDS = 3

    def __init__(self, client: Client, *, threads: int = 1) -> None:
        self.client = client
        self.threads = threads  # BLAS and OpenMP threads per task: set, never left to the worker's defaults
        self._sent: list[tuple[Any, Any]] = []  # (data, its future): the data held so its id stays its own

    def map_folds(self, task: Callable[[D, int], R], data: D, folds: int) -> Generator[R, None, None]:
        from distributed.client import FutureCancelledError

        done = 0  # folds already handed back: never run again
        resends = 0
        with cluster_losses(self.client.scheduler.address, what="a cross-validation fold"):
            while done < folds:
                shared = self.on_workers(data)
                futures = self._submit(task, shared, range(done, folds), folds)
                try:
                    for future in futures:
                        yield future.result()
                        done += 1
                except FutureCancelledError:
                    if resends >= self.RESENDS or not self._lost(shared):
                        raise
                    resends += 1
                    self._sent = [(sent, future) for sent, future in self._sent if future is not shared]
                finally:
                    self.client.cancel([future for future in futures if not future.done()])

    def _submit(self, task: Callable[[D, int], R], shared: Any, folds: range, count: int) -> list[Any]:
        workers = sorted(self.client.ncores())
        # Earlier folds first: the results are read in fold order, and a pruned trial needs only its first folds.
        # Fold k prefers the same worker in every trial, so each worker encodes and keeps only its own folds; another
        # takes it when that one is gone.
        return [self.client.submit(_limited, task, shared, fold, threads=self.threads, pure=False,
                                   priority=count - fold, workers=[workers[fold % len(workers)]] if workers
                                   else None, allow_other_workers=True) for fold in folds]

    def _lost(self, shared: Any) -> bool:
        """The data's only copy went with a worker while the scheduler stayed up (a scheduler that went away
        cancels the futures too, and no resend helps then)."""
        return shared.status == "cancelled" and self.client.status == "running"

    def on_workers(self, data: Any) -> Any:
        """The future of `data` on every worker, sent the first time it is asked for."""
        for sent, future in self._sent:
            if sent is data:
                return future
        future = self.client.scatter(data, broadcast=True, hash=False)
        self._sent = [*self._sent[-(self.KEPT_ON_WORKERS - 1):], (data, future)]
        return future


def _limited(task: Callable[[D, int], R], data: D, fold: int, *, threads: int) -> R:
    """The task on a worker, with the threads the stage allows: the results match a fold fitted in this process."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return task(data, fold)
