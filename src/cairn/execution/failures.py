"""Work the cluster lost, said as an error the user can act on instead of Dask's traceback.

A task whose workers died `distributed.scheduler.allowed-failures` times in a row (most often out of memory) ends in
`KilledWorker`; a scheduler that goes away mid-run cancels every future or closes the connection. Either way nothing
cairn did is wrong: the cluster needs more memory per worker, or a scheduler that stays up. The run that was going
is recorded as failed by the caller, as for any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cairn.errors import ClusterError


@contextmanager
def cluster_losses(address: str, *, what: str) -> Iterator[None]:
    """Around the code that waits on the cluster's futures: `what` names the work ("a cross-validation fold")."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    from cairn.execution.cluster import shown_address

    shown = shown_address(address)
    try:
        yield
    except KilledWorker as error:
        raise ClusterError.single(
            f"The Dask workers kept dying while they ran {what}.", where=f"the cluster at {shown}",
            expected="workers that stay up while they run one task",
            got=f"{str(error).splitlines()[0][:240]}",
            fix="read the workers' logs for why they died (often memory: give each worker more with "
                "`dask worker --memory-limit`, or fewer threads each), or raise "
                "distributed.scheduler.allowed-failures; execution.engine: local runs without the cluster",
        ) from None
    except (FutureCancelledError, CommClosedError) as error:
        raise ClusterError.single(
            f"The Dask scheduler at {shown} went away while it ran {what}.", where=f"the cluster at {shown}",
            expected="a scheduler that stays up until the command ends",
            got=f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else 'no detail'}",
            fix="check the scheduler's log and start the command again; execution.engine: local runs without it",
        ) from None
