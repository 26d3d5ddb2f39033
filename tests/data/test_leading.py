"""Leading-step draws: a fixed-steps client receives only the batches it takes, weighted
by all its samples, and the run is the one its whole-epoch draw gives, on every engine."""

import numpy as np
import pytest
import torch

from fedhive import Experiment, load_config
from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig
from fedhive.data import from_arrays
from fedhive.data.federated import FederatedDataset, Packed
from fedhive.data.leading import LeadingSteps, leading_steps
from fedhive.data.synthetic import ReferenceTask
from fedhive.models import build_model


def skewed(batch_size: int = 10) -> FederatedDataset:
    # Clients of 1,000, 23, 7 and 0 samples; x holds the row id so draws are checkable.
    sizes = torch.tensor([1000, 23, 7, 0])
    n = int(sizes.sum())
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    y = torch.arange(n) % 3
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    return FederatedDataset(Packed(x, y, offsets), 3, test=(x[:5], y[:5]), batch_size=batch_size, seed=4)


def test_the_draw_holds_the_steps_taken_not_the_epoch():
    ds, ids = skewed(), [2, 0, 3, 1]
    whole = ds.cohort_batches(3, ids)
    lead = ds.leading_batches(3, ids, 5)
    assert whole.x.shape == (4, 100, 10, 3)  # the 1,000-sample client's epoch
    assert lead.x.shape == (4, 5, 10, 3) and lead.mask.shape == (4, 5, 10)
    assert lead.mask.sum((1, 2)).tolist() == [7.0, 50.0, 0.0, 23.0]
    # each client's leading batches are the first batches of its keyed epoch
    assert torch.equal(lead.x, whole.x[:, :5]) and torch.equal(lead.mask, whole.mask[:, :5])
    # the weight is still the client's whole training set, as the whole draw's mask counts it
    assert lead.sizes.tolist() == [7.0, 1000.0, 0.0, 23.0] == whole.sizes.tolist()
    assert lead.sizes.dtype == lead.mask.dtype


def test_leading_draws_keep_the_keyed_order_whoever_else_is_drawn():
    ds = skewed()
    alone = ds.leading_batches(6, [0], 2)
    together = ds.leading_batches(6, [1, 0], 2)
    assert torch.equal(alone.x[0], together.x[1]) and alone.sizes.tolist() == [1000.0]
    assert not torch.equal(alone.x, ds.leading_batches(7, [0], 2).x)  # reshuffled each round


def test_the_view_draws_leading_steps_only_where_the_dataset_can():
    ds = skewed()
    assert leading_steps(ds, None) is ds
    view = leading_steps(ds, 3)
    assert isinstance(view, LeadingSteps) and view.num_clients == 4
    assert view.cohort_batches(0, [0, 1]).x.shape[1] == 3
    assert view.work(0, [0, 1, 2, 3]) == [3, 3, 1, 0] and ds.work(0, [0, 1, 2, 3]) == [100, 3, 1, 0]
    assert view.cohort_steps(0, [0, 2]).steps.tolist() == [3, 1]
    task = ReferenceTask(DataConfig(), seed=0)  # draws fresh batches: no leading draw to take
    assert leading_steps(task, 3) is task

    class Flipped(FederatedDataset):  # changes the batches: its leading draw must not bypass that
        def cohort_batches(self, round, client_ids):
            b = super().cohort_batches(round, client_ids)
            return b._replace(y=2 - b.y)

    flipped = Flipped(ds.train, 3, test=ds.test_set(0), batch_size=10)
    assert leading_steps(flipped, 3) is flipped


def _config(*extra: str):
    return load_config(None, ["rounds=2", "cohort.min=5", "cohort.max=5", "model.name=logistic",
                              "algorithm=fedavg", "server.aggregate=weighted_mean", "server.optimizer=sgd",
                              "server.lr=1.0", "client.lr=0.2", *extra])


def _users() -> FederatedDataset:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 900)
    x = rng.normal(size=(900, 5)).astype(np.float32) + np.eye(3, 5, dtype=np.float32)[y] * 2
    return from_arrays(x, y, clients=10, partition="dirichlet", alpha=0.5, batch_size=8, seed=0)


@pytest.mark.parametrize("algorithm", ["fedavg", "fedprox", "scaffold", "fednova"])
def test_engines_agree_and_weights_are_the_sample_counts(algorithm):
    ds, steps = _users(), 2
    results = {}
    for engine in ("sequential", "vectorized"):
        exp = Experiment(_config(f"algorithm={algorithm}", f"client.steps={steps}", f"engine.name={engine}"),
                         dataset=ds)
        assert isinstance(exp.train_data, LeadingSteps) and exp.algorithm.steps == steps
        ids = exp.sampler(0).tolist()
        assert exp.train_data.cohort_batches(0, ids).mask.shape[1] == steps
        states = exp.client_states.gather(ids)
        out = exp.engine.run(exp.algorithm.client_update, exp.params, exp.train_data, 0, ids, states,
                             exp.client_inputs(0, ids, 0))
        assert out.weights.tolist() == ds.client_sizes[ids].double().tolist()
        results[engine] = out.updates
    torch.testing.assert_close(results["sequential"], results["vectorized"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["sequential", "vectorized"])
def test_a_run_is_the_one_its_whole_epoch_draw_gives(engine):
    ds = _users()
    config = _config("client.steps=3", "client.momentum=0.5", f"engine.name={engine}")
    lead = Experiment(config, dataset=ds)
    whole = Experiment(config, dataset=ds)
    whole.algorithm = whole.algorithm._replace(steps=None)  # the whole epoch drawn, as before
    a, b = lead.run(save=False), whole.run(save=False)
    assert torch.equal(lead.params, whole.params)
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]


@pytest.mark.parametrize("name, steps", [("fedavg", 4), ("fedprox", 4), ("ditto", 4), ("fedper", 4),
                                         ("fedrep", None), ("ifca", None), ("qffl", None), ("scaffold", 4)])
def test_algorithms_that_read_more_than_their_steps_draw_whole_epochs(name, steps):
    config = load_config(None, [f"algorithm={name}", "client.steps=4", "model.name=mlp", "model.hidden=[4]"])
    model = build_model(config.model, (2,), 0, 3)
    assert build_algorithm(config, model, 3).steps == steps
    assert build_algorithm(config.model_copy(update={"client": config.client.model_copy(update={"steps": None})}),
                           model, 3).steps is None
