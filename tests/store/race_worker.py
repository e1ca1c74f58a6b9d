"""A process that races another over the registry: kept apart from the test so a spawned child imports little.

Each worker opens its own store (as two `cairn promote` commands would), then per round waits at a barrier with
its rival and the test, does its one action at once and reports what happened."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ACTIONS = ("promote", "register", "rollback")


def dummy_model(name: str) -> Any:
    from sklearn.dummy import DummyRegressor

    from cairn.model.trained import FeatureSpec, TrainedModel

    return TrainedModel(name=name, version=0, problem="regression", target="y",
                        features=[FeatureSpec("x", "number")], pipeline=DummyRegressor().fit([[0.0]], [1.0]))


def race(url: str, artifacts: str, run_id: int, worker: int, plan: list[tuple[str, str, int]], barrier: Barrier,
         results: Any) -> None:
    """`plan`: one (action, model name, version) per round. Reports (round, worker, "ok", version) or (round,
    worker, "error", the exception's class and first line); an error never stops the worker, so the rounds stay
    in step."""
    from cairn.registry import Registry
    from cairn.store import Store

    store = Store.open(url, Path(artifacts))
    registry = Registry(store)
    try:
        for index, (action, name, version) in enumerate(plan):
            model = dummy_model(name) if action == "register" else None
            barrier.wait(timeout=120)
            try:
                if action == "promote":
                    done = registry.promote(name, version)
                elif action == "register":
                    done = registry.register(model, run_id=run_id, production=True, note=None)
                else:
                    done = registry.rollback(name)
                results.put((index, worker, "ok", done.version))
            except Exception as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                results.put((index, worker, "error", f"{type(error).__name__}: {first}"))
    finally:
        store.close()
