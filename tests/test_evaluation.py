"""Per-client and personalized evaluation on clients' own test splits."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedhive import Experiment, load_config
from fedhive.config import EvalConfig, ModelConfig
from fedhive.data import from_arrays
from fedhive.data.batches import Batches
from fedhive.data.federated import FederatedDataset, Packed
from fedhive.errors import UserError
from fedhive.evaluation import (ClientEvaluator, budget_groups, global_test, client_accuracies, cycle_steps, personal_accuracies,
                                personalized_accuracies, summarize, train_metrics)
from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES
from fedhive.models.registry import build_model


def identity_logits():
    """Logistic regression on 2 features with W = I, b = 0: the logits are x itself."""
    m = build_model(ModelConfig(name="logistic"), (2,), seed=0, num_classes=2)
    return m, torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def test_client_accuracies_and_summary_by_hand():
    m, params = identity_logits()
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0, 1]])
    y = torch.tensor([0, 1, 1, 1, 1])  # client 0: 2/2 right; client 1: 1/3 right; client 2: none
    acc = client_accuracies(m, params, Packed(x, y, torch.tensor([0, 2, 5, 5])))
    assert acc[:2].tolist() == pytest.approx([1.0, 1 / 3]) and math.isnan(acc[2])
    s = summarize(acc, "client_accuracy")
    assert s == pytest.approx({"client_accuracy_mean": 2 / 3, "client_accuracy_p10": 1 / 3 + 0.1 * 2 / 3,
                               "client_accuracy_min": 1 / 3})


def test_cycle_steps_wraps_around_each_clients_real_batches():
    mask = torch.tensor([[[1.0], [1.0], [0.0]], [[1.0], [1.0], [1.0]]])
    x = torch.arange(6.0).view(2, 3, 1)
    out = cycle_steps(Batches(x, torch.zeros(2, 3, 1), mask), 5)
    assert out.x[..., 0].tolist() == [[0, 1, 0, 1, 0], [3, 4, 5, 3, 4]]
    assert out.mask.sum().item() == 10


def label_skewed():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 100)
    x = rng.normal(size=(400, 4)).astype(np.float32) * 0.3 + np.eye(4, dtype=np.float32)[y]
    return from_arrays(x, y, clients=8, partition="shards", shards_per_client=1, batch_size=10, seed=0)


def test_personalized_equals_plain_without_steps_and_helps_on_label_skew():
    ds = label_skewed()
    m = build_model(ModelConfig(name="logistic"), (4,), seed=0, num_classes=4)
    params = m.initial_params()
    plain = client_accuracies(m, params, ds.client_test)
    tiny = personalized_accuracies(m, params, ds, 0, steps=2, lr=1e-9)
    torch.testing.assert_close(tiny, plain)
    tuned = personalized_accuracies(m, params, ds, 0, steps=5, lr=1.0)
    assert tuned.mean() > plain.mean() + 0.3  # each client holds one label: fine-tuning learns it


def test_personalized_evaluation_fine_tunes_a_batch_norm_model_in_train_mode():
    ds = label_skewed()
    torch.manual_seed(0)
    m = FunctionalModel(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)),
                        LOSSES["cross_entropy"])
    params = m.initial_params()
    plain = client_accuracies(m, params, ds.client_test)
    tuned = personalized_accuracies(m, params, ds, 0, steps=5, lr=1.0)  # running statistics are not stepped
    assert tuned.shape == plain.shape == (8,)
    assert tuned.mean() > plain.mean() + 0.3


def test_evaluator_columns_and_reference_has_none():
    ds = label_skewed()
    m = build_model(ModelConfig(name="logistic"), (4,), seed=0, num_classes=4)
    row = ClientEvaluator(EvalConfig(finetune_steps=2), m, ds)(m.initial_params(), 0)
    assert set(row) == {f"{p}_{s}" for p in ("client_accuracy", "personalized_accuracy") for s in ("mean", "p10", "min")}
    assert ClientEvaluator(EvalConfig(per_client=False), m, ds)(m.initial_params(), 0) == {}

    class NoSplit:
        def client_test_split(self):
            return None

    assert ClientEvaluator(EvalConfig(), m, NoSplit())(m.initial_params(), 0) == {}
    # Personalized evaluation asked for where clients hold no test split: an error, not silence.
    with pytest.raises(UserError, match="evaluation.finetune_steps: personalized evaluation needs clients"):
        ClientEvaluator(EvalConfig(finetune_steps=3), m, NoSplit())



def test_personal_accuracies_score_each_clients_own_model_by_hand():
    m, params = identity_logits()
    flipped = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # logits swapped: predicts the other label
    x = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]])
    y = torch.tensor([0, 1, 1, 1, 1, 1])  # client 0: identity 2/2; client 1: flipped 2/3; client 2: no state
    split = Packed(x, y, torch.tensor([0, 2, 5, 6]))
    states = {0: {"w": params}, 1: {"w": flipped}}
    acc = personal_accuracies(m, lambda p, server, s: s["w"], params, None, states, split)
    assert acc[:2].tolist() == pytest.approx([1.0, 2 / 3]) and math.isnan(acc[2])


def skewed_split(seed=0):
    """8 clients' test splits of very different sizes (one empty), 2 features, 2 labels."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([1, 40, 0, 3, 17, 2, 9, 5])
    n = int(sizes.sum())
    return Packed(torch.randn(n, 2, generator=g), torch.randint(0, 2, (n,), generator=g),
                  torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)]))


