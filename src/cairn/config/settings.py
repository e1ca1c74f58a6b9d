"""Settings that differ per machine, and `--set` overrides: where the store and the artifacts are, and who said so.

Precedence, highest first (as twelve-factor tools do it: the command line, then the environment, then the
committed file, then the default):

1. `cairn run --set store=URL` (or `--set store_env=NAME`): a change for this one command;
2. the environment: `CAIRN_STORE` / `CAIRN_ARTIFACTS`;
3. the project file: `store_env: NAME` / `artifacts_env: NAME` (the name of an environment variable holding the
   URL, so credentials never reach the committed file), or `store:` / `artifacts:` written out;
4. the default: `.cairn/cairn.db` (SQLite) and `.cairn/artifacts` beside the project file.

`--set section.key=value` changes any key of the project file: the value is read as YAML (`0.3` a number, `true` a
boolean, `[a, b]` a list) and the result is validated exactly like the file, so a wrong key or value is a
ConfigError naming it (with "did you mean"). Whatever is recorded (the run's manifest) shows URLs without their
password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from cairn.config.schema import ProjectConfig
from cairn.errors import ConfigError
from cairn.urls import redacted

STORE_ENV = "CAIRN_STORE"
ARTIFACTS_ENV = "CAIRN_ARTIFACTS"
ENVIRONMENT = {"store": STORE_ENV, "artifacts": ARTIFACTS_ENV}
Located = Literal["store", "artifacts"]


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`["training.holdout=0.3", "store=sqlite:///x.db"]` -> {"training.holdout": 0.3, "store": "sqlite:///x.db"}.
    The value is read as YAML; one that is no valid YAML is kept as the text given."""
    found: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key or any(not part for part in key.split(".")):
            raise ConfigError.single(
                "A --set option is not section.key=value.", where=f"--set {item}",
                expected="section.key=value, e.g. --set training.holdout=0.3", got=repr(item),
                fix="write the key of cairn.yaml with dots between sections, then = and the value",
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if isinstance(value, str | int | float | bool | list | dict) or value is None:
            found[key] = value
        else:  # a YAML date or time: the schema wants the text
            found[key] = text
    return found


def apply_overrides(document: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The project file's document with each dotted key set (sections made as needed). Setting `store` drops
    `store_env` and the reverse (likewise artifacts): an override replaces the setting, however the file gave it."""
    changed = dict(document)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) == 1 and parts[0] in ("store", "store_env", "artifacts", "artifacts_env"):
            base = parts[0].removesuffix("_env")
            changed.pop(base, None)
            changed.pop(f"{base}_env", None)
        node = changed
        for depth, part in enumerate(parts[:-1]):
            inner = node.get(part)
            if inner is None:
                inner = {}
            elif not isinstance(inner, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError.single(
                    f"--set {dotted}: {where} is a value, not a section.", where=f"--set {dotted}",
                    expected=f"a key inside a section (is {where} a section?)", got=f"{where} = {inner!r}"[:80],
                    fix=f"set it whole: --set {where}=VALUE",
                )
            else:
                inner = dict(inner)
            node[part] = inner
            node = inner
        node[parts[-1]] = value
    return changed


def shown_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides as a manifest records them: a URL without its password, at any depth."""
    return {key: _shown(value) for key, value in overrides.items()}


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return redacted(value) if "://" in value else value
    if isinstance(value, dict):
        return {key: _shown(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shown(inner) for inner in value]
    return value


@dataclass(frozen=True)
class Setting:
    """Where the store or the artifacts are, and where that came from (`origin`). `value` None: the default."""

    name: Located
    value: str | None
    origin: str  # "--set", "CAIRN_STORE", "$NAME (store_env)", "cairn.yaml" or "default"

    def shown(self, default: str) -> dict[str, str]:
        value = self.value if self.value is not None else default
        return {"value": redacted(value) if "://" in value else value, "from": self.origin}


def resolve_setting(config: ProjectConfig, name: Located, *, overridden: set[str] | frozenset[str],
                    environ: Mapping[str, str]) -> Setting:
    """The store or artifacts location by the precedence in the module docstring."""
    written: str | None = getattr(config, name)
    variable: str | None = getattr(config, f"{name}_env")
    if name in overridden or f"{name}_env" in overridden:
        if written is not None or variable is None:
            return Setting(name, written, "--set")
        return Setting(name, _variable_value(variable, name, environ, where=f"--set {name}_env"),
                       f"--set {name}_env=${variable}")
    if environ.get(ENVIRONMENT[name]):
        return Setting(name, environ[ENVIRONMENT[name]], ENVIRONMENT[name])
    if variable is not None:
        return Setting(name, _variable_value(variable, name, environ, where=f"{name}_env"), f"${variable} ({name}_env)")
    if written is not None:
        return Setting(name, written, "cairn.yaml")
    return Setting(name, None, "default")


def _variable_value(variable: str, name: str, environ: Mapping[str, str], *, where: str) -> str:
    value = environ.get(variable)
    if not value:
        raise ConfigError.single(
            f"The environment variable {variable} named by {where} is not set.", where=where,
            expected=f"the {name} URL in ${variable}", got="unset or empty",
            fix=f"export {variable}=URL (or {ENVIRONMENT[name]}=URL), or write {name}: in cairn.yaml",
        )
    return value
