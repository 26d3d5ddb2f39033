"""Run several small experiments on the distributed engine in one process group.

Started once per rank (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) by
tests/engines/test_distributed.py: `python distributed_cases.py CASES.json OUT_DIR`. Every
rank writes `OUT_DIR/rank<r>.json`: per case, the metrics history, the final parameters,
the client states and the client ids this rank ran each round. The test also calls
`run_case` in-process for the one-process reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from fedhive.client.update import ClientResult
from fedhive.config import load_config
from fedhive.engines.base import client_state_store
from fedhive.experiment import Experiment

TIMING = ("round_s", "wall_s")


def counting(update):
    """A stateful client update: each client counts its rounds and scales its update by the
    count, so a lost or misplaced client state changes the model."""

    def counted(params, data, state, inputs, key):
        r = update(params, data, state, inputs, key)
        count = state["count"] + 1
        return ClientResult(r.update * count, r.weight, {"count": count}, r.outputs, r.metrics)

    return counted


def make_stateful(exp: Experiment) -> None:
    alg = exp.algorithm
    exp.algorithm = alg._replace(client_update=counting(alg.client_update),
                                 client_init=lambda p: {"count": torch.zeros((), dtype=p.dtype)})
    exp.client_states = client_state_store(exp.engine, exp.algorithm.client_init, exp.params)


def run_case(case: dict, engine: str = "distributed") -> dict:
    exp = Experiment(load_config(None, [*case["overrides"], f"engine.name={engine}"]))
    if case.get("stateful"):
        make_stateful(exp)
    ran: list[list[int]] = []
    if engine == "distributed":
        local_run, engine_run = exp.engine.local.run, exp.engine.run

        def recording_run(update, params, dataset, round, client_ids, states=None, inputs=None, linear=None):
            ran.append([int(c) for c in client_ids])
            return local_run(update, params, dataset, round, client_ids, states, inputs, linear)

        def rows_run(*args):  # exchange all rows even though the aggregate is linear
            return engine_run(*args[:7], None)

        exp.engine.local.run = recording_run
        if case.get("gather"):
            exp.engine.run = rows_run
    history = exp.run(quiet=True, save=False)
    return {
        "history": [{k: v for k, v in row.items() if k not in TIMING} for row in history],
        "params": exp.params.tolist(),
        "states": {str(c): {k: v.tolist() for k, v in s.items()} for c, s in exp.client_states.state_dict().items()},
        "ran": ran,
        "rank": getattr(exp.engine, "rank", 0),
    }


def main(cases_path: str, out_dir: str) -> None:
    cases = json.loads(Path(cases_path).read_text())
    results = {name: run_case(case) for name, case in cases.items()}
    rank = next(iter(results.values()))["rank"]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