def test_client_accuracies_equal_a_per_client_loop_at_any_sample_budget():
    m = build_model(ModelConfig(name="mlp", hidden=[8]), (2,), seed=0, num_classes=2)
    params, split = m.initial_params(), skewed_split()
    by_hand = [(m.apply(params, split.x[a:b]).argmax(-1) == split.y[a:b]).float().mean()
               for a, b in zip(split.offsets[:-1].tolist(), split.offsets[1:].tolist())]
    expected = torch.stack(by_hand)  # NaN for the empty client, as 0/0
    for budget in (1, 3, 7, 40, 10**6):
        torch.testing.assert_close(client_accuracies(m, params, split, budget), expected, rtol=0, atol=1e-6,
                                   equal_nan=True)


def test_budget_groups_bound_padded_samples_and_keep_every_client_once():
    sizes = torch.tensor([1, 40, 0, 3, 17, 2, 9, 5])
    for budget, most in ((10, 64), (40, 64), (100, 3), (1, 64)):
        groups = budget_groups(sizes, torch.arange(8), budget, most)
        assert sorted(torch.cat(groups).tolist()) == list(range(8))
        for g in groups:
            assert len(g) <= most and (len(g) == 1 or len(g) * int(sizes[g].max()) <= budget)
    assert [g.tolist() for g in budget_groups(sizes, torch.arange(8), 10)] == [[2, 0, 5], [3, 7], [6], [4], [1]]


def test_personalized_and_personal_accuracies_do_not_depend_on_the_budget():
    ds = skewed_dataset()
    m = build_model(ModelConfig(name="mlp", hidden=[8]), (4,), seed=0, num_classes=4)
    params = m.initial_params()
    assert len(set(ds.client_test.sizes.tolist())) > 3  # skewed: groups differ with the budget
    # The largest budget is one group of all clients padded to the largest, as before budgets.
    runs = [personalized_accuracies(m, params, ds, 0, steps=3, lr=0.5, budget=b) for b in (1, 7, 50, 10**6)]
    states = {c: {"w": params + 0.01 * c} for c in range(0, 6, 2)}
    personal = [personal_accuracies(m, lambda p, server, s: s["w"], params, None, states, ds.client_test, b)
                for b in (1, 7, 10**6)]
    for acc in runs[:-1]:
        torch.testing.assert_close(acc, runs[-1], rtol=0, atol=1e-6, equal_nan=True)
    for acc in personal[:-1]:
        torch.testing.assert_close(acc, personal[-1], rtol=0, atol=1e-6, equal_nan=True)
    # NaN for clients without state (odd ids) or without test samples (client 2)
    assert personal[-1].isnan().tolist() == [False, True, True, True, False, True]


def skewed_dataset():
    """6 clients of very different train and test sizes (one without test samples)."""
    def packed(sizes, g):
        y = g.integers(0, 4, sum(sizes))
        x = g.normal(size=(len(y), 4)).astype(np.float32) * 0.5 + np.eye(4, dtype=np.float32)[y]
        return Packed(torch.from_numpy(x), torch.from_numpy(y), torch.tensor(np.cumsum([0, *sizes])))

    g = np.random.default_rng(1)
    return FederatedDataset(packed([3, 60, 8, 25, 5, 12], g), 4, packed([1, 30, 0, 9, 2, 14], g), batch_size=5, seed=0)


