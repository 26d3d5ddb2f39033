"""The intra-op thread count: from the model's size, the user's own count, or engine.threads."""

import pytest
import torch

from fedhive.config import EngineConfig, load_config
from fedhive.engines import threads as threads_module
from fedhive.engines.threads import TINY_PARAMS, pick_threads, torch_default, use_threads
from fedhive.errors import UserError

CPU = torch.device("cpu")


@pytest.fixture
def torch_threads(monkeypatch):
    """torch at its default count with no thread variable set; restored afterwards."""
    before = torch.get_num_threads()
    for name in threads_module.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(torch.get_num_interop_threads())
    monkeypatch.setattr(threads_module, "_chosen", None)
    yield torch.get_num_interop_threads()
    torch.set_num_threads(before)


def test_tiny_models_get_one_thread_larger_ones_torchs_own(torch_threads):
    assert pick_threads(EngineConfig(), 3, CPU) == 1
    assert pick_threads(EngineConfig(), TINY_PARAMS, CPU) == torch_threads
    assert pick_threads(EngineConfig(), 3, torch.device("meta")) == torch_threads


def test_engine_threads_overrides_the_choice(torch_threads):
    assert pick_threads(EngineConfig(threads=2), 3, CPU) == 2
    assert pick_threads(EngineConfig(threads=1), 10 * TINY_PARAMS, CPU) == 1
    assert load_config(None, ["engine.threads=3"]).engine.threads == 3
    with pytest.raises(UserError, match="engine.threads"):
        load_config(None, ["engine.threads=0"])


def test_the_users_own_count_is_kept(torch_threads, monkeypatch):
    torch.set_num_threads(torch_threads + 1)  # a count torch would not pick itself
    assert pick_threads(EngineConfig(), 3, CPU) == torch_threads + 1
    assert pick_threads(EngineConfig(threads=1), 3, CPU) == 1  # the config still wins
    torch.set_num_threads(torch_threads)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert torch_default() == 3
    assert pick_threads(EngineConfig(), 3, CPU) == 3


def test_use_threads_sets_torch_and_gives_back_its_default(torch_threads):
    use_threads(EngineConfig(threads=2), 3, CPU)
    assert torch.get_num_threads() == 2
    use_threads(EngineConfig(), 3, CPU)
    assert torch.get_num_threads() == 1
    use_threads(EngineConfig(), 10 * TINY_PARAMS, CPU)  # a larger model: torch's own count again
    assert torch.get_num_threads() == torch_threads
