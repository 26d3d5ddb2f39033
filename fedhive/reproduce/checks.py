"""A reproduction's checks: stated claims (`order`, `close`, `within`) evaluated on a table
of result rows, each row one setting with its metrics."""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml

from fedhive.errors import UserError


class Outcome(NamedTuple):
    """One check's verdict and the numbers behind it."""

    text: str
    passed: bool
    detail: str


def matches(row: dict[str, Any], where: dict[str, Any]) -> bool:
    """The row has every `where` value; swept values are strings, so both sides are read as YAML."""
    def same(a: Any, b: Any) -> bool:
        norm = lambda v: yaml.safe_load(v) if isinstance(v, str) else v  # noqa: E731
        return norm(a) == norm(b)

    return all(k in row and same(row[k], v) for k, v in where.items())


def select(rows: list[dict[str, Any]], where: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows matching `where`; none is an error in the reproduction's own data."""
    found = [r for r in rows if matches(r, where)]
    if not found:
        raise UserError(f"reproduction check: no result row has {where}")
    return found


def value(rows: list[dict[str, Any]], where: dict[str, Any], metric: str) -> float | None:
    """The metric of the one row matching `where`."""
    found = select(rows, where)
    if len(found) > 1:
        raise UserError(f"reproduction check: {len(found)} result rows have {where}; name one")
    return found[0].get(metric)


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.6g}"


def check_order(rows, spec) -> tuple[bool, str]:
    """Strictly increasing metric along `settings`; `factor` f asks each next ≥ f × previous."""
    vals = [value(rows, w, spec["metric"]) for w in spec["settings"]]
    factor = float(spec.get("factor", 1.0))
    known = [v for v in vals if v is not None]
    ok = len(known) == len(vals) and all(
        (b >= factor * a) if factor != 1.0 else (b > a) for a, b in zip(known, known[1:]))
    sign = f" ≤ {factor}× " if factor != 1.0 else " < "
    return ok, sign.join(_fmt(v) for v in vals)


def check_close(rows, spec) -> tuple[bool, str]:
    """|a − b| ≤ tol for the two `settings`."""
    a, b = (value(rows, w, spec["metric"]) for w in spec["settings"])
    tol = float(spec["tol"])
    ok = a is not None and b is not None and abs(a - b) <= tol
    gap = abs(a - b) if a is not None and b is not None else None
    return ok, f"{_fmt(a)} vs {_fmt(b)} (|diff| {_fmt(gap)}, tol {tol:g})"


def check_within(rows, spec) -> tuple[bool, str]:
    """low ≤ metric ≤ high for every row matching `where` (all rows if none given)."""
    low, high = float(spec.get("low", float("-inf"))), float(spec.get("high", float("inf")))
    vals = [r.get(spec["metric"]) for r in select(rows, spec.get("where", {}))]
    ok = all(v is not None and low <= v <= high for v in vals)
    return ok, f"{', '.join(_fmt(v) for v in vals)} in [{low:g}, {high:g}]"


KINDS = {"order": check_order, "close": check_close, "within": check_within}


def evaluate(rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> list[Outcome]:
    """Every check's outcome, in the order stated."""
    out = []
    for spec in checks:
        if spec.get("kind") not in KINDS:
            raise UserError(f"reproduction check {spec.get('text', '?')!r}: kind must be one of {', '.join(KINDS)}")
        passed, detail = KINDS[spec["kind"]](rows, spec)
        out.append(Outcome(spec["text"], passed, detail))
    return out
