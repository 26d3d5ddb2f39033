"""Device and availability trace files (CSV or JSON), validated into plain tables.

Device trace: one row per client with `client`, `seconds_per_sample`, `upload` and
`download` (bytes per second) — CSV with that header, a JSON list of such objects, or a
JSON object keyed by client id. FedScale's device-info layout, a JSON object
`{id: {"computation": ms per sample, "communication": kbit/s}}`, is accepted too; its ids
are assigned to clients 0, 1, ... in numeric order.

Availability trace: online intervals in simulated seconds, CSV `client,start,end` (one
row per interval) or JSON `{client: [[start, end], ...]}`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from fedhive.errors import UserError

DEVICE_COLUMNS = ("seconds_per_sample", "upload", "download")


def _read(path: str, field: str) -> tuple[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{field}: trace file not found: {p}")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            return "json", json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{field}: {p} is not valid JSON ({e.msg}, line {e.lineno})") from None
    rows = list(csv.DictReader(text.splitlines()))
    return "csv", rows


def _number(value: Any, field: str, where: str, name: str, positive: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{field}: {where}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0) or x < 0:
        raise UserError(f"{field}: {where}: {name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _client_id(value: Any, field: str, where: str) -> int:
    try:
        c = int(value)
    except (TypeError, ValueError):
        raise UserError(f"{field}: {where}: client must be an integer id, got {value!r}") from None
    if c < 0:
        raise UserError(f"{field}: {where}: client must be >= 0, got {c}")
    return c


def _device_rows(kind: str, data: Any, field: str) -> list[dict[str, Any]]:
    """Normalise every accepted layout to a list of dicts with client + DEVICE_COLUMNS."""
    if kind == "json" and isinstance(data, dict):
        first = next(iter(data.values()), None)
        if isinstance(first, dict) and "computation" in first:  # FedScale device info
            rows = []
            for i, k in enumerate(sorted(data, key=lambda s: int(s) if str(s).isdigit() else s)):
                v = data[k]
                if not isinstance(v, dict) or not {"computation", "communication"} <= set(v):
                    raise UserError(f"{field}: entry {k!r}: needs computation and communication")
                where = f"entry {k!r}"
                bw = _number(v["communication"], field, where, "communication") * 1000 / 8
                spp = _number(v["computation"], field, where, "computation") / 1000
                rows.append({"client": i, "seconds_per_sample": spp, "upload": bw, "download": bw})
            return rows
        data = [{"client": k, **v} if isinstance(v, dict) else v for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"{field}: expected rows of {', '.join(('client',) + DEVICE_COLUMNS)}")
    return data


def load_device_trace(path: str, num_clients: int, assign: str, field: str = "system.trace") -> dict[str, list[float]]:
    """`{column: [value per client]}` for clients 0..num_clients-1; missing clients or
    bad columns are UserErrors naming `field`."""
    kind, data = _read(path, field)
    rows = _device_rows(kind, data, field)
    if not rows:
        raise UserError(f"{field}: {path} has no rows")
    missing = [c for c in ("client",) + DEVICE_COLUMNS if c not in rows[0]]
    if missing:
        raise UserError(f"{field}: {path}: missing column(s) {', '.join(missing)}")
    table: dict[int, tuple[float, ...]] = {}
    for i, r in enumerate(rows):
        where = f"row {i + 1}"
        c = _client_id(r.get("client"), field, where)
        table[c] = tuple(_number(r.get(col), field, where, col) for col in DEVICE_COLUMNS)
    n = len(table)
    if assign == "cycle":
        if sorted(table) != list(range(n)):
            raise UserError(f"{field}: with trace_assign 'cycle' the clients must be 0..{n - 1}")
        ids = [c % n for c in range(num_clients)]
    else:
        absent = [c for c in range(num_clients) if c not in table]
        if absent:
            shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
            raise UserError(f"{field}: missing clients {shown} ({len(absent)} of {num_clients}; "
                            "add rows or set system.trace_assign: cycle)")
        ids = list(range(num_clients))
    return {col: [table[c][j] for c in ids] for j, col in enumerate(DEVICE_COLUMNS)}


def load_availability_trace(path: str, num_clients: int, assign: str = "exact",
                            field: str = "system.availability.trace") -> list[list[tuple[float, float]]]:
    """Sorted online intervals per client 0..num_clients-1 (a client absent is never
    online); with `assign == "cycle"` client c follows trace client c mod (largest id + 1)."""
    kind, data = _read(path, field)
    if kind == "csv":
        if data and not {"client", "start", "end"} <= set(data[0]):
            raise UserError(f"{field}: {path}: expected columns client, start, end")
        pairs: list[tuple[Any, Any]] = [(r["client"], [r["start"], r["end"]]) for r in data]
    elif isinstance(data, dict):
        pairs = [(k, iv) for k, ivs in data.items() for iv in (ivs if isinstance(ivs, list) else [None])]
    else:
        raise UserError(f"{field}: expected an object {{client: [[start, end], ...]}}")
    ids = [_client_id(c, field, f"interval {i + 1}") for i, (c, _) in enumerate(pairs)]
    n = max(ids, default=-1) + 1 if assign == "cycle" else num_clients
    out: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    for i, (c, iv) in enumerate(pairs):
        where = f"interval {i + 1}"
        c = _client_id(c, field, where)
        if not isinstance(iv, list) or len(iv) != 2:
            raise UserError(f"{field}: {where}: expected [start, end]")
        start, end = (_number(x, field, where, name, positive=False) for x, name in zip(iv, ("start", "end")))
        if end <= start:
            raise UserError(f"{field}: {where}: end ({end}) must be > start ({start})")
        if c < n:
            out[c].append((start, end))
    return [sorted(out[c % n]) if n else [] for c in range(num_clients)]
