"""`cairn serve --workers N`: the app factory each uvicorn worker process calls.

uvicorn starts every worker as a new process and can only hand it an import string, so the parent (`cairn serve`)
loads and checks the model once, writes what to serve into the environment (`SETTINGS_VARIABLE`, JSON: the
project file and the version, or an exported folder; the name of the API key's variable, never the key), and each
worker rebuilds the same app from it: the same version, the same prediction log, the same key.

The prediction log stays one file for all workers: `Project.prediction_logger` appends each request's lines in
one write to a file opened for appending (O_APPEND), which the kernel appends whole, so lines from two processes
do not interleave and `cairn monitor` reads one file as before (tests/serving/test_workers.py checks it).

`GET /metrics` is whole across workers (`cairn.serving.metrics`: prometheus-client's multiprocess mode in the
folder `serve` names); a worker that exits marks itself dead there, so its live gauges (the model served, the
queue depth) stop counting while its counters stay.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["FACTORY", "SETTINGS_VARIABLE", "worker_app", "worker_settings"]

SETTINGS_VARIABLE = "CAIRN_SERVE_WORKER"
FACTORY = "cairn.project.workers:worker_app"


def worker_settings(*, project: Path | None = None, version: int | None = None, follow: bool = False,
                    model_dir: Path | None = None, api_key_env: str | None = None,
                    max_body_bytes: int | None = None, max_batch: int | None = None) -> str:
    """What every worker serves, as the JSON `worker_app` reads from SETTINGS_VARIABLE."""
    return json.dumps({"project": None if project is None else str(Path(project).resolve()), "version": version,
                       "follow": follow, "model_dir": None if model_dir is None else str(Path(model_dir).resolve()),
                       "api_key_env": api_key_env, "max_body_bytes": max_body_bytes, "max_batch": max_batch})


def worker_app() -> Any:
    """The FastAPI app of one worker, from SETTINGS_VARIABLE (set by `cairn serve --workers N`)."""
    from cairn.serving import MAX_BATCH, MAX_BODY_BYTES, create_app
    from cairn.serving.reload import following

    raw = os.environ.get(SETTINGS_VARIABLE)
    if not raw:
        raise RuntimeError(f"{SETTINGS_VARIABLE} is not set: {FACTORY} is started by `cairn serve --workers N`")
    settings = json.loads(raw)
    _mark_dead_at_exit()
    variable = settings.get("api_key_env")
    api_key = (os.environ.get(variable) or None) if variable else None
    max_body_bytes = int(settings.get("max_body_bytes") or MAX_BODY_BYTES)
    max_batch = int(settings.get("max_batch") or MAX_BATCH)
    if settings.get("model_dir"):
        from cairn.model.exported import load_exported

        return create_app(load_exported(Path(settings["model_dir"])), api_key=api_key,
                          max_body_bytes=max_body_bytes, max_batch=max_batch)
    from cairn.project.api import Project

    project = Project.load(Path(settings["project"]))
    model = project.served_model(settings.get("version"))
    app = create_app(model, api_key=api_key, on_predictions=project.prediction_logger(model),
                     max_body_bytes=max_body_bytes, on_feedback=project.feedback_writer(model), max_batch=max_batch)
    return following(app, project.champion_follower() if settings.get("follow") else None)


def _mark_dead_at_exit() -> None:
    """When this worker counts into a folder shared with the others, it leaves their live gauges at exit."""
    from cairn.serving.metrics import multiprocess_folder

    folder = multiprocess_folder()
    if folder is not None:
        from prometheus_client.multiprocess import mark_process_dead

        atexit.register(mark_process_dead, os.getpid(), str(folder))
