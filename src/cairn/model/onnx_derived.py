"""`features.derive` expressions as ONNX nodes: the same language cairn.expr parses, written into the graph instead
of compiled to closures, with the same answers (NaN where cairn.expr gives NaN: log of a non-positive number,
division by zero, ...).

cairn.expr's own parser reads each expression and hands it, part by part, to the `_Nodes` builder here. The
calendar functions (year, month, day, weekday) read dates as the graph takes them, days since 1970-01-01, and
compute the civil date with integer arithmetic (H. Hinnant's days-to-civil), as numpy's datetime64[D] does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cairn.expr import FUNCTIONS, build

__all__ = ["calendar", "derived_columns"]

_CALENDAR = {"year", "month", "day", "weekday"}
_COMPARISONS = {"<": "Less", "<=": "LessOrEqual", ">": "Greater", ">=": "GreaterOrEqual", "==": "Equal"}


def calendar(graph: Any, days: str) -> dict[str, str]:
    """Year, month, day of month and weekday (Monday 0) of whole days since 1970-01-01 (double, any shape)."""
    op = graph.op

    def number(value: float) -> str:
        return str(graph.const(np.array(value, dtype=np.float64)))

    def floor_div(left: str, right: float) -> str:
        return str(op("Floor", op("Div", left, number(right))))

    shifted = op("Add", days, number(719468.0))
    era = floor_div(shifted, 146097.0)
    of_era = op("Sub", shifted, op("Mul", era, number(146097.0)))
    year_of_era = floor_div(op("Sub", op("Add", op("Sub", of_era, floor_div(of_era, 1460.0)),
                                         floor_div(of_era, 36524.0)), floor_div(of_era, 146096.0)), 365.0)
    of_year = op("Sub", of_era, op("Add", op("Sub", op("Add", op("Mul", year_of_era, number(365.0)),
                                                          floor_div(year_of_era, 4.0)),
                                                   floor_div(year_of_era, 100.0)), floor_div(year_of_era, 400.0)))
    shifted_month = floor_div(op("Add", op("Mul", of_year, number(5.0)), number(2.0)), 153.0)
    day = op("Add", op("Sub", of_year, floor_div(op("Add", op("Mul", shifted_month, number(153.0)), number(2.0)),
                                                 5.0)), number(1.0))
    early = op("Less", shifted_month, number(10.0))
    month = op("Add", shifted_month, op("Where", early, number(3.0), number(-9.0)))
    year = op("Add", op("Add", year_of_era, op("Mul", era, number(400.0))),
              op("Cast", op("LessOrEqual", month, number(2.0)), to=11))
    plus3 = op("Add", days, number(3.0))
    weekday = op("Sub", plus3, op("Mul", floor_div(plus3, 7.0), number(7.0)))
    return {"year": str(year), "month": str(month), "day": str(day), "weekday": str(weekday)}


class Unconvertible(Exception):
    """An expression the graph cannot compute; the message says which part."""


def derived_columns(graph: Any, step: Any, prepared: dict[str, str]) -> dict[str, str]:
    """The [N, 1] double columns `step` (a DerivedColumns) adds, by name, computed from `prepared`.
    Raises Unconvertible naming the expression and what in it does not convert."""
    anchor = next((prepared[name] for name in step.inputs if name in prepared), None)
    if anchor is None:
        raise Unconvertible("it reads no model input")
    shape = graph.op("Shape", anchor)
    added: dict[str, str] = {}
    for name, text in step.expressions:
        try:
            value, _ = build(name, text, _Nodes(graph, {**prepared, **added}, numbers=graph.numbers))
        except Unconvertible as error:
            raise Unconvertible(f"features.derive.{name} ({text!r}): {error}") from None
        added[name] = graph.op("Expand", value, shape)  # a constant expression still gives one value per row
        graph.numbers.add(name)
    return added


class _Nodes:
    """The cairn.expr Builder that writes graph nodes (the text was parsed and checked before, at training)."""

    def __init__(self, graph: Any, columns: dict[str, str], *, numbers: set[str]) -> None:
        self.graph, self.columns, self.numbers = graph, columns, numbers

    def const(self, value: float) -> str:
        return str(self.graph.const(np.array(value, dtype=np.float64)))

    def number(self, value: float) -> str:
        return self.const(value)

    def column(self, name: str) -> str:
        if name not in self.numbers:
            raise Unconvertible(f"it reads {name!r}, which is not a number input")
        return self.columns[name]

    def negate(self, operand: str) -> str:
        return str(self.graph.op("Neg", operand))

    def logical_not(self, operand: str) -> str:
        return self.flag(self.graph.op("Equal", self.zeroed(operand), self.const(0.0)))

    def call(self, function: str, arguments: list[str]) -> str:
        if function not in FUNCTIONS:
            raise Unconvertible(f"unknown function {function}")
        return self.function(function, arguments)

    # helpers -------------------------------------------------------------------------------------------------
    def flag(self, boolean: str) -> str:
        return str(self.graph.op("Cast", boolean, to=11))  # onnx.TensorProto.DOUBLE

    def zeroed(self, value: str) -> str:
        """np.nan_to_num: NaN as 0."""
        op = self.graph.op
        return str(op("Where", op("IsNaN", value), self.const(0.0), value))

    def nan_unless(self, condition: str, value: str) -> str:
        return str(self.graph.op("Where", condition, value, self.const(float("nan"))))

    def modulo(self, left: str, right: str) -> str:
        """np.mod (the sign of the divisor): a - floor(a / b) * b."""
        op = self.graph.op
        return str(op("Sub", left, op("Mul", op("Floor", op("Div", left, right)), right)))

    def binary(self, operator: str, left: str, right: str) -> str:
        op = self.graph.op
        if operator in {"+", "-", "*"}:
            return str(op({"+": "Add", "-": "Sub", "*": "Mul"}[operator], left, right))
        if operator in {"/", "%"}:
            divisor = op("Where", op("Equal", right, self.const(0.0)), self.const(float("nan")), right)
            return str(op("Div", left, divisor)) if operator == "/" else self.modulo(left, divisor)
        if operator == "**":
            magnitude = op("Pow", op("Abs", left), right)
            odd = op("Equal", self.modulo(right, self.const(2.0)), self.const(1.0))
            negative = op("And", op("Less", left, self.const(0.0)), odd)
            return str(op("Mul", magnitude, op("Where", negative, self.const(-1.0), self.const(1.0))))
        if operator in _COMPARISONS:
            return self.flag(op(_COMPARISONS[operator], left, right))
        if operator == "!=":
            return self.flag(op("Not", op("Equal", left, right)))
        if operator in {"and", "or"}:
            truths = [op("Not", op("Equal", self.zeroed(side), self.const(0.0))) for side in (left, right)]
            return self.flag(op("And" if operator == "and" else "Or", *truths))
        raise Unconvertible(f"the operator {operator}")

    def function(self, name: str, arguments: list[str]) -> str:
        op = self.graph.op
        x = arguments[0]
        if name in {"log", "log1p"}:
            value = op("Add", x, self.const(1.0)) if name == "log1p" else x
            positive = op("Greater", value, self.const(0.0))
            return self.nan_unless(positive, op("Log", op("Where", positive, value, self.const(1.0))))
        if name == "exp":
            return str(op("Exp", op("Clip", x, self.const(-700.0), self.const(700.0))))
        if name == "sqrt":
            return self.nan_unless(op("GreaterOrEqual", x, self.const(0.0)), op("Sqrt", op("Abs", x)))
        if name in {"abs", "round", "floor", "ceil"}:
            return str(op({"abs": "Abs", "round": "Round", "floor": "Floor", "ceil": "Ceil"}[name], x))
        if name == "isnull":
            return self.flag(op("IsNaN", x))
        if name in {"min", "max"}:  # np.fmin / np.fmax: a NaN loses to a number
            y = arguments[1]
            both = op("Min" if name == "min" else "Max", x, y)
            return str(op("Where", op("IsNaN", x), y, op("Where", op("IsNaN", y), x, both)))
        if name == "clip":
            bounded = op("Min", op("Max", x, arguments[1]), arguments[2])
            return str(op("Where", op("IsNaN", x), x, bounded))
        if name in _CALENDAR:  # cairn.expr._calendar: of the whole day (a missing one as day 0), NaN kept
            whole = op("Floor", self.zeroed(x))
            return self.nan_unless(op("Not", op("IsNaN", x)), calendar(self.graph, whole)[name])
        if name == "if":
            chosen = op("Not", op("Equal", self.zeroed(x), self.const(0.0)))
            return str(op("Where", chosen, arguments[1], arguments[2]))
        raise Unconvertible(f"{name}()")
