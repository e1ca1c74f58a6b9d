"""What must hold before a model is served: checked once, at start-up, so a misconfigured server never starts.

* A model that hashes personal columns needs the salt it was trained with: without it requests cannot be hashed
  as in training, and answering anyway would predict from different inputs (or leak the raw values further).
* A server reachable beyond this machine needs an API key, unless the caller says, explicitly, that it must not.

Both raise ``ConfigError`` (a mistake the user fixes, exit 2 from the CLI), like the missing API key does.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping

from cairn.errors import ConfigError
from cairn.model.trained import TrainedModel

__all__ = ["check_exposure", "check_port", "check_salt", "is_loopback", "refuse_unsafe_start", "warn_if_exposed"]

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine: ``localhost``, 127.0.0.0/8 or ::1 (an empty host or 0.0.0.0
    listens everywhere; any other name is treated as reachable from outside)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_salt(model: TrainedModel, environ: Mapping[str, str] = os.environ) -> None:
    """A ``ConfigError`` when ``model`` hashes personal columns and the salt's environment variable is unset."""
    privacy = model.privacy
    if not model.personal_columns or getattr(privacy, "pii", None) != "hash":
        return
    variable = getattr(privacy, "salt_env", None) or ""
    if variable and environ.get(variable):
        return
    columns = ", ".join(sorted(str(column.column) for column in model.personal_columns))
    raise ConfigError.single(
        f"The salt for hashing personal data is not set, so {model.name} v{model.version} cannot hash the personal "
        f"columns it reads ({columns}) as in training: refusing to serve it.",
        where=f"data.privacy.salt_env ({variable or 'no variable named'})",
        expected=f"the environment variable {variable or 'named by data.privacy.salt_env'} to hold the salt the "
                 "model was trained with",
        got="unset" if variable not in environ else "an empty value",
        fix=f"export {variable or 'CAIRN_PII_SALT'}=<the salt of the training run> before `cairn serve`")


def check_exposure(host: str, *, api_key: str | None, insecure: bool) -> None:
    """A ``ConfigError`` when the server would listen beyond loopback with no API key and ``insecure`` is not set."""
    if api_key is not None or insecure or is_loopback(host):
        return
    raise ConfigError.single(
        f"Refusing to serve beyond this machine (host {host or '(every address)'}) without an API key: anyone who "
        "can reach the port could call the model and read its schema.",
        where="deployment.api_key_env", expected="an API key whenever the host is not loopback (localhost)",
        got="no key",
        fix="set deployment.api_key_env: CAIRN_API_KEY in cairn.yaml and export CAIRN_API_KEY=<a long random "
            "secret> (clients send it in the X-API-Key header); or serve on localhost; or, if a proxy in front "
            "checks callers, pass --insecure (insecure=True) to serve without a key anyway")


def warn_if_exposed(host: str, *, api_key: str | None) -> None:
    """The loud warning for a server started with ``insecure`` beyond loopback and no key."""
    if api_key is None and not is_loopback(host):
        logger.warning("INSECURE: serving on %s with no API key (--insecure): anyone who can reach this port can "
                       "call the model and read its schema. Set deployment.api_key_env to require a key.",
                       host or "every address")


def refuse_unsafe_start(model: TrainedModel, *, host: str, api_key: str | None, insecure: bool,
                        port: int | None = None) -> None:
    """Every start-up check of ``serve``, for callers that want them before announcing the server; with `port`,
    that the address is free too."""
    check_exposure(host, api_key=api_key, insecure=insecure)
    check_salt(model)
    if port is not None:
        check_port(host, port)


def check_port(host: str, port: int) -> None:
    """A ``ConfigError`` when ``host:port`` cannot be listened on (another server has it, or the host is not this
    machine's): said before the server is announced, where uvicorn would log its own error and exit 3. Bound as
    uvicorn binds (SO_REUSEADDR), so a port left in TIME_WAIT by a server just stopped is not taken for busy."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError.single(f"Cannot listen on {host}: no such address.", where="--host",
                                 expected="an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
                                 got=f"{host} ({error.strerror})", fix="pass --host 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            busy = error.errno == errno.EADDRINUSE
            raise ConfigError.single(
                f"Cannot listen on {host}:{port}: " + ("the port is in use." if busy else f"{error.strerror}."),
                where="--port" if busy else "--host",
                expected="a free port" if busy else "an address of this machine",
                got=f"{host}:{port}", fix="stop the server on that port, or pass another --port (e.g. --port "
                f"{port + 1})" if busy else "pass --host 127.0.0.1") from None
