"""Server optimizers against torch.optim on the same gradients."""

import torch

from fedhive.server.chain import RoundContext
from fedhive.server.optim import adagrad, adam, momentum, sgd, yogi


def _run_torch(opt_cls, grads, **kw):
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def _run_ours(t, grads):
    p = torch.tensor([0.5, -1.0, 2.0])
    state = t.init(p)
    for r, g in enumerate(grads):
        step, state = t.update(g, state, RoundContext(round=r, params=p, weights=torch.ones(1)))
        p = p + step
    return p


def test_adam_matches_torch_optim_adam():
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, generator=g) * (i + 1) for i in range(20)]
    torch.testing.assert_close(_run_ours(adam(1.0), grads), _run_torch(torch.optim.Adam, grads, lr=1.0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        _run_ours(adam(0.01, 0.8, 0.99, 1e-6), grads),
        _run_torch(torch.optim.Adam, grads, lr=0.01, betas=(0.8, 0.99), eps=1e-6), rtol=1e-6, atol=1e-6,
    )


def test_first_adam_step_is_lr_times_sign():
    p = torch.zeros(2)
    step, state = adam(1.0).update(torch.tensor([3.0, -0.5]), adam(1.0).init(p), RoundContext(0, p, torch.ones(1)))
    torch.testing.assert_close(step, torch.tensor([-1.0, 1.0]), rtol=1e-6, atol=1e-6)
    assert int(state.count) == 1


def test_sgd_matches_torch_optim_sgd():
    grads = [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, 0.5, 0.0])]
    torch.testing.assert_close(_run_ours(sgd(0.1), grads), _run_torch(torch.optim.SGD, grads, lr=0.1))


def test_momentum_matches_torch_optim_sgd_with_momentum():
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(3, generator=g) for _ in range(10)]
    torch.testing.assert_close(_run_ours(momentum(0.1, 0.9), grads),
                               _run_torch(torch.optim.SGD, grads, lr=0.1, momentum=0.9))


def test_adagrad_matches_torch_optim_adagrad():
    g = torch.Generator().manual_seed(2)
    grads = [torch.randn(3, generator=g) for _ in range(10)]
    torch.testing.assert_close(_run_ours(adagrad(0.1, eps=1e-10), grads),
                               _run_torch(torch.optim.Adagrad, grads, lr=0.1, eps=1e-10), rtol=1e-6, atol=1e-6)


# Reddi et al. 2021, Algorithm 2, on known vectors, with b1 = 0.5, b2 = 0.75, tau = 0.1:
# m1 = 0.5 g1, m2 = 0.5 m1 + 0.5 g2; the step is -lr m / (sqrt(v) + tau).
G1, G2 = torch.tensor([2.0, -1.0]), torch.tensor([1.5, 0.1])


def _two_steps(t):
    p = torch.zeros(2)
    state = t.init(p)
    steps = []
    for g in (G1, G2):
        step, state = t.update(g, state, RoundContext(0, p, torch.ones(1)))
        steps.append(step)
    return steps


def _expected(v1, v2, lr=1.0, tau=0.1):
    m1 = 0.5 * G1
    m2 = 0.5 * m1 + 0.5 * G2
    return [-lr * m1 / (v1.sqrt() + tau), -lr * m2 / (v2.sqrt() + tau)]


def test_fedadam_yogi_adagrad_follow_reddi_et_al():
    # FedAdam: v = b2 v + (1 - b2) g^2, no bias correction
    v1 = 0.25 * G1**2
    v2 = 0.75 * v1 + 0.25 * G2**2
    for ours, exp in zip(_two_steps(adam(1.0, 0.5, 0.75, 0.1, bias_correction=False)), _expected(v1, v2)):
        torch.testing.assert_close(ours, exp)
    # FedYogi: v = v - (1 - b2) g^2 sign(v - g^2); from v0 = 0 the first step equals Adam's
    y1 = 0.25 * G1**2
    y2 = y1 - 0.25 * G2**2 * torch.sign(y1 - G2**2)  # v grows where v < g^2, shrinks where v > g^2
    torch.testing.assert_close(y2, torch.tensor([1.5625, 0.2475]))
    for ours, exp in zip(_two_steps(yogi(1.0, 0.5, 0.75, 0.1)), _expected(y1, y2)):
        torch.testing.assert_close(ours, exp)
    # FedAdagrad: v = v + g^2
    a1, a2 = G1**2, G1**2 + G2**2
    for ours, exp in zip(_two_steps(adagrad(1.0, 0.5, 0.1)), _expected(a1, a2)):
        torch.testing.assert_close(ours, exp)
