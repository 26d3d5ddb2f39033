"""Privacy accounting with Google's `dp-accounting`: the DP event of one round follows the
cohort sampler, epsilon(T) at delta comes from a PLD (default) or RDP accountant, and the
noise multiplier can be calibrated to a target epsilon before the run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

from fedhive.server.chain import RoundContext, Transform

if TYPE_CHECKING:
    import dp_accounting as dpa

# PLD grid step: 1e-3 keeps an epsilon evaluation to tens of milliseconds; the PLD is a
# pessimistic estimate, so a coarser grid only loosens the bound (by ~1e-4 at eps ~ 1).
PLD_DISCRETIZATION = 1e-3


def _dp_accounting():
    """dp-accounting, imported on first use: its import takes seconds, and a run without
    DP never needs it."""
    import dp_accounting
    from dp_accounting import pld, rdp  # noqa: F401  (binds the submodules on the package)

    return dp_accounting


class Sampling(NamedTuple):
    """How one round selects clients, as the accountant needs it.

    kind: `poisson` (rate q), `fixed` (K of N without replacement) or `all` (every client
    every round, as in local DP's worst case)."""

    kind: str
    rate: float = 1.0
    population: int = 0
    size: int = 0


def round_event(noise_multiplier: float, sampling: Sampling) -> dpa.DpEvent:
    """The DP event of one round: a Gaussian mechanism under the sampler's amplification."""
    dpa = _dp_accounting()
    gaussian = dpa.GaussianDpEvent(noise_multiplier)
    if sampling.kind == "poisson":
        return dpa.PoissonSampledDpEvent(sampling.rate, gaussian)
    if sampling.kind == "fixed":
        return dpa.SampledWithoutReplacementDpEvent(sampling.population, sampling.size, gaussian)
    return gaussian


def make_accountant(kind: str, sampling: Sampling) -> dpa.PrivacyAccountant:
    """A fresh accountant. Fixed-size cohorts use REPLACE_ONE neighbours (the cohort size
    is public); dp-accounting's PLD accountant does not support them, so that pair is an error."""
    dpa = _dp_accounting()
    pld, rdp = dpa.pld, dpa.rdp
    if sampling.kind == "fixed":
        if kind == "pld":
            raise ValueError("the PLD accountant does not support fixed-size cohorts; "
                             "use accountant=rdp or cohort.sampler=poisson")
        return rdp.RdpAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    if kind == "pld":
        return pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    return rdp.RdpAccountant()


def epsilon(noise_multiplier: float, steps: int, delta: float, sampling: Sampling, kind: str = "pld") -> float:
    """epsilon at `delta` after `steps` rounds (inf when there is no noise)."""
    if noise_multiplier <= 0:
        return math.inf
    if steps <= 0:
        return 0.0
    acc = make_accountant(kind, sampling)
    acc.compose(round_event(noise_multiplier, sampling), steps)
    return float(acc.get_epsilon(delta))


def calibrate_noise(target_epsilon: float, steps: int, delta: float, sampling: Sampling, kind: str = "pld") -> float:
    """The smallest noise multiplier z with epsilon(z, steps) <= target_epsilon."""
    dpa = _dp_accounting()
    make_event: Callable[[float], dpa.DpEvent] = lambda z: dpa.SelfComposedDpEvent(  # noqa: E731
        round_event(z, sampling), steps
    )
    return float(dpa.calibrate_dp_mechanism(
        lambda: make_accountant(kind, sampling), make_event, target_epsilon, delta,
        dpa.LowerEndpointAndGuess(0.0, 1.0),
    ))


def classic_rdp_epsilon(noise_multiplier: float, steps: int, delta: float, sampling: Sampling) -> float:
    """epsilon by the original moments-accountant conversion eps = min_a RDP(a) + log(1/delta)/(a-1)
    (Abadi et al. 2016), looser than dp-accounting's; only to compare with published numbers."""
    acc = make_accountant("rdp", sampling)
    acc.compose(round_event(noise_multiplier, sampling), steps)
    orders = np.asarray(acc._orders, dtype=float)  # the accountant's RDP curve, read as is
    values = np.asarray(acc._rdp, dtype=float)
    return float(np.min(values + math.log(1 / delta) / (orders - 1)))


def epsilon_meter(noise_multiplier: float, delta: float, sampling: Sampling, kind: str = "pld") -> Transform:
    """Server stage: records `epsilon` spent after this round (round + 1 compositions) and
    the noise multiplier in use. Stateless: a resumed run reports the same numbers."""

    def update(step, state, ctx: RoundContext):
        ctx.metrics["noise_multiplier"] = noise_multiplier
        ctx.metrics["epsilon"] = epsilon(noise_multiplier, ctx.round + 1, delta, sampling, kind)
        return step, state

    return Transform(lambda params: (), update, "server")
