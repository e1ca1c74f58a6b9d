"""Database URLs as cairn uses them: the driver it installs, and never a password in what is shown or stored."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def engine_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3, the driver cairn installs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
