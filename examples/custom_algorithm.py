"""A new algorithm in one file: clients clip their local-SGD delta, the server weights each update by
its agreement with the cohort's mean. `fedhive run algorithm=custom_algorithm:ALGORITHM --allow-code`."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from pydantic import Field

import fedhive
from fedhive import Algorithm, ClientResult, Hyperparameters, RoundContext, Setup, Transform
from fedhive.server.chain import finite_rows


class Clipped(Hyperparameters):
    clip: float = Field(1.0, gt=0, description="bound on the norm of a client's delta")


def client_update(setup: Setup):
    train, clip = setup.trainer(), setup.hp.clip

    def update(params, data, state, inputs, key):
        run = train(params, data)  # the shared local trainer, with the config's `client` settings
        delta = params - run.local
        delta = delta * (clip / delta.norm().clamp_min(clip))
        return ClientResult(delta, data.mask.sum(), state, {}, {"loss": run.loss})

    return update


def agreement_mean() -> Transform:
    """Mean of the finite rows, each weighted by its sample count times max(0, cos(row, mean))."""

    def update(updates, state, ctx: RoundContext):
        ok = finite_rows(updates)
        rows, w = updates[ok], ctx.weights[ok]
        cos = torch.nn.functional.cosine_similarity(rows, rows.mean(dim=0, keepdim=True))
        trust = w * cos.clamp_min(0)
        return (trust[:, None] * rows).sum(dim=0) / trust.sum().clamp_min(1e-12), state

    return Transform(lambda params: (), update, "aggregate")


ALGORITHM = Algorithm("clipped_agreement", client_update, Clipped, defaults={"client": {"lr": 0.1}},
                      server=lambda setup, configured: fedhive.chain(agreement_mean(), fedhive.sgd(lr=1.0)))

if __name__ == "__main__":  # the same run on each engine: the same accuracy
    task = ["algorithm=custom_algorithm:ALGORITHM", "data.name=digits", "model.name=logistic", "rounds=10",
            "client.epochs=2", "data.clients=20", "cohort.min=5", "cohort.max=5", "--allow-code", "-q"]
    out, here = Path(tempfile.mkdtemp()), Path(__file__).resolve().parent
    for name, engine in [("sequential", "engine.name=sequential"), ("vectorized", "engine.name=vectorized"),
                         ("distributed", "engine.workers=2")]:
        subprocess.run([sys.executable, "-m", "fedhive", "run", *task, engine, f"output_dir={out}", f"name={name}"],
                       cwd=here, check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((out / name / "summary.json").read_text())
        print(f"{name:12} final test accuracy {summary['final_test_accuracy']:.4f}")
