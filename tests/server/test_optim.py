"""Server optimizers against torch.optim on the same gradients."""

import torch

from fedhive.server.chain import RoundContext
from fedhive.server.optim import adam, sgd


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
