"""`cairn ui`: a web page over one project's runs and models, for the team (server-rendered, works offline)."""

from cairn.ui.server import open_ui, serve_ui

__all__ = ["open_ui", "serve_ui"]
