"""Work counting: samples a client update processes, for epochs and for fixed steps."""

from types import SimpleNamespace

import torch

from fedhive.system.work import samples_processed

PER_STEP = torch.tensor([[10.0, 10.0, 5.0, 0.0], [8.0, 0.0, 0.0, 0.0]])


def _config(name="fedavg", epochs=1, steps=None):
    return SimpleNamespace(algorithm=SimpleNamespace(name=name), client=SimpleNamespace(epochs=epochs, steps=steps))


def test_epochs_multiply_the_clients_samples():
    assert samples_processed(_config(epochs=3), PER_STEP).tolist() == [75.0, 24.0]
    assert samples_processed(_config(name="fedsgd", epochs=3), PER_STEP).tolist() == [25.0, 8.0]


def test_fixed_steps_cycle_over_real_batches():
    # 4 steps: client 0 takes batches 0, 1, 2, 0; client 1 its only batch 4 times
    assert samples_processed(_config(steps=4), PER_STEP).tolist() == [35.0, 32.0]
