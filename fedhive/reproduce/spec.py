"""Reproduction specs: one YAML per paper result under configs/papers/ (protocol, base
config, arms and grid, quick variant, checks, published numbers with their sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedhive.config import merge_mappings, read_yaml
from fedhive.errors import UserError

PAPERS = Path(__file__).resolve().parents[2] / "configs" / "papers"
REQUIRED = ("title", "paper", "protocol", "kind", "checks")


def names(folder: Path | None = None) -> list[str]:
    """The reproductions' names (their files' stems), sorted."""
    return sorted(p.stem for p in (folder or PAPERS).glob("*.yaml"))


def load(name: str, folder: Path | None = None) -> dict[str, Any]:
    """A reproduction's spec by name; an unknown name lists the known ones."""
    folder = folder or PAPERS
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"reproduce: unknown reproduction {name!r}; one of: {', '.join(names(folder)) or 'none'}")
    spec = read_yaml(path)
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise UserError(f"{path}: missing {', '.join(missing)}")
    if spec["kind"] not in ("sweep", "measure"):
        raise UserError(f"{path}: kind: must be sweep or measure")
    from fedhive.reproduce.measures import MEASURES

    if spec["kind"] == "measure" and spec.get("measure") not in MEASURES:
        raise UserError(f"{path}: measure: must be one of {', '.join(MEASURES)}")
    if spec["kind"] == "sweep" and not {"base", "sweeps"} <= set(spec):
        raise UserError(f"{path}: a sweep reproduction needs base: and sweeps:")
    return {"name": name, **spec}


def variant(spec: dict[str, Any], quick: bool) -> dict[str, Any]:
    """The spec to run: `quick:` adds its overrides to the base, merges its params into the
    measure's (so it names only what it changes), and replaces the arms, sweeps, checks and
    published numbers it names."""
    if not quick:
        return spec
    if "quick" not in spec:
        raise UserError(f"reproduce {spec['name']}: has no --quick variant")
    q = spec["quick"]
    out = dict(spec, overrides=[*spec.get("overrides", []), *q.get("overrides", [])],
               params=merge_mappings(spec.get("params", {}), q.get("params", {})))
    for key in ("arms", "sweeps", "checks", "published"):
        if key in q:
            out[key] = q[key]
    return out


def arm_axis(arms: dict[str, list[str]]) -> list[str]:
    """The arms as one `zip:` sweep axis (every arm sets the same keys), or none for one arm."""
    if len(arms) < 2:
        return [o for overrides in arms.values() for o in overrides]
    splits = {label: [o.split("=", 1) for o in overrides] for label, overrides in arms.items()}
    keys = [k for k, _ in next(iter(splits.values()))]
    for label, pairs in splits.items():
        if [k for k, _ in pairs] != keys:
            raise UserError(f"reproduce arm {label!r}: every arm must set the same keys in order ({', '.join(keys)})")
    if len(keys) == 1:
        return [f"{keys[0]}=" + ",".join(pairs[0][1] for pairs in splits.values())]
    return [f"zip:{','.join(keys)}=" + ";".join(",".join(v for _, v in pairs) for pairs in splits.values())]


def arm_of(swept: dict[str, str], arms: dict[str, list[str]]) -> str | None:
    """The arm whose overrides a run's swept values carry."""
    from fedhive.reproduce.checks import matches

    for label, overrides in arms.items():
        if matches(swept, dict(o.split("=", 1) for o in overrides)):
            return label
    return None
