"""A connection to the Dask cluster named by `execution`, checked before anything is written.

Each setup that cannot work is a ConfigError naming the thing and the fix, raised while nothing is recorded yet:
a scheduler that does not answer within a few seconds; a SQLite store or a local artifacts folder while the workers
run on other machines (they could not read or write them); package versions that differ between this process and
the workers (a model fitted on a worker would not be the model this process would fit).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.config.schema import Execution, ProjectConfig
from cairn.errors import ConfigError, Problem
from cairn.urls import redacted

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

SCHEDULER_ENV = "CAIRN_DASK_SCHEDULER"
CONNECT_TIMEOUT_S = 5.0  # the scheduler answers, and has a worker, within this or the run stops before it starts
# The packages whose versions change what a fold fits or how it is read back, by distribution name.
PACKAGES_THAT_MATTER = ("python", "numpy", "pandas", "scikit-learn", "lightgbm", "xgboost", "catboost", "cairn")


@dataclass(frozen=True)
class SchedulerAddress:
    """Where the scheduler is, and which setting said so (`origin`), as the manifest shows it."""

    address: str
    origin: str  # "execution.address", "$NAME (execution.address_env)" or "CAIRN_DASK_SCHEDULER"

    def shown(self) -> dict[str, str]:
        return {"engine": "dask", "address": shown_address(self.address), "from": self.origin}


@dataclass(frozen=True)
class Mismatch:
    package: str
    client: str | None
    worker: str | None
    workers: tuple[str, ...]  # the worker addresses with that version

    def text(self) -> str:
        hosts = ", ".join(self.workers[:3]) + (f" and {len(self.workers) - 3} more" if len(self.workers) > 3 else "")
        return f"{self.package} {self.client or 'not installed'} here, {self.worker or 'not installed'} on {hosts}"


def shown_address(address: str) -> str:
    """The address as messages and the manifest show it: a password in it (user:secret@host) hidden. Dask's
    addresses rarely carry one, and may have no scheme (`10.0.0.5:8786`), which a URL parser would refuse."""
    return redacted(address) if "@" in address else address


def scheduler_address(execution: Execution, *, environ: Mapping[str, str]) -> SchedulerAddress:
    """execution.address, else the variable execution.address_env names, else CAIRN_DASK_SCHEDULER."""
    if execution.address is not None:
        return SchedulerAddress(execution.address, "execution.address")
    if execution.address_env is not None:
        value = environ.get(execution.address_env)
        if not value:
            raise ConfigError.single(
                f"The environment variable {execution.address_env} named by execution.address_env is not set.",
                where="execution.address_env", expected=f"the scheduler address in ${execution.address_env}",
                got="unset or empty", fix=f"export {execution.address_env}=tcp://HOST:8786",
            )
        return SchedulerAddress(value, f"${execution.address_env} (execution.address_env)")
    if environ.get(SCHEDULER_ENV):
        return SchedulerAddress(environ[SCHEDULER_ENV], SCHEDULER_ENV)
    raise ConfigError.single(
        "execution.engine is dask but no scheduler address is given.", where="execution",
        expected=f"execution.address or execution.address_env (or ${SCHEDULER_ENV} in the environment)",
        got="none of them", fix=f"write execution: {{engine: dask, address_env: {SCHEDULER_ENV}}} and export "
        f"{SCHEDULER_ENV}=tcp://HOST:8786, or set execution.engine: local",
    )


def execution_record(config: ProjectConfig, *, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The engine and the scheduler address for the run's manifest, any password in the address hidden."""
    if config.execution.engine == "local":
        return {"engine": "local"}
    return scheduler_address(config.execution, environ=os.environ if environ is None else environ).shown()


@contextmanager
def connected(config: ProjectConfig, *, base_dir: Path, store_url: str, artifacts_url: Path | str,
              environ: Mapping[str, str] | None = None, workers_use_store: bool = True) -> Iterator[Client | None]:
    """A checked `distributed.Client` for execution.engine dask (closed on exit), None for the local engine.
    Enter it before the store is opened: every error it raises leaves nothing written. `workers_use_store` False
    (batch scoring, drift: the workers read and write data files, never the store or the artifacts) skips the
    check that the store and artifacts are reachable from other machines."""
    if config.execution.engine == "local":
        yield None
        return
    where = scheduler_address(config.execution, environ=os.environ if environ is None else environ)
    client = _client(where)
    try:
        if workers_use_store:
            check_shared_locations(worker_info(client), store_url=store_url, artifacts_url=artifacts_url,
                                   base_dir=base_dir)
        check_versions(client.get_versions(check=False, packages=[p for p in PACKAGES_THAT_MATTER if p != "python"]))
        log.info("training folds go to the Dask scheduler at %s (%d workers)", shown_address(where.address),
                 len(worker_info(client)))
        yield client
    finally:
        client.close()


def _client(where: SchedulerAddress) -> Client:
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError.single(
            "execution.engine is dask but Dask is not installed.", where="execution.engine",
            expected="the dask[distributed] package", got="not importable",
            fix="pip install 'cairn[dask]', or set execution.engine: local",
        ) from None
    shown = shown_address(where.address)
    try:
        _answers(where.address)
        with warnings.catch_warnings():  # versions are checked below, by name, as an error
            warnings.simplefilter("ignore")
            client = Client(where.address, set_as_default=False)  # the default timeouts: data may take a while
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigError.single(
            f"The Dask scheduler at {shown} cannot be reached.", where=where.origin,
            expected=f"a scheduler answering at {shown} within {CONNECT_TIMEOUT_S:g} s",
            got=f"{type(error).__name__}: {error}"[:200],
            fix=f"start one (dask scheduler --host HOST --port PORT) or correct {where.origin}; nothing was run",
        ) from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError):
        client.close()
        raise ConfigError.single(
            f"The Dask scheduler at {shown} has no workers.", where=where.origin,
            expected=f"at least one worker connected within {CONNECT_TIMEOUT_S:g} s", got="none",
            fix=f"start workers: dask worker {shown}",
        ) from None
    return client


