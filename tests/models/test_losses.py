"""Losses from logits: equal to the probability form on ordinary inputs, exact at saturation."""

import torch
import torch.nn.functional as F
from torch import nn

from fedhive.models.functional import FunctionalModel
from fedhive.models.losses import LOSSES, logit_head
from fedhive.models.reference import reference_model


def _model(module: nn.Module, loss: str = "bce") -> FunctionalModel:
    return FunctionalModel(module, LOSSES[loss])


def test_reference_model_scores_from_logits_but_applies_probabilities():
    torch.manual_seed(0)
    model = _model(reference_model())
    params = model.initial_params()
    x = torch.rand(64, 2) * 2 - 1
    out, _ = model.scored(params, x)
    assert torch.equal(torch.sigmoid(out), model.apply(params, x))
    assert model.apply(params, x).shape == (64,)


def test_bce_from_logits_equals_bce_on_probabilities_for_ordinary_inputs():
    torch.manual_seed(1)
    module = reference_model()
    fast, plain = _model(module), _model(module)
    plain._scoring = (module, LOSSES["bce"])  # the probability form, for comparison
    params = fast.initial_params() * 3
    x, y = torch.rand(5, 50, 2) * 2 - 1, (torch.rand(5, 50) > 0.5).float()
    mask = torch.ones(5, 50)
    mask[4, 20:] = 0
    a, b = fast.masked_loss(params, x, y, mask), plain.masked_loss(params, x, y, mask)
    assert a.shape == (5,)
    assert torch.allclose(a, b, rtol=0, atol=1e-6)
    ga = torch.func.grad(lambda p: fast.masked_loss(p, x, y, mask).sum())(params)
    gb = torch.func.grad(lambda p: plain.masked_loss(p, x, y, mask).sum())(params)
    assert torch.allclose(ga, gb, rtol=0, atol=1e-6)
    la, ha = fast.per_sample_eval(params, x[0], y[0])
    lb, hb = plain.per_sample_eval(params, x[0], y[0])
    assert torch.allclose(la, lb, atol=1e-6) and torch.equal(ha, hb)


def test_bce_from_logits_is_exact_where_probabilities_saturate():
    module = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid(), nn.Flatten(0))
    with torch.no_grad():
        module[0].weight.fill_(1.0)
        module[0].bias.zero_()
    model = _model(module)
    params = model.initial_params()
    x, y = torch.tensor([[[150.0], [-30.0]]]), torch.tensor([[0.0, 1.0]])
    # The true losses are softplus(150) = 150 and softplus(30) = 30; BCE on probabilities
    # gives 100 (its clamped log of sigmoid(150) == 1.0 in float32) and 30 (rounded).
    expected = F.softplus(torch.tensor([150.0, 30.0], dtype=torch.float64))
    got = model.sample_losses(params, x, y)[0].double()
    assert torch.allclose(got, expected, rtol=1e-6)
    on_probs = LOSSES["bce"].per_sample(module(x[0]), y[0])
    assert on_probs[0].item() == 100.0


def test_log_softmax_dropped_before_cross_entropy_and_softmax_kept():
    torch.manual_seed(2)
    log_soft = nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(-1))
    head = logit_head(log_soft, LOSSES["cross_entropy"])
    assert head is not None and len(head[0]) == 1
    model = _model(log_soft, "cross_entropy")
    x, y = torch.randn(2, 8, 3), torch.randint(0, 4, (2, 8))
    plain = F.cross_entropy(log_soft(x.reshape(16, 3)), y.reshape(16), reduction="none").reshape(2, 8)
    assert torch.allclose(model.sample_losses(model.initial_params(), x, y), plain, atol=1e-6)
    # Cross-entropy on a Softmax output is a different loss (softmax twice): left alone.
    assert logit_head(nn.Sequential(nn.Linear(3, 4), nn.Softmax(-1)), LOSSES["cross_entropy"]) is None
    assert logit_head(nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), LOSSES["cross_entropy"]) is None
    assert logit_head(nn.Linear(3, 1), LOSSES["bce"]) is None


def test_logit_head_shares_parameter_names():
    module = reference_model()
    head, _ = logit_head(module, LOSSES["bce"])
    assert [n for n, _ in head.named_parameters()] == [n for n, _ in module.named_parameters()]


def test_cross_entropy_equals_torchs_in_value_and_gradient_and_vmaps():
    from torch.func import vmap

    from fedhive.models.autodiff import grad

    torch.manual_seed(3)
    logits, y = torch.randn(3, 40, 10) * 4, torch.randint(0, 10, (3, 40))
    ours = LOSSES["cross_entropy"].per_sample
    assert torch.equal(ours(logits[0], y[0].float()), F.cross_entropy(logits[0], y[0], reduction="none"))
    torch_ce = lambda z, t: F.cross_entropy(z, t, reduction="none").sum()  # noqa: E731
    expected = torch.stack([grad(torch_ce)(logits[k], y[k]) for k in range(3)])
    got = vmap(grad(lambda z, t: ours(z, t).sum()))(logits, y)
    assert got.shape == (3, 40, 10)
    assert torch.equal(got, expected)
