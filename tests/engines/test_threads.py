"""The intra-op thread count: from the model's size, or engine.threads."""

import pytest
import torch

from fedhive.config import EngineConfig, load_config
from fedhive.engines.threads import TINY_PARAMS, pick_threads, use_threads
from fedhive.errors import UserError

CPU = torch.device("cpu")


def test_tiny_models_get_one_thread_larger_ones_torchs_own():
    assert pick_threads(EngineConfig(), 3, CPU) == 1
    assert pick_threads(EngineConfig(), TINY_PARAMS, CPU) is None
    assert pick_threads(EngineConfig(), 3, torch.device("meta")) is None


def test_engine_threads_overrides_the_choice():
    assert pick_threads(EngineConfig(threads=2), 3, CPU) == 2
    assert pick_threads(EngineConfig(threads=1), 10 * TINY_PARAMS, CPU) == 1
    assert load_config(None, ["engine.threads=3"]).engine.threads == 3
    with pytest.raises(UserError, match="engine.threads"):
        load_config(None, ["engine.threads=0"])


def test_use_threads_sets_torch():
    before = torch.get_num_threads()
    try:
        use_threads(EngineConfig(threads=2), 3, CPU)
        assert torch.get_num_threads() == 2
        use_threads(EngineConfig(), 3, CPU)
        assert torch.get_num_threads() == 1
        use_threads(EngineConfig(), 10 * TINY_PARAMS, CPU)  # torch's own: left as it is
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
