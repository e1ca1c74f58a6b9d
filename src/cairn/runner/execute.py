"""Walk the stages: reuse what the cache holds, compute the rest, record each step, and never leave a half run.

A run row is written first and marked succeeded or failed last; each stage's outputs and its row are written
together, so a crash at any point leaves a consistent store (a failed run, only complete artifacts visible).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from cairn.config.schema import ProjectConfig
from cairn.execution.engine import FoldEngine
from cairn.registry import Registry
from cairn.runner.cache import salt_identity, stage_cache_key
from cairn.runner.graph import STAGES, DeclaredInputs, StageContext, StageDef, stage_position
from cairn.stages.data import Protected, SourceRead
from cairn.store.repository import Store, now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageEvent:
    """What the progress display shows: a stage started, reports a step, finished or came from cache."""

    kind: str  # start | step | done | cached | failed
    stage: str
    title: str
    message: str = ""
    elapsed_s: float = 0.0


ProgressCallback = Callable[[StageEvent], None]


@dataclass
class StageOutcome:
    name: str
    title: str
    cached: bool
    duration_s: float
    notes: list[str]
    outputs: dict[str, str]  # name -> artifact sha256


@dataclass
class Execution:
    run_id: int
    outcomes: list[StageOutcome] = field(default_factory=list)
    values: LazyOutputs | None = None
    privacy: Protected | None = None


class LazyOutputs(Mapping[str, Any]):
    """Stage outputs by name, loaded from the artifact store only when something reads them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._shas: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}

    def put(self, name: str, sha: str, value: Any = None, *, loaded: bool = False) -> None:
        self._shas[name] = sha
        if loaded:
            self._loaded[name] = value
        else:
            self._loaded.pop(name, None)

    def sha(self, name: str) -> str:
        return self._shas[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self._store.load_artifact(self._shas[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._shas)

    def __len__(self) -> int:
        return len(self._shas)


def execute(config: ProjectConfig, *, store: Store, run_id: int, base_dir: Path, source: SourceRead,
            privacy: Protected, until: str | None = None, from_stage: str | None = None,
            progress: ProgressCallback | None = None, engine: FoldEngine | None = None) -> Execution:
    """Every stage up to `until` (`from_stage` and after recomputed), training's folds on `engine` (a Dask cluster
    from `cairn.execution.connected`; None: in this process)."""
    last = stage_position(until, option="--until")
    first_forced = stage_position(from_stage, option="--from")
    emit = progress or (lambda event: None)
    values = LazyOutputs(store)
    execution = Execution(run_id, values=values, privacy=privacy)
    registry = Registry(store)
    with threadpool_limits(limits=config.training.n_jobs):
        for position, stage in enumerate(STAGES):
            if last is not None and position > last:
                break
            forced = first_forced is not None and position >= first_forced
            execution.outcomes.append(
                _run_stage(stage, position, config=config, store=store, registry=registry, values=values,
                           run_id=run_id, base_dir=base_dir, source=source, privacy=privacy, forced=forced,
                           emit=emit, engine=engine)
            )
    return execution


def _run_stage(stage: StageDef, position: int, *, config: ProjectConfig, store: Store, registry: Registry,
               values: LazyOutputs, run_id: int, base_dir: Path, source: SourceRead, privacy: Protected,
               forced: bool, emit: ProgressCallback, engine: FoldEngine | None = None) -> StageOutcome:
    extra = {"source": source.fingerprint, "salt": salt_identity(config)} if stage.name == "data" else None
    key = stage_cache_key(stage.name, code_version=stage.code_version, config=config,
                          input_fingerprints={n: values.sha(n) for n in stage.inputs}, extra=extra)
    hit = None if forced else store.cached_outputs(key)
    if hit is not None:
        shas, notes = hit
        for name, sha in shas.items():
            values.put(name, sha)
        store.record_cached_stage(run_id, stage=stage.name, position=position, cache_key=key, shas=shas,
                                  notes=notes)
        emit(StageEvent("cached", stage.name, stage.title, "unchanged, reused from cache"))
        return StageOutcome(stage.name, stage.title, True, 0.0, notes, shas)
    began, started_at = time.perf_counter(), now()
    emit(StageEvent("start", stage.name, stage.title))

    def step(message: str) -> None:
        emit(StageEvent("step", stage.name, stage.title, message, time.perf_counter() - began))

    inputs = DeclaredInputs(values, stage=stage.name, declared=stage.inputs)
    context = StageContext(config=config, base_dir=base_dir, source=source, privacy=privacy, inputs=inputs,
                           registry=registry, run_id=run_id, step=step, engine=engine)
    try:
        outputs, notes = stage.compute(context)
        outputs = stage.checked_outputs(outputs)
    except BaseException:
        emit(StageEvent("failed", stage.name, stage.title, elapsed_s=time.perf_counter() - began))
        raise
    duration = time.perf_counter() - began
    shas = store.record_stage(run_id, stage=stage.name, position=position, cache_key=key, cached=False,
                              started_at=started_at, duration_s=duration, outputs=outputs, notes=notes)
    for name, value in outputs.items():
        values.put(name, shas[name], value, loaded=True)
    emit(StageEvent("done", stage.name, stage.title, notes[0] if notes else "", duration))
    return StageOutcome(stage.name, stage.title, False, duration, notes, shas)
