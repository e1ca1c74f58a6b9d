"""Starting `cairn ui`: every check before anything listens, so a misconfigured UI never starts.

Beyond loopback the API key must be set (cairn.ui.access); the store must be reachable and hold the project's runs.
Both are CairnErrors: the CLI says what to fix and exits 2.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import FastAPI

from cairn.errors import ConfigError
from cairn.project.api import Project
from cairn.store import Store
from cairn.ui.access import Access, required_key, viewer_key
from cairn.ui.app import create_app
from cairn.ui.queries import ensure_indexes, refresh_statistics

log = logging.getLogger(__name__)


@dataclass
class OpenedUI:
    app: FastAPI
    store: Store
    indexes_made: list[str]


def open_ui(project: Project, *, host: str, viewer_key_env: str | None = None, read_only: bool = False,
            environ: Mapping[str, str] = os.environ) -> OpenedUI:
    """The app over the project's store, after the start-up checks (key beyond loopback, store reachable)."""
    access = Access(required_key(host, api_key_env=project.config.deployment.api_key_env, environ=environ),
                    viewer_key=viewer_key(viewer_key_env, environ=environ), read_only=read_only)
    store = project.open_store(create=False)  # NotFoundError when the project never ran, StoreError unreachable
    try:
        made = ensure_indexes(store.engine)
        refresh_statistics(store.engine)
    except BaseException:
        store.close()
        raise
    return OpenedUI(create_app(project, store, access=access), store, made)


def serve_ui(project: Project, *, host: str = "127.0.0.1", port: int = 8100, viewer_key_env: str | None = None,
             read_only: bool = False, announce: Callable[[str], None] | None = None) -> None:
    """Check, then serve the UI until interrupted."""
    import uvicorn

    opened = open_ui(project, host=host, viewer_key_env=viewer_key_env, read_only=read_only)
    try:
        _check_port_free(host, port)
    except BaseException:
        opened.store.close()
        raise
    if opened.indexes_made:
        log.info("Added the UI's indexes to the store: %s", ", ".join(opened.indexes_made))
    shown = f"[{host}]" if ":" in host else host
    if announce is not None:
        announce(f"cairn ui for {project.config.project} on http://{shown}:{port}/"
                 + ("" if opened.app.state.access.required else " (loopback: no login)")
                 + (" read-only" if read_only else ""))
    try:
        uvicorn.run(opened.app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        opened.store.close()


def _check_port_free(host: str, port: int) -> None:
    """A ConfigError naming the port when something already listens there (uvicorn would only log it, exit 1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError.single(f"cairn ui cannot listen on {host}:{port}.", where="--port",
                                     expected="a free port", got=error.strerror or str(error),
                                     fix=f"pick another with --port (e.g. --port {port + 1}), or stop what uses it"
                                     ) from None
