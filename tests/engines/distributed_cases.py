"""Run several small experiments on the distributed engine in one process group.

Started once per rank (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) by
tests/engines/test_distributed.py: `python distributed_cases.py CASES.json OUT_DIR`. Every
rank writes `OUT_DIR/rank<r>.json`: per case, the metrics history, the final parameters
and the client ids this rank ran each round.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fedhive.config import load_config
from fedhive.experiment import Experiment

TIMING = ("round_s", "wall_s")


def run_case(overrides: list[str], gather: bool) -> dict:
    exp = Experiment(load_config(None, [*overrides, "engine.name=distributed"]))
    if gather:  # exchange all rows even though the aggregate is linear
        exp.engine.linear = None
    ran: list[list[int]] = []
    local_run = exp.engine.local.run

    def recording_run(update, params, dataset, round, client_ids, states=None):
        ran.append([int(c) for c in client_ids])
        return local_run(update, params, dataset, round, client_ids, states)

    exp.engine.local.run = recording_run
    history = exp.run(quiet=True, save=False)
    rows = [{k: v for k, v in row.items() if k not in TIMING} for row in history]
    return {"history": rows, "params": exp.params.tolist(), "ran": ran, "rank": exp.engine.rank}


def main(cases_path: str, out_dir: str) -> None:
    cases = json.loads(Path(cases_path).read_text())
    results = {name: run_case(case["overrides"], case.get("gather", False)) for name, case in cases.items()}
    rank = next(iter(results.values()))["rank"]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
