"""A tiny config for sweep, summarize and report tests: the reference task, a few rounds."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

TINY = """\
rounds: 4
data: {batch_size: 200, batches: {min: 1, max: 2}, test_size: 200, clients: 50}
cohort: {min: 3, max: 4}
checkpoint: {every: 1}
evaluation: {per_client: false}
"""


def write_tiny(folder: Path, extra: str = "") -> Path:
    """TINY with `extra`'s top-level keys in place of its own (a YAML key may appear once)."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(TINY), **(yaml.safe_load(extra) or {})}, sort_keys=False))
    return path


def fake_sweep(root, runs):
    """A sweep folder by hand: runs = {name: (swept, accuracies, summary extras, config)}."""
    root.mkdir(parents=True)
    grid = {"runs": {}}
    for name, (swept, accs, extra, config) in runs.items():
        grid["runs"][name] = {"overrides": [], "swept": swept}
        d = root / name
        d.mkdir()
        rows = [{"round": i + 1, "test_accuracy": a, "test_loss": 1 - a} for i, a in enumerate(accs)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "summary.json").write_text(json.dumps({"final_test_accuracy": accs[-1], **extra}))
        (d / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "sweep.yaml").write_text(yaml.safe_dump(grid))
    return root
