"""A running service follows the champion: when another version is promoted or rolled back, it swaps models
between two requests, with no restart and no failed request.

Every `interval_s` the follower asks the store which version is champion (one small query, off the event loop).
When it changed, the new version is loaded and warmed up beside the one serving (which keeps answering), then
`app.state.serving` is replaced in one assignment: a request holds the state it started with, so an answer never
mixes two models. A version that fails to load or to predict its warm-up record is not switched to; the reason is
logged and the next check tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from cairn.model.trained import TrainedModel
from cairn.serving.hook import OnPredictions
from cairn.serving.log_queue import QueuedHook
from cairn.serving.schemas import RecordValidator
from cairn.serving.startup import check_salt
from cairn.serving.state import ServingState, build_state

__all__ = ["ChampionFollower", "follow_champion", "following", "switched_state"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionFollower:
    """How to find the champion's version, and load a version with its prediction log."""

    champion_version: Callable[[], int | None]
    load: Callable[[int], tuple[TrainedModel, OnPredictions | None]]
    interval_s: float = 2.0


def switched_state(state: ServingState, model: TrainedModel, on_predictions: OnPredictions | None) -> ServingState:
    """`state` serving `model` instead: the key, body limit, counters and hooks stay; the model's parts are built
    and warmed up anew. Raises when the model cannot serve (its warm-up failed, its salt is missing)."""
    check_salt(model)
    fresh = build_state(model, RecordValidator(model.features, levels=model.known_levels), api_key=None,
                        on_predictions=on_predictions,
                        max_body_bytes=state.max_body_bytes, max_batch=state.max_batch)
    if isinstance(fresh.on_predictions, QueuedHook) and isinstance(state.on_predictions, QueuedHook):
        fresh.on_predictions.on_drop = state.on_predictions.on_drop  # the same /metrics counter
    if fresh.warm_up_failure is not None:
        raise RuntimeError(fresh.warm_up_failure)
    switched = replace(state, validator=fresh.validator, predictor=fresh.predictor, health_body=fresh.health_body,
                       metadata_body=fresh.metadata_body, on_predictions=fresh.on_predictions, warm_up_failure=None)
    switched.start()
    return switched


async def follow_champion(app: FastAPI, follower: ChampionFollower) -> None:
    """Runs until cancelled (the server's shutdown): checks the champion and switches to it."""
    while True:
        await asyncio.sleep(follower.interval_s)
        state: ServingState = app.state.serving
        served = state.predictor.model.version
        try:
            version = await run_in_threadpool(follower.champion_version)
            if version is None or version == served:
                continue
            model, on_predictions = await run_in_threadpool(follower.load, version)
            switched = await run_in_threadpool(switched_state, state, model, on_predictions)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not switch from v%s to the new champion; still serving v%s", served, served)
            continue
        app.state.serving = switched
        if switched.metrics is not None:
            switched.metrics.serving(model)
        if isinstance(state.on_predictions, QueuedHook):  # the old version's log: written, then its writer stops
            await run_in_threadpool(state.on_predictions.close)
        logger.warning("now serving %s v%s (the champion; was v%s)", model.name, model.version, served)


def following(app: FastAPI, follower: ChampionFollower | None) -> FastAPI:
    """`app`, set to follow the champion while it runs (unchanged when `follower` is None)."""
    if follower is not None:
        async def loop(running: FastAPI) -> None:
            await follow_champion(running, follower)

        app.state.background = [*getattr(app.state, "background", []), loop]
    return app
