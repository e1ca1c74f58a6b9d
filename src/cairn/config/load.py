"""YAML text -> ProjectConfig, with every error at once, each with its line, expectation and a fix."""

from __future__ import annotations

import difflib
import logging
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cairn.config.schema import RULE_AT, ProjectConfig
from cairn.config.sections import deprecation
from cairn.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]
log = logging.getLogger(__name__)
OLD_SECTIONS = ("explore",)  # sections renamed to their stage's name in 0.2.0


def load_config(path: Path, *, overrides: Mapping[str, Any] | None = None) -> ProjectConfig:
    """Read and validate a project file, with `overrides` (dotted key -> value, from `--set`: see
    cairn.config.settings) applied first; raise ConfigError listing every problem."""
    if not path.exists():
        raise ConfigError.single(
            f"No project file at {path}.",
            where=str(path), expected="a cairn.yaml project file", got="no such file",
            fix="run `cairn init NAME --example house-prices` to start one, or pass --project PATH",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError.single(
            f"Cannot read the project file {path}.", where=str(path),
            expected="a readable UTF-8 text file", got=type(error).__name__, fix="check the file's permissions",
        ) from None
    return parse_config(text, source=str(path), overrides=overrides)


def _yaml_fix(error: yaml.MarkedYAMLError) -> str:
    """What to change, by the kind of syntax error: a tab, an unclosed bracket or quote, a bare ':'."""
    problem, context = str(error.problem or ""), str(error.context or "")
    if "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "flow mapping" in context or "flow sequence" in context:
        return ("close the { or [ opened before that line (the error is where YAML noticed), or put a value "
                "holding ':' or ',' in quotes")
    if "quoted scalar" in context:
        return "close the quote opened before that line"
    return "check indentation and quoting on that line (a value with ':' needs quotes)"


def parse_config(text: str, *, source: str = "cairn.yaml", overrides: Mapping[str, Any] | None = None
                 ) -> ProjectConfig:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        raise ConfigError.single(
            f"The project file {source} is not valid YAML.", where=where,
            expected="valid YAML", got=f"a syntax error ({error.problem})", fix=_yaml_fix(error),
        ) from None
    if not isinstance(document, dict):
        raise ConfigError.single(
            f"The project file {source} holds no settings.", where=source, expected="a mapping of sections",
            got=type(document).__name__ if document is not None else "an empty file",
            fix="start from `cairn init NAME --example house-prices`",
        )
    lines = _line_numbers(node)
    for old in OLD_SECTIONS:
        if _renamed(document, lines, old):
            log.warning(deprecation(old, where=source))
    if overrides:
        from cairn.config.settings import apply_overrides

        document = apply_overrides(document, overrides)
    try:
        return ProjectConfig.model_validate(document)
    except ValidationError as error:
        problems = [_problem(item, document, lines, source, overridden=set(overrides or ()))
                    for item in error.errors()]
        count = len(problems)
        raise ConfigError(
            f"The project file {source} has {count} error{'s' if count > 1 else ''}:", problems
        ) from None


def _renamed(document: dict[str, Any], lines: dict[Path_, int], old: str) -> str | None:
    """Read an old section name as the new one (keeping its line numbers for errors); the new name if renamed."""
    from cairn.config.sections import RENAMED

    new = RENAMED[old]
    if old not in document:
        return None
    if new in document:
        raise ConfigError.single(
            f"The project file has both '{old}' and '{new}': '{old}' is the old name of '{new}'.", where=old,
            expected=f"one section '{new}'", got="both", fix=f"move the settings of '{old}' into '{new}'")
    document[new] = document.pop(old)
    for path in [p for p in lines if p[:1] == (old,)]:
        lines[(new, *path[1:])] = lines.pop(path)
    return new


def _line_numbers(node: yaml.Node | None, path: Path_ = ()) -> dict[Path_, int]:
    """Map each key path of the YAML document to its 1-based line, so errors can point at it."""
    found: dict[Path_, int] = {}
    if node is None:
        return found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            found[child] = key.start_mark.line + 1
            found.update({k: v for k, v in _line_numbers(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_line_numbers(item, (*path, index)))
    return found


def _problem(item: Any, document: Mapping[str, Any], lines: dict[Path_, int], source: str, *,
             overridden: set[str] | None = None) -> Problem:
    loc: Path_ = tuple(part for part in item["loc"] if not _is_union_tag(part))
    message = str(item["msg"]).removeprefix("Value error, ")
    section = _dotted(loc)
    if RULE_AT in message:  # a rule placed at a setting inside the section (`schema.rule`'s `at`)
        message, deeper = message.rsplit(RULE_AT, 1)
        loc = (*loc, *(int(part) if part.isdigit() else part for part in deeper.split("/")))
    dotted = _dotted(loc)
    line = _nearest_line(loc, lines)
    where = f"{dotted} ({source}, line {line})" if line else dotted
    if overridden and any(_overrides(key, dotted) or _overrides(key, section) for key in overridden):
        where = f"{dotted} (from --set)"
    kind = item["type"]
    got = _shown(item.get("input"))
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        fix = f"did you mean '{guess[0]}'?" if guess else f"remove it; known keys here: {', '.join(known)}"
        return Problem(where, "a known key", f"unknown key '{loc[-1]}'", fix)
    if kind == "missing":
        return Problem(where, "a value (this setting is required)", "nothing", f"add '{loc[-1]}:' here")
    if kind == "literal_error":
        allowed = _literal_values(item)
        guess = difflib.get_close_matches(str(item.get("input")), allowed, n=1, cutoff=0.5)
        fix = f"did you mean '{guess[0]}'?" if guess else f"use one of {', '.join(allowed)}"
        return Problem(where, f"one of {', '.join(allowed)}", got, fix)
    if "||" in message:
        expected, fix = message.split("||", 1)
        return Problem(where, expected, None, fix or None)
    expected = message.removeprefix("Input should be ").removeprefix("input should be ")
    expected = expected[:1].lower() + expected[1:]
    return Problem(where, expected, got, _plain_fix(kind, expected, _setting(loc)))


# pydantic's checks of a bound or a type: the fix is to write what was expected
_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_TYPES = frozenset({"int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "bool_type",
                    "bool_parsing", "string_type", "list_type", "dict_type"})


def _setting(loc: Path_) -> str:
    """The setting a fix names: its key, with the item of a list ('drop_columns[0]')."""
    named = [index for index, part in enumerate(loc) if isinstance(part, str)]
    return _dotted(loc[named[-1]:]) if named else "it"


def _plain_fix(kind: str, expected: str, key: str) -> str | None:
    """A fix for pydantic's own checks, which name what they expected but not what to do: 'set
    train_budget_minutes to a number greater than 0'."""
    if kind in _BOUNDS:
        return f"set {key} to a number {expected}"
    if kind in _TYPES:
        return f"set {key} to {expected.split(',')[0]}"
    return None


UNION_TAGS = frozenset({"str", "list[str]", "SqlSource", "DuckDBSource"})


def _is_union_tag(part: str | int) -> bool:
    """pydantic names the union member it tried in the location; a user thinks of the field only."""
    return isinstance(part, str) and (part in UNION_TAGS or part.startswith("function-"))


def _overrides(key: str, dotted: str) -> bool:
    """Whether a --set of `key` sets `dotted`, a setting inside it or one of its parents."""
    return (dotted == key or dotted.startswith(f"{key}.") or dotted.startswith(f"{key}[")
            or key.startswith(f"{dotted}."))


def _dotted(loc: Path_) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _nearest_line(loc: Path_, lines: dict[Path_, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _literal_values(item: Any) -> list[str]:
    expected = str(item.get("ctx", {}).get("expected", ""))
    return [part.strip(" '") for part in expected.replace(" or ", ",").split(",") if part.strip(" '")]


def _known_keys(loc: Path_) -> list[str]:
    """The field names allowed at a path, walking the schema like the document."""
    model: Any = ProjectConfig
    for part in loc:
        model = _inner_model(model, part)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _inner_model(model: Any, part: str | int) -> Any:
    if isinstance(part, int):
        args = [a for a in typing.get_args(model) if a is not type(None)]
        return args[0] if args else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
        return None
    annotation = model.model_fields[part].annotation
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        if typing.get_origin(candidate) is list:
            return candidate
    return annotation
