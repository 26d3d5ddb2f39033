import math

import pytest
import torch

from fedhive.privacy.adaptive import adaptive_clip_sum, next_clip, split_noise
from fedhive.server.chain import RoundContext


def run_rounds(norm: float, rounds: int = 10, **kw):
    t = adaptive_clip_sum(initial_clip=1.0, noise_multiplier=0.0, denominator=10.0, **kw)
    state = t.init(torch.zeros(4))
    updates = torch.full((10, 4), norm / 2)  # each row has L2 norm `norm`
    clips = []
    for r in range(rounds):
        c = RoundContext(round=r, params=torch.zeros(4), weights=torch.ones(10))
        agg, state = t.update(updates, state, c)
        clips.append(c.metrics["dp_clip"])
    return clips, float(state.clip)


def test_clip_grows_when_every_norm_is_above():
    clips, final = run_rounds(100.0)
    assert all(b > a for a, b in zip(clips, clips[1:])) and final > clips[-1]
    assert clips[1] == pytest.approx(math.exp(0.2 * 0.5))  # b~ = 0: C e^{eta gamma}


def test_clip_shrinks_when_every_norm_is_below():
    clips, final = run_rounds(1e-3)
    assert all(b < a for a, b in zip(clips, clips[1:]))
    assert clips[1] == pytest.approx(math.exp(-0.2 * 0.5))  # b~ = 1: C e^{-eta (1 - gamma)}


def test_geometric_update_rule():
    assert next_clip(2.0, 0.8, 0.5, 0.2) == pytest.approx(2.0 * math.exp(-0.2 * 0.3))


def test_noise_split():
    # z_Delta = (z^-2 - (2 sigma_b)^-2)^-1/2 with z=1, sigma_b=1 -> (1 - 1/4)^-1/2
    assert split_noise(1.0, 1.0) == pytest.approx((0.75) ** -0.5)
    with pytest.raises(ValueError, match="must be < 2"):
        split_noise(2.0, 1.0)


def test_updates_are_clipped_to_the_current_norm():
    t = adaptive_clip_sum(initial_clip=0.5, noise_multiplier=0.0, denominator=1.0)
    c = RoundContext(round=0, params=torch.zeros(2), weights=torch.ones(1))
    agg, _ = t.update(torch.tensor([[3.0, 4.0]]), t.init(torch.zeros(2)), c)
    assert torch.allclose(agg, torch.tensor([0.3, 0.4]))
    assert c.metrics["dp_unclipped"] == 0.0
