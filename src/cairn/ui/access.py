"""Who may see the UI and who may change the registry through it.

On loopback the UI is the user's own, as a notebook is: no login. Beyond loopback it starts only with an API key
(deployment.api_key_env, as `cairn serve`), and every request then carries it: in the X-API-Key header (scripts) or
in the cookie the login form sets (people). The cookie holds an HMAC of the key, never the key itself.

Every POST form carries a CSRF token: the value of a random cookie the page set (double submit), so another site
cannot make a logged-in browser promote a model. A request authenticated by the X-API-Key header needs no token: a
browser never adds that header to a cross-site request on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cairn.errors import ConfigError

API_KEY_HEADER = "X-API-Key"
LOGIN_COOKIE = "cairn_ui_login"
CSRF_COOKIE = "cairn_ui_csrf"
CSRF_FIELD = "csrf"


EDITOR, VIEWER = "editor", "viewer"


@dataclass(frozen=True)
class Access:
    """Who may do what. Beyond loopback the API key (`api_key`) lets one read and change the registry (promote,
    roll back); a viewer key, when one is given, only read. On loopback nobody logs in and the user may change the
    registry, unless the UI is `read_only` (then nobody may, whatever their key)."""

    api_key: str | None
    viewer_key: str | None = None
    read_only: bool = False

    @property
    def required(self) -> bool:
        return self.api_key is not None

    def _keys(self) -> dict[str, str]:
        keys = {EDITOR: self.api_key} if self.api_key is not None else {}
        if self.viewer_key is not None and self.api_key is not None:
            keys[VIEWER] = self.viewer_key
        return keys

    def role_of_key(self, given: str | None) -> str | None:
        """The role `given` (a key) logs in as; None for no key or a wrong one."""
        if not self.required:
            return VIEWER if self.read_only else EDITOR
        found = None
        for role, key in self._keys().items():  # every key compared, in constant time: no early exit to time
            if given is not None and secrets.compare_digest(given.encode("utf-8"), key.encode("utf-8")):
                found = role
        return found

    def login_token(self, role: str) -> str:
        """The login cookie's value for `role`: an HMAC of its key, so the cookie never carries the key."""
        key = self._keys()[role]
        return hmac.new(key.encode("utf-8"), f"cairn ui login {role}".encode(), hashlib.sha256).hexdigest()

    def role_of_cookie(self, given: str | None) -> str | None:
        if not self.required:
            return VIEWER if self.read_only else EDITOR
        found = None
        for role in self._keys():
            if given is not None and secrets.compare_digest(given.encode("utf-8"), self.login_token(role).encode()):
                found = role
        return found

    def may_change(self, role: str | None) -> bool:
        """Whether `role` may promote or roll back through the UI."""
        return role == EDITOR and not self.read_only


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and secrets.compare_digest(str(cookie).encode(), str(submitted).encode())


def viewer_key(variable: str | None, *, environ: Mapping[str, str] = os.environ) -> str | None:
    """The read-only key from the environment variable `variable` names (`cairn ui --viewer-key-env NAME`)."""
    if variable is None:
        return None
    key = environ.get(variable)
    if not key:
        raise ConfigError.single(
            "The viewer key is not set.", where="--viewer-key-env",
            expected=f"the environment variable {variable} to hold the read-only key", got="unset",
            fix=f"export {variable}=<another long random secret> before `cairn ui`, or leave --viewer-key-env out")
    return key


def required_key(host: str, *, api_key_env: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The key the UI requires on `host`: none on loopback; beyond it, the one deployment.api_key_env names, and a
    ConfigError (before anything listens) when none is set."""
    from cairn.serving.startup import is_loopback

    if is_loopback(host):
        return None
    if api_key_env is None:
        raise ConfigError.single(
            f"Refusing to show the UI beyond this machine (host {host or '(every address)'}) without an API key: "
            "anyone who can reach the port could read every run and promote models.",
            where="deployment.api_key_env", expected="an API key whenever the host is not loopback (localhost)",
            got="no api_key_env in the project file",
            fix="set deployment.api_key_env: CAIRN_API_KEY in cairn.yaml and export CAIRN_API_KEY=<a long random "
                "secret>; or run `cairn ui` on 127.0.0.1 (the default)")
    key = environ.get(api_key_env)
    if not key:
        raise ConfigError.single(
            "The API key is not set.", where="deployment.api_key_env",
            expected=f"the environment variable {api_key_env} to hold the key", got="unset",
            fix=f"export {api_key_env}=... before `cairn ui`")
    return key
