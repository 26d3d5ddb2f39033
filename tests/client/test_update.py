"""Client updates against plain PyTorch autograd on the same data."""

import copy

import torch

from fedhive.client.update import gradient_update, local_sgd_update
from fedhive.config import DataConfig, ModelConfig
from fedhive.data.synthetic import ReferenceTask
from fedhive.models.registry import build_model


def _setup(seed=0):
    task = ReferenceTask(DataConfig(), seed)
    model = build_model(ModelConfig(), 2, seed)
    return task, model


def _plain_grad_sum(module, data):
    """The original loop: forward/backward per batch on a model copy, .grad summed."""
    m = copy.deepcopy(module)
    m.zero_grad()
    for s in range(data.x.shape[0]):
        loss = torch.nn.functional.binary_cross_entropy(m(data.x[s]), data.y[s])
        loss.backward()
    return torch.nn.utils.parameters_to_vector([p.grad for p in m.parameters()])


def test_cohort_gradient_sum_matches_plain_autograd():
    task, model = _setup()
    update = gradient_update(model)
    params = model.initial_params()
    ids = [11, 3, 500, 42, 7]
    batches = task.cohort_batches(0, ids)
    ours = sum(update(params, batches.client(k), {}, {}, torch.tensor(c)).update for k, c in enumerate(ids))
    plain = sum(_plain_grad_sum(model.module, batches.client(k)) for k in range(len(ids)))
    torch.testing.assert_close(ours, plain, rtol=1e-5, atol=1e-7)


def test_gradient_update_reports_weight_and_loss():
    task, model = _setup()
    data = task.cohort_batches(0, [1]).client(0)
    r = gradient_update(model)(model.initial_params(), data, {}, {}, torch.tensor(1))
    assert r.weight == data.x.shape[0] * 1000
    with torch.no_grad():
        expected = torch.nn.functional.binary_cross_entropy(model.module(data.x.reshape(-1, 2)), data.y.reshape(-1))
    torch.testing.assert_close(r.metrics["loss"], expected)


def test_padding_steps_do_not_change_a_gradient():
    task, model = _setup()
    data = task.cohort_batches(0, [1]).client(0)
    pad = type(data)(*(torch.cat([t, torch.zeros_like(t[:2])]) for t in data))
    update, p = gradient_update(model), model.initial_params()
    torch.testing.assert_close(update(p, pad, {}, {}, 0).update, update(p, data, {}, {}, 0).update)


def test_local_sgd_one_step_is_one_sgd_step_and_padding_is_inert():
    task, model = _setup()
    data = task.cohort_batches(0, [1]).client(0)
    one = type(data)(*(t[:1] for t in data))
    p = model.initial_params()
    g = gradient_update(model)(p, one, {}, {}, 0).update
    delta = local_sgd_update(model, lr=0.5)(p, one, {}, {}, 0).update
    torch.testing.assert_close(delta, 0.5 * g)
    pad = type(data)(*(torch.cat([t, torch.zeros_like(t)]) for t in one))
    torch.testing.assert_close(local_sgd_update(model, lr=0.5)(p, pad, {}, {}, 0).update, delta)


def test_local_sgd_matches_a_torch_optim_sgd_loop():
    task, model = _setup()
    data = task.cohort_batches(0, [1]).client(0)
    m = copy.deepcopy(model.module)
    opt = torch.optim.SGD(m.parameters(), lr=0.3)
    for _ in range(2):
        for s in range(data.x.shape[0]):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy(m(data.x[s]), data.y[s]).backward()
            opt.step()
    local = torch.nn.utils.parameters_to_vector(m.parameters()).detach()
    p = model.initial_params()
    delta = local_sgd_update(model, lr=0.3, epochs=2)(p, data, {}, {}, 0).update
    torch.testing.assert_close(p - delta, local, rtol=1e-5, atol=1e-6)
