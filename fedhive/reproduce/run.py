"""`fedhive reproduce NAME`: run a reproduction's sweeps (or its measurement), turn the runs
into result rows, evaluate the checks and write the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from fedhive.reproduce import spec as specs
from fedhive.reproduce.checks import Outcome, evaluate, value
from fedhive.run_folder.recorder import atomic_write


def run_reproduction(name: str, quick: bool = False, out: str | Path | None = None, jobs: int | None = None,
              quiet: bool = False) -> tuple[Path, list[Outcome]]:
    """Run reproduction `name` into `out` (default runs/reproduce-NAME); returns the report
    and the checks' outcomes."""
    spec = specs.variant(specs.load(name), quick)
    folder = Path(out or f"runs/reproduce-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if spec["kind"] == "sweep":
        rows, figure = sweep_rows(spec, folder, jobs, quiet, "-quick" if quick else "")
    else:
        from fedhive.reproduce.measures import MEASURES

        rows, figure = MEASURES[spec["measure"]](folder, **spec.get("params", {}))
    outcomes = evaluate(rows, spec["checks"])
    from fedhive.reproduce.report import write

    report = write(spec, folder, rows, outcomes, figure, quick, time.perf_counter() - start)
    return report, outcomes


def sweep_rows(spec: dict[str, Any], folder: Path, jobs: int | None, quiet: bool,
               suffix: str = "") -> tuple[list[dict], Path]:
    """Run each of the spec's sweeps from its base config into `folder/<sweep><suffix>` (the
    quick variant's runs apart from the full ones); one row per setting (mean over seeds)
    and one band figure of every setting's curves."""
    from fedhive.reports.bands import plot_groups
    from fedhive.sweep.runner import run_sweep

    base = write_base(spec, folder / f"base{suffix}.yaml")
    arms = spec.get("arms", {"run": []})
    rows, curves = [], {}
    for sweep, grid in spec["sweeps"].items():
        args = [*specs.arm_axis(arms), *grid, f"output_dir={folder}"]
        sweep_dir, _ = run_sweep(str(base), args, jobs, sweep + suffix, quiet)
        for setting, runs, row in setting_rows(sweep_dir, arms, spec.get("target", 0.9)):
            rows.append({"sweep": sweep, **row})
            curves[f"{sweep}: {setting}"] = runs
    return rows, plot_groups(curves, folder / "figure.png")


def write_base(spec: dict[str, Any], path: Path) -> Path:
    """The base config with the variant's overrides merged in (so a sweep may set the same
    key again), as the YAML file the sweeps start from."""
    from fedhive.config import apply_overrides

    config = apply_overrides(spec["base"], spec.get("overrides", []))
    atomic_write(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    return path


def setting_rows(sweep_dir: Path, arms: dict[str, list[str]], target: float):
    """(label, runs, row) per setting of a sweep: the row holds the arm, the other swept
    values and the means over seeds of final/best accuracy, final test loss and rounds to
    `target`."""
    from fedhive.reports.summarize import group_row, load_groups, setting_label, spread
    from fedhive.sweep.runner import read_grid

    swept = {setting_label(e["swept"]): e["swept"] for e in read_grid(sweep_dir)["runs"].values()}
    out = []
    for group in load_groups(sweep_dir):
        values = swept[group.setting]
        arm = specs.arm_of(values, arms)
        keys = {o.split("=", 1)[0] for o in (arms[arm] if arm is not None else [])}
        row = {"arm": arm, **{k: v for k, v in values.items() if k not in keys and k != "seed"}}
        stats = group_row(group, target)
        row.update(seeds=stats["seeds"], final_accuracy=stats["final_accuracy_mean"],
                   best_accuracy=stats["best_accuracy_mean"], rounds_to_target=stats["rounds_to_target_mean"],
                   reached_target=stats["reached_target"],
                   **{k: spread([r.summary.get(f"final_{m}") for r in group.runs])["mean"] for k, m in SEED_MEANS},
                   loop_s=spread([r.summary.get("loop_s") for r in group.runs])["mean"])
        row = {k: v for k, v in row.items() if v is not None or k not in OPTIONAL}
        label = " ".join(f"{k}={v}" for k, v in row.items() if k not in ROW_METRICS and k != "arm")
        out.append((f"{arm} {label}".strip(), group.runs, row))
    return out


# Row column <- the summary's final_<metric>, averaged over seeds; the train metrics only
# when the runs measured them (evaluation.train_metrics).
SEED_MEANS = (("final_test_loss", "test_loss"), ("final_train_loss", "global_train_loss"),
              ("final_grad_dissimilarity", "grad_dissimilarity"))
OPTIONAL = ("final_train_loss", "final_grad_dissimilarity")
ROW_METRICS = ("seeds", "final_accuracy", "best_accuracy", "rounds_to_target", "reached_target",
               *(k for k, _ in SEED_MEANS), "loop_s")


def published_rows(spec: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The published numbers next to ours: each entry's `ours` names a row and a metric."""
    out = []
    for entry in spec.get("published", []):
        ours = entry.get("ours")
        mine = value(rows, ours.get("where", {}), ours["metric"]) if ours else None
        out.append({"what": entry["what"], "published": entry["value"], "ours": mine, "source": entry["source"]})
    return out
