"""A sweep's grid: `key=a,b,c`, `key=0..4` and `zip:k1,k2=a1,a2;b1,b2` arguments expanded
into the cross product of override lists, each point named by a short hash."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import NamedTuple

from fedhive.config import Config, build_config, read_yaml
from fedhive.errors import UserError

_RANGE = re.compile(r"(-?\d+)?\.\.(-?\d+)?")


class Axis(NamedTuple):
    """One swept dimension: the keys it sets together and, per value, one string per key."""

    keys: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]


class Point(NamedTuple):
    """One run of the sweep: its overrides (fixed ones first) and its folder name."""

    run: str
    overrides: tuple[str, ...]
    swept: dict[str, str]


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and braces, so `[64,64]` stays one value."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "[{"
        depth -= c in "]}"
        if c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _values(arg: str, raw: str) -> list[str]:
    """A value list: `a,b,c`, or an inclusive integer range `0..4`."""
    m = _RANGE.fullmatch(raw)
    if m:
        if m.group(1) is None or m.group(2) is None:
            raise UserError(f"sweep {arg!r}: a range needs both ends, e.g. seed=0..4")
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise UserError(f"sweep {arg!r}: the range is empty ({lo} > {hi})")
        return [str(v) for v in range(lo, hi + 1)]
    values = split_top_level(raw, ",")
    if any(not v.strip() for v in values):
        raise UserError(f"sweep {arg!r}: empty value; expected key=value, key=a,b,c or key=0..4")
    return values


def parse_axis(arg: str) -> Axis:
    """One command-line argument as an axis (a fixed `key=value` is an axis of one value)."""
    head, sep, raw = arg.partition("=")
    if not sep or not head:
        raise UserError(f"sweep {arg!r}: expected key=value, key=a,b,c, key=0..4 or zip:k1,k2=a1,a2;b1,b2")
    if not head.startswith("zip:"):
        if "," in head:
            raise UserError(f"sweep {arg!r}: several keys need the zip: form, e.g. zip:{head}=a1,a2;b1,b2")
        return Axis((head,), tuple((v,) for v in _values(arg, raw)))
    keys = tuple(head.removeprefix("zip:").split(","))
    if len(keys) < 2 or any(not k for k in keys):
        raise UserError(f"sweep {arg!r}: zip: needs two or more keys, e.g. zip:server.lr,client.lr=0.1,1;0.5,2")
    groups = split_top_level(raw, ";")
    rows = tuple(tuple(split_top_level(g, ",")) for g in groups)
    for row in rows:
        if len(row) != len(keys) or any(not v.strip() for v in row):
            raise UserError(f"sweep {arg!r}: each ';'-separated group needs {len(keys)} values, one per key")
    return Axis(keys, rows)


def run_name(overrides: tuple[str, ...]) -> str:
    """The run folder's name: 8 hex digits of the point's overrides (order-free)."""
    return hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:8]


def expand(axes: list[Axis]) -> list[Point]:
    """The cross product of the axes, in argument order (the last axis varies fastest)."""
    keys = [k for a in axes for k in a.keys]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise UserError(f"sweep: {', '.join(sorted(dup))} is given more than once")
    points = []
    for combo in itertools.product(*(a.values for a in axes)):
        pairs = [(k, v) for axis, values in zip(axes, combo) for k, v in zip(axis.keys, values)]
        overrides = tuple(f"{k}={v}" for k, v in pairs)
        swept = {k: v for (k, v), axis in zip(pairs, _axis_of(axes)) if len(axis.values) > 1}
        points.append(Point(run_name(overrides), overrides, swept))
    return points


def _axis_of(axes: list[Axis]) -> list[Axis]:
    """Each key's axis, in key order."""
    return [a for a in axes for _ in a.keys]


def placement(sweep_dir: str, run: str) -> list[str]:
    """The overrides that put a point's run folder at `sweep_dir/run`. Quoted: a hash of
    digits only must stay a string."""
    return [f"output_dir={json.dumps(sweep_dir)}", f"name={json.dumps(run)}"]


def resolve(config_path: str | None, args: list[str], sweep_dir: str) -> list[tuple[Point, Config]]:
    """Every grid point with its validated config (writing under `sweep_dir`, named by its
    hash). The first bad point is a UserError naming it, before anything runs."""
    base = read_yaml(config_path) if config_path is not None else {}
    out = []
    for point in expand([parse_axis(a) for a in args]):
        try:
            config = build_config(base, [*point.overrides, *placement(sweep_dir, point.run)])
        except UserError as e:
            raise UserError(f"sweep point {' '.join(point.overrides) or '(no overrides)'}: {e}") from None
        out.append((point, config))
    return out
