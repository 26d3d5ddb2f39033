"""Per-client local epochs (a FedProx-paper straggler's e < E), over the registry: every
registered algorithm that trains locally gives a client sent e epochs exactly the result
of a run configured with `client.epochs=e`, with no per-algorithm code. A new algorithm
module joins with no edit here."""

from __future__ import annotations

import pytest
import torch

from fedhive.algorithms.registry import registered
from fedhive.client.state import EPOCHS_INPUT
from fedhive.config import load_config
from fedhive.experiment import Experiment

LOCAL = [name for name, a in registered().items() if a.local_training]
# A one-hidden-layer MLP, so FedPer/FedRep have a body and a head; three clients with 2..3 batches.
TASK = ["data.clients=12", "cohort.min=3", "cohort.max=3", "data.batch_size=20", "data.batches.min=2",
        "data.batches.max=3", "model.name=mlp", "model.hidden=[4]", "client.lr=0.5"]
IDS = [0, 1, 2]
FULL = 3


def _cohort(name: str, epochs: int, passes: list[int] | None = None):
    """The cohort's client results under `client.epochs=epochs`, each client sent its
    own `passes` when given."""
    exp = Experiment(load_config(None, [f"algorithm={name}", *TASK, f"client.epochs={epochs}"]))
    inputs = exp.algorithm.round_inputs(0, IDS, exp.params, exp.server_state)
    if passes is not None:
        inputs[EPOCHS_INPUT] = torch.tensor(passes)
    return exp.engine.run(exp.algorithm.client_update, exp.params, exp.dataset, 0, IDS,
                          exp.client_states.gather(IDS), inputs)


def _rows(out, i: int) -> list[torch.Tensor]:
    """Client i's update, new state and outputs, in a fixed order."""
    return [out.updates[i], *(out.states[k][i] for k in sorted(out.states)),
            *(out.outputs[k][i] for k in sorted(out.outputs))]


def test_every_algorithm_that_trains_locally_is_covered():
    assert {"fedavg", "fedprox", "scaffold", "fednova", "fedrep", "apfl", "ditto"} <= set(LOCAL)
    assert "fedsgd" not in LOCAL


@pytest.mark.parametrize("name", LOCAL)
def test_a_client_sent_e_epochs_runs_exactly_e(name):
    passes = [1, 2, FULL]
    got = _cohort(name, FULL, passes)
    full = _cohort(name, FULL)
    for i, e in enumerate(passes):
        want = full if e == FULL else _cohort(name, e)
        for a, b in zip(_rows(got, i), _rows(want, i), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        assert torch.allclose(got.metrics["loss"][i], want.metrics["loss"][i], rtol=0, atol=1e-6)
    # Fewer epochs changed the update, so the equalities above could fail.
    assert not torch.allclose(got.updates[0], full.updates[0], rtol=0, atol=1e-4)