def worker_info(client: Client) -> Mapping[str, Mapping[str, Any]]:
    """Every worker's entry of `client.scheduler_info()` (newer releases list only the first few by default)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025: every worker, and no such argument
        info = client.scheduler_info()
    return dict(info.get("workers", {}))


def _answers(address: str) -> None:
    """Something listens at a TCP (or TLS) address within CONNECT_TIMEOUT_S, or OSError. The client's own
    timeout would also bound every later transfer, such as sending the training data."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if parse_address(address)[0] not in ("tcp", "tls"):
        return  # another transport: the client's own connection says whether it answers
    host, port = get_address_host_port(address)
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
        pass


def check_shared_locations(workers: Mapping[str, Mapping[str, Any]], *, store_url: str, artifacts_url: Path | str,
                           base_dir: Path) -> None:
    """Workers on another machine (`client.scheduler_info()["workers"]`) cannot open a SQLite file or a folder on
    this one."""
    remote = remote_workers(workers)
    if not remote:
        return
    hosts = ", ".join(sorted(remote)[:3])
    if store_url.startswith("sqlite"):
        raise ConfigError.single(
            "The store is a SQLite file, but the Dask workers run on other machines.", where="store",
            expected="a store every worker can reach (postgresql://...)", got=f"{redacted(store_url)}; workers on "
            f"{hosts}", fix="set store_env (or CAIRN_STORE) to a PostgreSQL URL, or run the workers on this machine",
        )
    if _is_local_folder(artifacts_url):
        folder = artifacts_url if isinstance(artifacts_url, Path) else Path(str(artifacts_url).removeprefix("file://"))
        shown = folder if folder.is_absolute() else base_dir / folder
        raise ConfigError.single(
            "The artifacts are in a local folder, but the Dask workers run on other machines.", where="artifacts",
            expected="artifacts every worker can reach (an fsspec URL such as s3://bucket/prefix)",
            got=f"{shown}; workers on {hosts}",
            fix="set artifacts_env (or CAIRN_ARTIFACTS) to s3://bucket/prefix, or run the workers on this machine",
        )


def _is_local_folder(artifacts_url: Path | str) -> bool:
    text = str(artifacts_url)
    return isinstance(artifacts_url, Path) or "://" not in text or text.startswith("file://")


def remote_workers(workers: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The hosts of `client.scheduler_info()["workers"]` that are not this machine."""
    here = this_host_addresses()
    hosts = {str(info.get("host") or _address_host(address)) for address, info in workers.items()}
    return {host for host in hosts if host not in here and not _is_loopback(host)}


def this_host_addresses() -> set[str]:
    """Names and addresses under which this machine may appear as a worker's host."""
    names = {"localhost", socket.gethostname()}
    with suppress(OSError):
        names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    try:
        import psutil

        names |= {snic.address.split("%")[0] for snics in psutil.net_if_addrs().values() for snic in snics
                  if snic.family in (socket.AF_INET, socket.AF_INET6)}
    except ImportError:  # psutil comes with distributed; without it, the names above
        pass
    return names


def _address_host(address: str) -> str:
    from distributed.comm import get_address_host

    return str(get_address_host(address))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_versions(versions: Mapping[str, Any]) -> None:
    """A ConfigError naming each package whose version differs between this process and a worker."""
    mismatches = version_mismatches(versions)
    if not mismatches:
        return
    raise ConfigError(
        "Package versions differ between this machine and the Dask workers.",
        [_mismatch_problem(m) for m in mismatches],
    )


def _mismatch_problem(mismatch: Mismatch) -> Problem:
    return Problem(where=f"package {mismatch.package}", expected=f"{mismatch.client or 'not installed'} (as here) "
                   f"on every worker", got=mismatch.text(),
                   fix=f"install {mismatch.package}=={mismatch.client} on the workers (one image or environment "
                   f"for client and workers)" if mismatch.client else f"uninstall {mismatch.package} on the workers")


def version_mismatches(versions: Mapping[str, Any], *,
                       packages: tuple[str, ...] = PACKAGES_THAT_MATTER) -> list[Mismatch]:
    """The packages (of `packages`) whose version on a worker differs from the client's, from
    `client.get_versions(packages=...)`; one entry per package and worker version."""
    client = _installed(versions.get("client"))
    found: list[Mismatch] = []
    for package in packages:
        by_version: dict[str | None, list[str]] = {}
        for address, info in sorted((versions.get("workers") or {}).items()):
            theirs = _installed(info).get(package)
            if theirs != client.get(package):
                by_version.setdefault(theirs, []).append(address)
        found += [Mismatch(package, client.get(package), theirs, tuple(addresses))
                  for theirs, addresses in by_version.items()]
    return found


def _installed(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """One process's packages from `get_versions`, with Python's version from its host section (major.minor.micro:
    a release level or serial apart is still the same Python)."""
    entry = entry or {}
    packages = dict(entry.get("packages") or {})
    python = (entry.get("host") or {}).get("python") or packages.get("python")
    packages["python"] = ".".join(str(python).split(".")[:3]) if python else None
    return packages
