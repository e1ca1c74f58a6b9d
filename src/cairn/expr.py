"""A small, safe expression language for derived features (`features.derive`): parsed, never `eval`ed.

    House_Age:      Year_Sold - Year_Built
    Area_per_Room:  Gr_Liv_Area / max(TotRms_AbvGrd, 1)
    Log_Lot:        log(Lot_Area + 1)
    Has_Pool:       if(Pool_Area > 0, 1, 0)
    `Sold Month`:   month(Sale_Date)

Numbers, column names (backquotes for names with spaces), + - * / % **, comparisons, `and`/`or`/`not`, and the
functions in FUNCTIONS. Expressions compile to closures over column arrays, so the same code serves a DataFrame
in training and a dict of one-row arrays at prediction time. The parser hands what it reads to a `Builder`: the
closures here, or another target (cairn.model.onnx_derived writes the same expressions as ONNX nodes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from cairn.errors import ConfigError

Columns = Mapping[str, Any]
Compiled = Callable[[Columns], np.ndarray]
Built = TypeVar("Built")


def _days(values: np.ndarray) -> np.ndarray:
    return np.floor(np.nan_to_num(values, nan=0)).astype("int64").astype("datetime64[D]")


def _calendar(part: str) -> Callable[[np.ndarray], np.ndarray]:
    def extract(values: np.ndarray) -> np.ndarray:
        moments = _days(values)
        if part == "year":
            out = moments.astype("datetime64[Y]").astype("int64") + 1970.0
        elif part == "month":
            out = moments.astype("datetime64[M]").astype("int64") % 12 + 1.0
        elif part == "day":
            out = (moments - moments.astype("datetime64[M]")).astype("int64") + 1.0
        else:
            out = (np.floor(np.nan_to_num(values, nan=0)) + 3) % 7
        return np.where(np.isnan(values), np.nan, out)

    return extract


def _safe_log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)


def _safe_sqrt(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 0, np.sqrt(np.abs(values)), np.nan)


# name -> (number of arguments, function over float arrays)
FUNCTIONS: dict[str, tuple[int, Callable[..., np.ndarray]]] = {
    "log": (1, _safe_log),
    "log1p": (1, lambda x: _safe_log(x + 1.0)),
    "exp": (1, lambda x: np.exp(np.clip(x, -700, 700))),
    "sqrt": (1, _safe_sqrt),
    "abs": (1, np.abs),
    "round": (1, np.round),
    "floor": (1, np.floor),
    "ceil": (1, np.ceil),
    "isnull": (1, lambda x: np.isnan(x).astype("float64")),
    "min": (2, np.fmin),
    "max": (2, np.fmax),
    "clip": (3, lambda x, low, high: np.clip(x, low, high)),
    "if": (3, lambda cond, a, b: np.where(np.nan_to_num(cond) != 0, a, b)),
    "year": (1, _calendar("year")),
    "month": (1, _calendar("month")),
    "day": (1, _calendar("day")),
    "weekday": (1, _calendar("weekday")),
}

BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply,
    "/": lambda a, b: np.divide(a, np.where(b == 0, np.nan, b)),
    "%": lambda a, b: np.mod(a, np.where(b == 0, np.nan, b)),
    "**": lambda a, b: np.power(np.abs(a), b) * np.where((a < 0) & (np.mod(b, 2) == 1), -1.0, 1.0),
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
    "and": lambda a, b: (np.nan_to_num(a) != 0) & (np.nan_to_num(b) != 0),
    "or": lambda a, b: (np.nan_to_num(a) != 0) | (np.nan_to_num(b) != 0),
}
# binding power of each infix operator: higher binds tighter; ** is right-associative
PRECEDENCE = {"or": 1, "and": 2, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5,
              "*": 6, "/": 6, "%": 6, "**": 8}
TOKEN = re.compile(r"""\s*(?:(?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
                       |(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|`(?P<quoted>[^`]+)`
                       |(?P<op>\*\*|<=|>=|==|!=|[-+*/%<>(),]))""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | op | end
    text: str
    position: int  # 0-based offset in the expression


@dataclass(frozen=True)
class Expression:
    """A parsed expression: the columns it reads and a function computing it over column arrays."""

    name: str
    text: str
    columns: tuple[str, ...]
    compute: Compiled

    def __call__(self, columns: Columns) -> np.ndarray:
        return np.asarray(self.compute(columns), dtype="float64")


class Builder(Protocol[Built]):
    """What the parser makes of each part it reads, bottom up (the closures below; ONNX nodes elsewhere)."""

    def number(self, value: float) -> Built: ...

    def column(self, name: str) -> Built: ...

    def negate(self, operand: Built) -> Built: ...

    def logical_not(self, operand: Built) -> Built: ...

    def call(self, function: str, arguments: list[Built]) -> Built: ...

    def binary(self, operator: str, left: Built, right: Built) -> Built: ...


def parse(name: str, text: str, *, known_columns: list[str] | None) -> Expression:
    """Parse `text` for the derived feature `name`; unknown columns and functions are errors naming them.
    Without `known_columns` (checking the project file before the data is read) any column name passes."""
    compiled, columns = build(name, text, _Closures(), known_columns=known_columns)
    return Expression(name, text, columns, compiled)


def build(name: str, text: str, builder: Builder[Built], *, known_columns: list[str] | None = None
          ) -> tuple[Built, tuple[str, ...]]:
    """`text` parsed and handed to `builder` part by part: what it built, and the columns read (in order)."""
    parser = _Parser(name, text, _tokens(name, text), known_columns, builder)
    built = parser.expression(0)
    parser.expect_end()
    return built, tuple(dict.fromkeys(parser.columns))


def _tokens(name: str, text: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            where = len(text[position:]) - len(text[position:].lstrip()) + position
            raise _syntax(name, text, where, f"an operator, a number or a name, not {text[where]!r}")
        kind = match.lastgroup or "op"
        value = match.group(kind)
        start = match.start(kind)
        tokens.append(Token("name" if kind == "quoted" else kind, value, start))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _syntax(name: str, text: str, position: int, expected: str) -> ConfigError:
    pointer = f"{text}\n{' ' * position}^"
    return ConfigError.single(
        f"The derived feature '{name}' does not parse (at character {position + 1}):\n{pointer}",
        where=f"features.derive.{name}", expected=expected,
        got=(f"{text[position:position + 12]!r}" if position < len(text) else "the end")
        + f" at character {position + 1} of {text!r}",
        fix="see `cairn schema` (features.derive) for the syntax",
    )


class _Parser(Generic[Built]):
    """Pratt parser: checks the syntax, the functions and the columns, and hands each part to the builder."""

    def __init__(self, name: str, text: str, tokens: list[Token], known: list[str] | None,
                 builder: Builder[Built]) -> None:
        self.name, self.text, self.tokens, self.known = name, text, tokens, known
        self.builder = builder
        self.index = 0
        self.columns: list[str] = []

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        if self.current.text != text or self.current.kind not in {"op", "name"}:
            raise _syntax(self.name, self.text, self.current.position, f"'{text}'")
        self.advance()

    def expect_end(self) -> None:
        if self.current.kind != "end":
            raise _syntax(self.name, self.text, self.current.position, "an operator or the end")

    def expression(self, min_power: int) -> Built:
        left = self.prefix()
        while True:
            token = self.current
            operator = token.text if token.kind in {"op", "name"} else ""
            power = PRECEDENCE.get(operator)
            if power is None or power <= min_power:
                return left
            self.advance()
            right = self.expression(power - 1 if operator == "**" else power)
            left = self.builder.binary(operator, left, right)

    def prefix(self) -> Built:
        token = self.advance()
        if token.kind == "number":
            return self.builder.number(float(token.text))
        if token.kind == "op" and token.text == "-":
            return self.builder.negate(self.expression(7))
        if token.kind == "op" and token.text == "+":
            return self.expression(7)
        if token.kind == "op" and token.text == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if token.kind == "name" and token.text == "not":
            return self.builder.logical_not(self.expression(3))
        if token.kind == "name" and self.current.text == "(" and self.current.kind == "op":
            return self.call(token)
        if token.kind == "name":
            return self.column(token)
        raise _syntax(self.name, self.text, token.position, "a number, a column, a function call or '('")

    def call(self, token: Token) -> Built:
        if token.text not in FUNCTIONS:
            import difflib

            guess = difflib.get_close_matches(token.text, FUNCTIONS, n=1)
            raise ConfigError.single(
                f"The derived feature '{self.name}' calls an unknown function '{token.text}'.",
                where=f"features.derive.{self.name}", expected=f"one of {', '.join(FUNCTIONS)}",
                got=f"'{token.text}'", fix=f"did you mean '{guess[0]}'?" if guess else "use a listed function",
            )
        arity = FUNCTIONS[token.text][0]
        self.expect("(")
        arguments = [self.expression(0)]
        while self.current.text == ",":
            self.advance()
            arguments.append(self.expression(0))
        self.expect(")")
        if len(arguments) != arity:
            raise ConfigError.single(
                f"The derived feature '{self.name}' calls {token.text} with {len(arguments)} argument(s).",
                where=f"features.derive.{self.name}", expected=f"{token.text} with {arity} argument(s)",
                got=str(len(arguments)), fix=f"write {token.text}({', '.join('x' * arity)})",
            )
        return self.builder.call(token.text, arguments)

    def column(self, token: Token) -> Built:
        if self.known is not None and token.text not in self.known:
            import difflib

            guess = difflib.get_close_matches(token.text, self.known, n=1)
            raise ConfigError.single(
                f"The derived feature '{self.name}' reads an unknown column '{token.text}'.",
                where=f"features.derive.{self.name}", expected="a feature column of the data",
                got=f"'{token.text}'", fix=f"did you mean '{guess[0]}'?" if guess else "check the column's name",
            )
        self.columns.append(token.text)
        return self.builder.column(token.text)


class _Closures:
    """The Builder of `parse`: closures over column arrays (a DataFrame in training, one-row arrays in serving)."""

    def number(self, value: float) -> Compiled:
        return lambda columns: np.float64(value)

    def column(self, name: str) -> Compiled:
        return lambda columns: np.asarray(columns[name], dtype="float64")

    def negate(self, operand: Compiled) -> Compiled:
        return lambda columns: -operand(columns)

    def logical_not(self, operand: Compiled) -> Compiled:
        return lambda columns: (np.nan_to_num(operand(columns)) == 0).astype("float64")

    def call(self, function: str, arguments: list[Compiled]) -> Compiled:
        apply = FUNCTIONS[function][1]
        return lambda columns: apply(*(np.asarray(a(columns), dtype="float64") for a in arguments))

    def binary(self, operator: str, left: Compiled, right: Compiled) -> Compiled:
        combine = BINARY[operator]

        def apply(columns: Columns) -> np.ndarray:
            with np.errstate(all="ignore"):
                result = combine(np.asarray(left(columns), dtype="float64"),
                                 np.asarray(right(columns), dtype="float64"))
            return np.asarray(result, dtype="float64")

        return apply
