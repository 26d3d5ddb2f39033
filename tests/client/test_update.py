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
    pad = type(data)(*(torch.cat([t, torch.zeros_like(t[:2])]) for t in data[:3]))
    update, p = gradient_update(model), model.initial_params()
    torch.testing.assert_close(update(p, pad, {}, {}, 0).update, update(p, data, {}, {}, 0).update)


def test_local_sgd_one_step_is_one_sgd_step_and_padding_is_inert():
    task, model = _setup()
    data = task.cohort_batches(0, [1]).client(0)
    one = type(data)(*(t[:1] for t in data[:3]))
    p = model.initial_params()
    g = gradient_update(model)(p, one, {}, {}, 0).update
    delta = local_sgd_update(model, lr=0.5)(p, one, {}, {}, 0).update
    torch.testing.assert_close(delta, 0.5 * g)
    pad = type(data)(*(torch.cat([t, torch.zeros_like(t)]) for t in one[:3]))
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


def _padded_fused_sum(model, params, batches, coef):
    """The fused sum as computed on the padded `[K, S, B]` layout: mask-weighted per-step
    means, padding steps included with a zero mask."""
    weights = batches.mask.sum((1, 2))
    step_coef = coef(weights).unsqueeze(1).expand(batches.mask.shape[:2])

    def objective(p):
        flat = [t.flatten(0, 1) for t in batches[:3]]
        return (model.masked_loss(p, *flat) * step_coef.flatten()).sum()

    return torch.func.grad(objective)(params), weights


def test_packed_cohort_sum_equals_the_padded_fused_sum_and_per_client_losses():
    task, model = _setup(3)
    update = gradient_update(model)
    params = model.initial_params() * 2
    ids = [8, 1, 640, 77, 5, 23]
    coef = lambda w: w / w.sum()  # noqa: E731  (a weighted mean, as FedAvg's aggregate)
    total, weights, metrics = update.cohort_sum(params, task.cohort_steps(0, ids), coef)
    padded, padded_weights = _padded_fused_sum(model, params, task.cohort_batches(0, ids), coef)
    torch.testing.assert_close(total, padded, rtol=1e-5, atol=1e-6)
    assert torch.equal(weights, padded_weights)
    batches = task.cohort_batches(0, ids)
    losses = [update(params, batches.client(k), {}, {}, torch.tensor(c)).metrics["loss"] for k, c in enumerate(ids)]
    torch.testing.assert_close(metrics["loss"], torch.stack(losses), rtol=1e-5, atol=1e-6)


def test_packed_cohort_sum_honours_partial_batch_masks():
    from fedhive.data.batches import Batches, packed

    _, model = _setup(4)
    update = gradient_update(model)
    params = model.initial_params()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 4, 10, 2, generator=g) * 2 - 1, (torch.rand(3, 4, 10, generator=g) > 0.5).float()
    mask = torch.ones(3, 4, 10)
    mask[0, 2:] = 0  # client 0: two steps
    mask[1, 3, 6:] = 0  # client 1: a partial last batch
    mask[2, 1:] = 0  # client 2: one step
    batches = Batches(x * mask[..., None], y * mask, mask)
    steps = packed(batches)
    assert steps.steps.tolist() == [2, 4, 1] and steps.x.shape == (7, 10, 2) and steps.mask is not None
    coef = lambda w: torch.ones_like(w)  # noqa: E731
    total, weights, _ = update.cohort_sum(params, steps, coef)
    padded, _ = _padded_fused_sum(model, params, batches, coef)
    torch.testing.assert_close(total, padded, rtol=1e-5, atol=1e-6)
    assert weights.tolist() == [20.0, 36.0, 10.0]
