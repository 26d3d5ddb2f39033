"""Turns the `privacy:` config section into chain members and client-update wrappers."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import torch

from fedhive.config import Config
from fedhive.errors import FedhiveWarning, UserError
from fedhive.privacy.accounting import Sampling, calibrate_noise, epsilon_meter, make_accountant
from fedhive.privacy.adaptive import adaptive_clip_sum, split_noise
from fedhive.privacy.gaussian import clip_per_client, fixed_denominator_sum, gaussian_noise
from fedhive.privacy.local import local_dp
from fedhive.privacy.secagg import secagg_numerics
from fedhive.server.chain import RoundContext, Transform, chain


def sampling_of(config: Config) -> Sampling:
    """The accountant's view of the cohort sampler; a sampler with no matching DP event
    (a uniform cohort of variable size) is a config error."""
    c, n = config.cohort, config.data.clients
    if config.privacy.mechanism == "local":
        return Sampling("all")
    if c.sampler == "poisson":
        return Sampling("poisson", rate=c.poisson_rate, population=n)
    if c.min != c.max:
        raise UserError(
            f"privacy.mechanism: central DP needs cohort.sampler=poisson or a fixed cohort size "
            f"(cohort.min == cohort.max, got {c.min}..{c.max})"
        )
    return Sampling("fixed", population=n, size=c.min)


def expected_cohort(sampling: Sampling) -> float:
    """The fixed denominator of DP-FedAvg: q N for Poisson sampling, else K."""
    return sampling.rate * sampling.population if sampling.kind == "poisson" else float(sampling.size)


def noise_multiplier(config: Config, sampling: Sampling) -> float:
    """z: as configured, or calibrated so that epsilon after all rounds is target_epsilon."""
    p = config.privacy
    try:
        make_accountant(p.accountant, sampling)
        if p.target_epsilon is None:
            return p.noise_multiplier
        z = calibrate_noise(p.target_epsilon, config.rounds, p.delta, sampling, p.accountant, p.pld_discretization)
    except ValueError as e:
        raise UserError(f"privacy.accountant: {e}") from None
    return check_learnable(z, sampling, config)


MAX_NOISE_MULTIPLIER = 1e4  # beyond this, no cohort a simulation can hold learns anything


def check_learnable(z: float, sampling: Sampling, config: Config) -> float:
    """A calibrated z, refused above MAX_NOISE_MULTIPLIER and warned about when the noise
    on the averaged update outweighs the signal (central DP): per coordinate its std is
    z C / n for n clients of clipped norm <= C, so n / z is the best signal-to-noise ratio."""
    n = expected_cohort(sampling)
    where = f"privacy.target_epsilon={config.privacy.target_epsilon} over {config.rounds} rounds"
    if z > MAX_NOISE_MULTIPLIER:
        raise UserError(f"{where} needs noise multiplier z = {z:.3g} (> {MAX_NOISE_MULTIPLIER:g}): the model "
                        "cannot learn; raise the target epsilon, cut the rounds or grow the cohort")
    if config.privacy.mechanism == "central" and n / z < 1:
        warnings.warn(f"{where} needs noise multiplier z = {z:.3g}: signal-to-noise n/z = {n / z:.3g} "
                      f"(n = {n:g} clients per round) is below 1; the model will barely learn", FedhiveWarning)
    return z


ROBUST = ("median", "trimmed_mean", "krum", "multi_krum")


def _no_robust_aggregate(config: Config) -> None:
    """Central DP hands the server one noised sum: a robust aggregate has no cohort to judge."""
    robust = [s.name for s in config.server_specs if s.name in ROBUST]
    if robust:
        raise UserError(f"server: {robust[0]} cannot follow privacy.mechanism=central: the server sees one noised "
                        "sum, not the clients' updates (use local DP, or aggregate sum/mean)")


def then_aggregated(first: Transform, rest: Transform) -> Transform:
    """`first` reduces the cohort to one `[P]` update (the DP aggregate); `rest`, the
    algorithm's own chain, then sees it as a single client of weight 1, so its aggregate
    (sum, mean, weighted mean) passes it through and its optimizer steps on it."""

    def init(params: torch.Tensor) -> dict[str, Any]:
        return {"privacy": first.init(params), "algorithm": rest.init(params)}

    def update(updates: torch.Tensor, state: dict[str, Any], ctx: RoundContext):
        agg, private = first.update(updates, state["privacy"], ctx)
        one = dataclasses.replace(ctx, weights=ctx.weights.new_ones(1))  # shares ctx.metrics
        step, algo = rest.update(agg.unsqueeze(0), state["algorithm"], one)
        return step, {"privacy": private, "algorithm": algo}

    return Transform(init, update, "aggregate")


def central_chain(config: Config, z: float, sampling: Sampling) -> Transform:
    """Clip per client -> [SecAgg numerics] -> fixed-denominator sum -> noise -> accountant,
    or the adaptive-clipping aggregate in place of the first four."""
    p, n = config.privacy, expected_cohort(sampling)
    meter = ("dp_epsilon", epsilon_meter(z, p.delta, sampling, p.accountant, p.pld_discretization))
    if p.adaptive_clip.enabled:
        a = p.adaptive_clip
        try:
            split_noise(z, n / 20 if a.count_noise is None else a.count_noise)
        except ValueError as e:
            raise UserError(f"privacy.adaptive_clip.count_noise: {e}") from None
        return chain(("dp_adaptive_clip", adaptive_clip_sum(p.clip, z, n, a.target_quantile, a.lr, a.count_noise)),
                     meter)
    members = [("dp_clip", clip_per_client(p.clip))]
    if p.secagg.enabled:
        members.append(("secagg", _secagg(config)))
    members += [("dp_sum", fixed_denominator_sum(n)), ("dp_noise", gaussian_noise(z * p.clip / n)), meter]
    return chain(*members)


def _secagg(config: Config) -> Transform:
    s = config.privacy.secagg
    return secagg_numerics(s.range, s.quant_bits, s.bits)


def apply_privacy(config: Config, algorithm: Any) -> Any:
    """The algorithm (a `FederatedAlgorithm`) with the configured DP mechanism and SecAgg numerics;
    unchanged when privacy is off."""
    p = config.privacy
    server, client_update = algorithm.server, algorithm.client_update
    if p.mechanism == "central":
        _no_robust_aggregate(config)
        sampling = sampling_of(config)
        server = then_aggregated(central_chain(config, noise_multiplier(config, sampling), sampling), server)
    elif p.secagg.enabled:
        aggregate = next(s.name for s in config.server_specs if s.stage == "aggregate")
        if aggregate not in ("sum", "mean"):
            raise UserError(f"privacy.secagg needs the server aggregate sum or mean, got {aggregate}")
        server = chain(("secagg", _secagg(config)), ("algorithm", server))
    if p.mechanism == "local":
        sampling = sampling_of(config)
        z = noise_multiplier(config, sampling)
        client_update = local_dp(client_update, p.clip, z, config.seed)
        meter = epsilon_meter(z, p.delta, sampling, p.accountant, p.pld_discretization)
        server = chain(("algorithm", server), ("dp_epsilon", meter))
    return algorithm._replace(server=server, client_update=client_update)
