"""Where compiling the fused step stands on the reference workload: eager, fedhive's
compile (`engine.compile=true`: the forward compiled, the backward by autograd) and the
whole step compiled as one graph, in CPU time per round, which a busy machine inflates
far less than wall time.

    python bench/compile_step.py eager 40
    python bench/compile_step.py forward 40
    python bench/compile_step.py whole 40

Run the modes interleaved, several times: the first compile of a process pays for
inductor's cache (later ones reuse it).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.func import grad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedhive.client.update import CohortSum  # noqa: E402
from fedhive.config import load_config  # noqa: E402
from fedhive.experiment import Experiment  # noqa: E402


def whole_step(self: CohortSum, compile):
    """The whole fused step compiled as one graph: weights, forward, backward
    (`torch.func.grad`, which dynamo traces; `torch.autograd.grad` breaks the graph) and
    per-client losses. Measured, not adopted: it saved nothing over eager (README)."""
    gradient = grad(self.weighted_loss, has_aux=True)

    def step(params, x, y, mask, steps, coef):
        owner = torch.repeat_interleave(torch.arange(len(steps)), steps, output_size=len(x))
        samples = (x.new_full((len(x),), float(x.shape[1])) if mask is None else mask.sum(-1)).to(params.dtype)
        weights = params.new_zeros(len(steps)).index_add_(0, owner, samples)
        total, per_step = gradient(params, x, y, mask, coef(weights).to(params.dtype)[owner])
        loss = torch.zeros_like(weights).index_add_(0, owner, per_step * samples) / weights.clamp_min(1.0)
        return total, weights, {"loss": loss}

    compiled = compile(step)
    return lambda params, data, coef: compiled(params, data.x, data.y, data.mask, data.steps, coef)


def main(mode: str, rounds: int) -> None:
    torch.set_num_threads(1)
    if mode == "whole":
        CohortSum.compiled = whole_step
    extra = [] if mode == "eager" else ["engine.compile=true"]
    exp = Experiment(load_config(None, [f"rounds={rounds}", "engine.threads=1", *extra]))
    cpu = []
    for _ in range(rounds):
        start = time.process_time()
        row = exp.step()
        cpu.append(time.process_time() - start)
    print(json.dumps({"mode": mode, "round1_cpu_s": round(cpu[0], 2),
                      "steady_cpu_ms": round(statistics.median(cpu[2:]) * 1e3, 2),
                      "total_cpu_s": round(sum(cpu), 2), "accuracy": row["test_accuracy"]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
