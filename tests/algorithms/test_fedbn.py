"""FedBN: batch-norm weights and statistics never leave the client, everything else is
FedAvg; personal models carry each client's own batch norm; both engines agree."""

from __future__ import annotations

import pytest
import torch

from fedhive.algorithms.fedbn import norm_coordinates, with_local_norms
from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from tests.models.test_batchnorm import BN_CNN, DIGITS, run

FEDBN = [*DIGITS, *BN_CNN, "data.partition.name=dirichlet", "data.partition.alpha=0.3"]


def test_norm_coordinates_are_the_batch_norm_tensors():
    model = Experiment(load_config(None, [*FEDBN, "algorithm=fedbn"])).model
    idx = norm_coordinates(model)
    assert len(idx) == 4 * (8 + 16)  # weight, bias, running mean and var of each BatchNorm2d
    stats = model.stats_of(torch.arange(model.num_params))
    assert len(stats) == 2 * (8 + 16) and set(stats.tolist()) <= set(idx.tolist())


def test_one_client_update_is_fedavg_from_its_own_batch_norm():
    exp = Experiment(load_config(None, [*FEDBN, "algorithm=fedbn"]))
    fedavg = Experiment(load_config(None, [*FEDBN, "algorithm=fedavg"])).algorithm.client_update
    model, alg, w = exp.model, exp.algorithm, exp.params
    idx = norm_coordinates(model)
    own = alg.client_init(w)["norms"] + 0.5  # a client whose batch norm has moved away
    data = exp.dataset.cohort_batches(0, [3]).client(0)
    res = alg.client_update(w, data, {"norms": own}, {}, torch.tensor(3))
    start = with_local_norms(w, idx, own)
    local = start - fedavg(start, data, {}, {}, torch.tensor(3)).update
    assert torch.count_nonzero(res.update[idx]) == 0  # nothing of batch norm reaches the server
    shared = torch.ones_like(w, dtype=torch.bool).index_fill_(0, idx, False)
    torch.testing.assert_close(res.update[shared], (w - local)[shared])
    torch.testing.assert_close(res.state["norms"], local[idx])
    assert not torch.equal(res.state["norms"], own)
    torch.testing.assert_close(alg.personal(w, None, res.state), with_local_norms(w, idx, local[idx]))


def test_without_batch_norm_it_is_fedavg():
    fedbn, fedavg = (run([*DIGITS, "model.name=mlp", "model.hidden=[16]", "rounds=2", f"algorithm={a}"])
                     for a in ("fedbn", "fedavg"))
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert [r[key] for r in fedbn] == [r[key] for r in fedavg]


@pytest.mark.slow
def test_engines_agree_and_personal_models_are_scored():
    seq, vec = (run([*FEDBN, "algorithm=fedbn", f"engine.name={e}"]) for e in ("sequential", "vectorized"))
    for a, b in zip(seq, vec):
        assert a["personal_accuracy_mean"] == pytest.approx(b["personal_accuracy_mean"], rel=1e-5)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert seq[-1]["personal_accuracy_mean"] > 0.2  # 10 classes: chance is 0.1


@pytest.mark.parametrize("name", ["fedper", "fedrep"])
def test_head_algorithms_refuse_batch_norm_models(name):
    with pytest.raises(UserError, match=f"algorithm.name: {name} does not support batch-norm models"):
        Experiment(load_config(None, [*DIGITS, *BN_CNN, f"algorithm={name}"]))
