"""FedExP's extrapolated server step size, by hand on three tiny clients."""

from __future__ import annotations

import torch

from fedhive.algorithms.build import build_algorithm
from fedhive.config import ModelConfig, load_config
from fedhive.models.registry import build_model
from fedhive.server.chain import RoundContext


def _step(updates: torch.Tensor, eps: float = 1e-3):
    model = build_model(ModelConfig(), 2, 0)  # 3 parameters
    server = build_algorithm(load_config(None, ["algorithm=fedexp", f"algorithm.eps={eps}"]), model).server
    p = model.initial_params()
    ctx = RoundContext(0, p, torch.ones(len(updates)))
    step, _ = server.update(updates, server.init(p), ctx)
    return step, ctx.metrics["server_lr"]


def test_orthogonal_deltas_extrapolate():
    # sum |d_i|^2 = 3, mean d = (1/3, 1/3, 1/3), |d|^2 = 1/3: eta = 3 / (2 * 3 * (1/3 + eps))
    eta = 3 / (6 * (1 / 3 + 1e-3))
    step, lr = _step(torch.eye(3))
    assert abs(lr - eta) < 1e-6 and eta > 1
    torch.testing.assert_close(step, torch.full((3,), -eta / 3))


def test_equal_deltas_are_fedavg_and_a_nan_client_is_left_out():
    d = torch.tensor([0.5, -1.0, 2.0])
    step, lr = _step(torch.stack([d, d, torch.full((3,), float("nan"))]))
    assert lr == 1.0  # eta = max(1, 2|d|^2 / (2 * 2 * (|d|^2 + eps))) = 1
    torch.testing.assert_close(step, -d)