def test_train_metrics_equal_fedprox_s_formula_with_autograd_at_any_budget():
    m = build_model(ModelConfig(name="mlp", hidden=[8]), (2,), seed=0, num_classes=2)
    params, train = m.initial_params(), skewed_split()
    sizes = train.sizes.tolist()
    grads, total = [], 0.0
    for a, n in zip(train.offsets[:-1].tolist(), sizes):
        if n == 0:
            continue
        p = params.clone().requires_grad_(True)
        losses = m.sample_losses(p, train.x[a:a + n].unsqueeze(0), train.y[a:a + n].unsqueeze(0))
        total += float(losses.sum())
        grads.append(torch.autograd.grad(losses.mean(), p)[0])
    g = torch.stack(grads)
    n = torch.tensor([s for s in sizes if s], dtype=g.dtype)
    global_grad = (g * n[:, None]).sum(0) / n.sum()
    expected = {"global_train_loss": total / n.sum().item(),
                "grad_dissimilarity": float(((g - global_grad) ** 2).sum(1).mean())}
    assert expected["grad_dissimilarity"] > 1e-4  # skewed clients: a real spread to measure
    for budget in (1, 3, 7, 40, 10**6):
        assert train_metrics(m, params, train, budget) == pytest.approx(expected, rel=1e-5)


def test_clients_with_the_same_data_have_no_gradient_dissimilarity():
    m = build_model(ModelConfig(name="logistic"), (2,), seed=0, num_classes=2)
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 0])
    same = Packed(x.repeat(3, 1), y.repeat(3), torch.tensor([0, 6, 12, 18]))
    out = train_metrics(m, m.initial_params(), same)
    assert out["grad_dissimilarity"] == pytest.approx(0.0, abs=1e-12) and out["global_train_loss"] > 0


def test_train_metrics_columns_and_the_reference_task_refuses_them():
    ds = label_skewed()
    m = build_model(ModelConfig(name="logistic"), (4,), seed=0, num_classes=4)
    row = ClientEvaluator(EvalConfig(per_client=False, train_metrics=True), m, ds)(m.initial_params(), 0)
    assert set(row) == {"global_train_loss", "grad_dissimilarity"}

    class FreshDraws:
        def client_test_split(self):
            return None

    with pytest.raises(UserError, match="evaluation.train_metrics: needs a dataset with fixed clients"):
        ClientEvaluator(EvalConfig(train_metrics=True), m, FreshDraws())


def test_a_run_with_train_metrics_records_plots_and_summarizes_them(tmp_path):
    import json

    from fedhive.config import load_config
    from fedhive.experiment import Experiment

    config = load_config(None, ["data.name=fedprox_synthetic", "data.clients=6", "data.partition.name=natural",
                                "model.name=logistic", "cohort.min=3", "cohort.max=3", "rounds=3", "eval_every=1",
                                "evaluation.train_metrics=true", f"output_dir={tmp_path}", "name=r"])
    exp = Experiment(config)
    history = exp.run(quiet=True)
    assert all(r["global_train_loss"] > 0 and r["grad_dissimilarity"] > 0 for r in history)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["final_grad_dissimilarity"] == history[-1]["grad_dissimilarity"]
    assert summary["final_global_train_loss"] == history[-1]["global_train_loss"]
    assert (tmp_path / "r" / "plots" / "grad_dissimilarity.png").is_file()


def test_global_test_subsample_is_keyed_fixed_and_off_by_default():
    x, y = torch.arange(500.0)[:, None] * torch.ones(1, 2), torch.arange(500) % 4
    assert global_test((x, y), None, 0)[0] is x and global_test((x, y), 500, 0)[0] is x
    sx, sy = global_test((x, y), 64, seed=3)
    rows = sx[:, 0].long()
    assert sx.shape == (64, 2) and len(rows.unique()) == 64 and torch.equal(rows, rows.sort().values)
    assert torch.equal(sy, y[rows])
    assert torch.equal(global_test((x, y), 64, seed=3)[0], sx)  # the same rows every round
    assert not torch.equal(global_test((x, y), 64, seed=4)[0], sx)


def test_a_run_scores_the_subsample_it_is_given():
    ds = label_skewed()
    base = ["rounds=2", "cohort.min=4", "cohort.max=4", "model.name=logistic", "algorithm=fedavg",
            "evaluation.per_client=false"]
    exp = Experiment(load_config(None, [*base, "evaluation.max_samples=50"]), dataset=ds)
    row = exp.run(save=False)[-1]
    x, y = global_test(ds.test_set(0), 50, exp.config.seed)
    loss, acc = exp.model.evaluate(exp.params, x, y)
    assert len(y) == 50 and (row["test_loss"], row["test_accuracy"]) == (loss, acc)
    whole = Experiment(load_config(None, [*base, "evaluation.max_samples=100000"]), dataset=ds).run(save=False)
    plain = Experiment(load_config(None, base), dataset=ds).run(save=False)
    assert [(r["test_loss"], r["test_accuracy"]) for r in whole] == [(r["test_loss"], r["test_accuracy"]) for r in plain]
