"""FedAvg, FedProx, SCAFFOLD and FedNova client updates against hand-written PyTorch loops."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from fedhive.algorithms import build_algorithm
from fedhive.client.state import LR_INPUT
from fedhive.client.update import gradient_update, local_sgd_update
from fedhive.config import DataConfig, ModelConfig, load_config
from fedhive.data.batches import Batches
from fedhive.data.synthetic import ReferenceTask
from fedhive.experiment import Experiment
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext


def _setup(batch_size=100):
    return ReferenceTask(DataConfig(batch_size=batch_size), 0), build_model(ModelConfig(), 2, 0)


def _torch_local(module, data: Batches, order, lr, momentum=0.0, weight_decay=0.0, extra=None):
    """torch.optim.SGD over the batches in `order`; `extra(w, w0)` adds a loss term."""
    m = copy.deepcopy(module)
    start = [p.detach().clone() for p in m.parameters()]
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    for s in order:
        opt.zero_grad()
        loss = F.binary_cross_entropy(m(data.x[s]), data.y[s])
        if extra is not None:
            loss = loss + extra(list(m.parameters()), start)
        loss.backward()
        opt.step()
    return torch.nn.utils.parameters_to_vector(m.parameters()).detach()


def _client(task, cid=1, round=0):
    return task.cohort_batches(round, [cid]).client(0)


def test_fedavg_one_client_one_step_is_one_sgd_step():
    task, model = _setup()
    config = load_config(None, ["algorithm=fedavg", "client.steps=1", "client.lr=0.7"])
    alg = build_algorithm(config, model)
    p, data = model.initial_params(), _client(task)
    result = alg.client_update(p, data, {}, {}, torch.tensor(1))
    ctx = RoundContext(0, p, result.weight.reshape(1))
    step, _ = alg.server.update(result.update.unsqueeze(0), alg.server.init(p), ctx)
    first = Batches(*(t[:1] for t in data[:3]))
    g = gradient_update(model)(p, first, {}, {}, 0).update
    torch.testing.assert_close(p + step, p - 0.7 * g)


def test_momentum_and_weight_decay_match_torch_sgd():
    task, model = _setup()
    data, p = _client(task), model.initial_params()
    update = local_sgd_update(model, lr=0.4, epochs=2, momentum=0.9, weight_decay=0.01)
    order = list(range(data.x.shape[0])) * 2
    expected = _torch_local(model.module, data, order, 0.4, momentum=0.9, weight_decay=0.01)
    torch.testing.assert_close(p - update(p, data, {}, {}, 0).update, expected, rtol=1e-5, atol=1e-6)


def test_steps_cycle_through_the_real_batches_only():
    task, model = _setup()
    data, p = _client(task), model.initial_params()
    n = data.x.shape[0]
    padded = Batches(*(torch.cat([t, torch.zeros_like(t[:2])]) for t in data[:3]))
    update = local_sgd_update(model, lr=0.5, steps=n + 3)
    expected = _torch_local(model.module, data, [s % n for s in range(n + 3)], 0.5)
    torch.testing.assert_close(p - update(p, padded, {}, {}, 0).update, expected, rtol=1e-5, atol=1e-6)


def test_fedprox_with_mu_zero_is_fedavg_and_adds_the_proximal_term():
    task, model = _setup()
    data, p = _client(task), model.initial_params()
    sgd = dict(lr=0.5, epochs=2)
    fedavg = local_sgd_update(model, **sgd)(p, data, {}, {}, 0).update
    assert torch.equal(algorithm_update("fedprox", model, mu=0.0, **sgd)(p, data, {}, {}, 0).update, fedavg)

    def prox(ws, w0):
        return 0.5 / 2 * sum(((w - s) ** 2).sum() for w, s in zip(ws, w0))

    expected = _torch_local(model.module, data, list(range(data.x.shape[0])) * 2, 0.5, extra=prox)
    got = p - algorithm_update("fedprox", model, mu=0.5, **sgd)(p, data, {}, {}, 0).update
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, p - fedavg)


def algorithm_update(name: str, model, mu: float | None = None, **client):
    """The client update of the registered algorithm `name` with these `client.*` settings."""
    hp = [f"algorithm.mu={mu}"] if mu is not None else []
    config = load_config(None, [f"algorithm={name}", *hp, *(f"client.{k}={v}" for k, v in client.items())])
    return build_algorithm(config, model).client_update


def _server_step(config, model, p, results):
    alg = build_algorithm(config, model)
    updates = torch.stack([r.update for r in results])
    weights = torch.stack([r.weight for r in results])
    outputs = {k: torch.stack([r.outputs[k] for r in results]) for k in results[0].outputs}
    ctx = RoundContext(0, p, weights, outputs=outputs)
    return alg.server.update(updates, alg.server.init(p), ctx)[0]


def test_fednova_with_equal_local_steps_is_fedavg():
    task, model = _setup(batch_size=50)
    p = model.initial_params()
    # clients 4 and 9 both hold 6 batches at round 0 (asserted), with different samples
    data = [_client(task, c) for c in (4, 9)]
    assert [d.x.shape[0] for d in data] == [6, 6]
    sgd = dict(lr=0.5, epochs=1)
    nova = [algorithm_update("fednova", model, **sgd)(p, d, {}, {}, 0) for d in data]
    avg = [local_sgd_update(model, **sgd)(p, d, {}, {}, 0) for d in data]
    nova_step = _server_step(load_config(None, ["algorithm=fednova"]), model, p, nova)
    avg_step = _server_step(load_config(None, ["algorithm=fedavg"]), model, p, avg)
    torch.testing.assert_close(nova_step, avg_step, rtol=1e-6, atol=1e-7)


def test_fednova_normalizes_unequal_steps():
    """tau_eff * sum_i p_i (x - y_i) / tau_i with tau = batches, p = sample shares."""
    task, model = _setup(batch_size=50)
    p = model.initial_params()
    data = [_client(task, c) for c in (1, 2)]
    taus = [d.x.shape[0] for d in data]
    assert taus[0] != taus[1]
    sgd = dict(lr=0.5, epochs=1)
    deltas = [local_sgd_update(model, **sgd)(p, d, {}, {}, 0).update for d in data]
    shares = torch.tensor(taus, dtype=torch.float32) / sum(taus)  # equal batch sizes: n_i ∝ tau_i
    tau_eff = float((shares * torch.tensor(taus, dtype=torch.float32)).sum())
    expected = -tau_eff * sum(s * d / t for s, d, t in zip(shares, deltas, taus))
    nova = [algorithm_update("fednova", model, **sgd)(p, d, {}, {}, 0) for d in data]
    got = _server_step(load_config(None, ["algorithm=fednova"]), model, p, nova)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_fednova_with_momentum_normalizes_by_the_momentum_step_sum():
    """|a_i|_1 = sum_{k=1..tau} (1 - rho^k) / (1 - rho) for SGD with momentum rho."""
    task, model = _setup(batch_size=50)
    p, data = model.initial_params(), _client(task)
    tau, rho = data.x.shape[0], 0.5
    norm = sum((1 - rho**k) / (1 - rho) for k in range(1, tau + 1))
    result = algorithm_update("fednova", model, lr=0.5, momentum=rho)(p, data, {}, {}, 0)
    torch.testing.assert_close(float(result.outputs["steps"]), norm)
    delta = local_sgd_update(model, lr=0.5, momentum=rho)(p, data, {}, {}, 0).update
    torch.testing.assert_close(result.update, delta / norm)


def test_scaffold_control_variates_match_the_formulas_after_two_rounds(tmp_path):
    """Option II by hand: y <- y - lr (g(y) - c_i + c); c_i+ = c_i - c + (x - y)/(K lr);
    c <- c + sum(c_i+ - c_i)/N; x <- x - lr_g mean(x - y). 3 clients, 2 sampled a round."""
    lr, lr_g = 0.5, 1.0
    config = load_config(None, ["algorithm=scaffold", f"client.lr={lr}", "rounds=2", "data.clients=3",
                                "cohort.min=2", "cohort.max=2", "data.batch_size=50", f"server.lr={lr_g}"])
    exp = Experiment(config)
    x0 = exp.params.clone()
    exp.run(quiet=True, save=False)

    task, model = exp.dataset, exp.model
    x, c, cs = x0, torch.zeros_like(x0), {}
    for r in range(2):
        ids = exp.sampler(r).tolist()
        deltas = []
        for cid in ids:
            data = task.cohort_batches(r, [cid]).client(0)
            c_i = cs.get(cid, torch.zeros_like(x))
            y = x.clone()
            for s in range(data.x.shape[0]):
                g = torch.func.grad(lambda w: model.masked_loss(w, data.x[s:s + 1], data.y[s:s + 1],
                                                                data.mask[s:s + 1]).sum())(y)
                y = y - lr * (g - c_i + c)
            cs[cid] = c_i - c + (x - y) / (data.x.shape[0] * lr)
            deltas.append((x - y, cs[cid] - c_i))
        c = c + sum(dc for _, dc in deltas) / 3
        x = x - lr_g * sum(d for d, _ in deltas) / len(ids)
    torch.testing.assert_close(exp.server_state["scaffold"].c, c, rtol=1e-5, atol=1e-7)
    assert sorted(exp.client_states.states) == sorted(cs)
    for cid, expected in cs.items():
        torch.testing.assert_close(exp.client_states.states[cid]["c"], expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(exp.params, x, rtol=1e-5, atol=1e-7)
    assert set(exp.client_states.states[ids[0]]) == {"c"}  # per-round outputs are not stored


def test_a_scheduled_lr_input_is_each_clients_step_size_under_vmap():
    """`LR_INPUT` replaces the built lr: a vmapped cohort with lrs [0.4, 0.1] gives each client
    exactly torch SGD at its own lr (momentum on, so the gated path runs too)."""
    task, model = _setup()
    cohort, p = task.cohort_batches(0, [1, 2]), model.initial_params()
    update = local_sgd_update(model, lr=0.9, epochs=2, momentum=0.5)
    lrs = torch.tensor([0.4, 0.1])
    out = torch.vmap(update, in_dims=(None, 0, None, 0, 0))(p, cohort, {}, {LR_INPUT: lrs}, torch.tensor([1, 2]))
    for k, lr in enumerate(lrs.tolist()):
        data = cohort.client(k)
        order = list(range(data.x.shape[0])) * 2
        torch.testing.assert_close(p - out.update[k], _torch_local(model.module, data, order, lr, momentum=0.5))
