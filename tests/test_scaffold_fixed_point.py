"""SCAFFOLD's exact check (Karimireddy et al. 2020): on two quadratic clients with
full-batch local GD, SCAFFOLD's fixed point is the global minimizer; FedAvg's is not once
it takes more than one local step (client drift)."""

from __future__ import annotations

import pytest
import torch

from fedhive.reproduce.quadratic import fedavg_path, global_minimizer, quadratic_clients, scaffold_path


@pytest.mark.parametrize("steps", [2, 10])
def test_scaffold_fixed_point_is_the_global_minimizer(steps):
    clients = quadratic_clients()
    assert torch.allclose(scaffold_path(steps, clients)[-1], global_minimizer(clients), rtol=0, atol=1e-6)


def test_fedavg_drifts_from_the_minimizer_once_it_takes_local_steps():
    clients = quadratic_clients()
    best = global_minimizer(clients)
    assert torch.allclose(fedavg_path(1, clients)[-1], best, rtol=0, atol=1e-6)  # one step: plain GD on f_1 + f_2
    for steps in (2, 10):
        assert (fedavg_path(steps, clients)[-1] - best).norm() > 1e-2
