"""FedPer and FedRep against their papers' local steps written out with plain autograd
(one client, two rounds), the head kept per client, and the split's one-line error."""

from __future__ import annotations

import pytest
import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.synthetic import ReferenceTask
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from tests.algorithms.by_hand import cycled, local_sgd
from tests.test_evaluation import label_skewed

LR, STEPS, HEAD_EPOCHS = 0.5, 2, 2
TASK = [f"client.lr={LR}", f"client.steps={STEPS}", "model.name=mlp", "model.hidden=[3]", "data.clients=10",
        "data.batch_size=50", "cohort.min=2", "cohort.max=2"]


@pytest.mark.parametrize("name", ["fedper", "fedrep"])
def test_two_rounds_by_hand(name):
    model = build_model(ModelConfig(name="mlp", hidden=[3]), 2, 0)
    task = ReferenceTask(DataConfig(batch_size=50), 0)
    algorithm = build_algorithm(load_config(None, [f"algorithm={name}", f"algorithm.head_epochs={HEAD_EPOCHS}"
                                                   if name == "fedrep" else "algorithm.head_params=2", *TASK]), model)
    w = model.initial_params()
    h = 3 * 2 + 2  # the last Linear(3, 2): weight and bias
    is_head = torch.arange(len(w)) >= len(w) - h
    head = algorithm.client_init(w)["head"]
    torch.testing.assert_close(head, w[-h:])
    for r in range(2):
        data = task.cohort_batches(r, [4]).client(0)
        steps = cycled(data, STEPS)
        start = torch.cat([w[:-h], head])
        if name == "fedrep":  # head first (body frozen) for HEAD_EPOCHS passes, then the body alone
            start = local_sgd(model, start, data, list(range(data.x.shape[0])) * HEAD_EPOCHS, LR, frozen=~is_head)
            local = local_sgd(model, start, data, steps, LR, frozen=is_head)
            torch.testing.assert_close(local[-h:], start[-h:])  # the body phase leaves the head alone
        else:
            local = local_sgd(model, start, data, steps, LR)
        res = algorithm.client_update(w, data, {"head": head}, {}, torch.tensor(4))
        torch.testing.assert_close(res.update, w - local, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(res.state["head"], local[-h:], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(algorithm.personal(w, None, res.state), torch.cat([w[:-h], local[-h:]]))
        w, head = w - res.update, res.state["head"]


@pytest.mark.parametrize("name", ["fedper", "fedrep"])
def test_heads_stay_on_the_clients_and_personal_models_fit_their_labels(name):
    config = load_config(None, [f"algorithm={name}", "model.name=mlp", "client.lr=0.5", "data.clients=8",
                                "cohort.min=4", "cohort.max=4", "rounds=4"])
    exp = Experiment(config, dataset=label_skewed())
    row = exp.run(quiet=True, save=False)[-1]
    heads = [s["head"] for s in exp.client_states.states.values()]
    assert len(heads) >= 4 and not torch.equal(heads[0], heads[1])
    assert row["personal_accuracy_mean"] >= 0.95 and row["personal_clients"] == len(heads)


def test_a_head_that_leaves_no_body_is_a_one_line_error():
    with pytest.raises(UserError, match="algorithm.head_params: 2 leaves no body; the model has 2 parameter tensors"):
        build_algorithm(load_config(None, ["algorithm=fedper", "model.name=logistic"]),
                        build_model(ModelConfig(name="logistic"), 2, 0))
