import json

import pytest
import torch

from fedhive.client.update import ClientResult
from fedhive.config import build_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.privacy.accounting import Sampling, epsilon
from fedhive.privacy.local import local_dp

SMALL = ["rounds=3", "data.clients=100", "data.batch_size=50", "data.batches.min=1", "data.batches.max=2",
         "data.test_size=100", "cohort.min=5", "cohort.max=5",
         "privacy.pld_discretization=1e-3"]  # a coarse PLD grid keeps these runs fast
COARSE = 1e-3  # test_dp_accounting checks the default grid against dp-accounting
POISSON = ["cohort.sampler=poisson", "cohort.rate=0.05"]


def run(overrides, tmp_path=None):
    config = build_config({}, SMALL + overrides + ([f"output_dir={tmp_path}"] if tmp_path else []))
    exp = Experiment(config)
    return exp, exp.run(save=tmp_path is not None)


def test_central_dp_run_records_epsilon_per_round_and_in_summary(tmp_path):
    exp, rows = run(["privacy.mechanism=central", "privacy.noise_multiplier=1.2", *POISSON], tmp_path)
    eps = [r["epsilon"] for r in rows]
    assert eps == sorted(eps) and eps[0] > 0
    assert eps[-1] == epsilon(1.2, 3, 1e-5, Sampling("poisson", 0.05), discretization=COARSE)
    assert eps[-1] > epsilon(1.2, 3, 1e-5, Sampling("poisson", 0.05))  # the default grid is tighter
    assert rows[0]["dp_noise_std"] == pytest.approx(1.2 * 1.0 / 5.0)  # z S / (q N)
    summary = json.loads((exp.run_dir / "summary.json").read_text())
    assert summary["epsilon"] == eps[-1] and summary["bytes_up_total"] > 0


def test_target_epsilon_calibrates_the_noise():
    _, rows = run(["privacy.mechanism=central", "privacy.target_epsilon=3.0", *POISSON])
    assert rows[-1]["epsilon"] == pytest.approx(3.0, rel=1e-3)
    assert rows[-1]["noise_multiplier"] < 1.0


def test_fixed_cohort_with_rdp_and_adaptive_clipping():
    _, rows = run(["privacy.mechanism=central", "privacy.accountant=rdp", "privacy.adaptive_clip.enabled=true",
                   "privacy.noise_multiplier=0.1", "privacy.clip=0.01"])
    clips = [r["dp_clip"] for r in rows]
    assert clips[0] == 0.01 and clips[1] > clips[0]  # gradients are far above 0.01: C grows


def test_dp_with_secagg_and_compression_metrics():
    _, rows = run(["privacy.mechanism=central", *POISSON, "privacy.secagg.enabled=true",
                   "compression.name=fp16"])
    assert {"secagg_overflow", "secagg_error", "epsilon", "bytes_up", "bytes_down"} <= set(rows[0])
    assert rows[0]["bytes_up"] == rows[0]["clients"] * 3 * 2


def test_same_seed_same_numbers():
    over = ["privacy.mechanism=central", *POISSON, "compression.name=qsgd", "compression.error_feedback=true"]
    a, b = run(over)[1], run(over)[1]
    assert [r["test_loss"] for r in a] == [r["test_loss"] for r in b]


@pytest.mark.parametrize("overrides, message", [
    (["privacy.mechanism=central", "cohort.min=4"], "central DP needs cohort.sampler=poisson or a fixed cohort size"),
    (["privacy.mechanism=central"], "privacy.accountant: the PLD accountant does not support fixed-size"),
    (["privacy.mechanism=central", *POISSON, "privacy.adaptive_clip.enabled=true", "privacy.noise_multiplier=1",
      "privacy.adaptive_clip.count_noise=0.4"], "privacy.adaptive_clip.count_noise: noise multiplier z=1 must be < 2"),
    (["privacy.secagg.enabled=true", "server.aggregate=weighted_mean"], "privacy.secagg needs the server aggregate sum or mean"),
    (["privacy.target_epsilon=1"], "target_epsilon needs mechanism=central or local"),
    (["compression.error_feedback=true"], "error_feedback needs a compression name"),
])
def test_config_errors_name_the_field(overrides, message):
    with pytest.raises(UserError, match=message):
        Experiment(build_config({}, SMALL + overrides))


def test_local_dp_clips_and_noises_each_client():
    def big(params, data, state, inputs, key):
        return ClientResult(torch.full((40_000,), 10.0), torch.tensor(1.0), state, {}, {})

    wrapped = local_dp(big, clip=2.0, noise_multiplier=0.5, seed=0)
    a = wrapped(None, None, {}, {}, torch.tensor(11)).update
    b = wrapped(None, None, {}, {}, torch.tensor(12)).update
    assert abs((a - 0.01).std().item() - 1.0) < 0.02  # std z S = 1; clipped row is 2/200 per coordinate
    assert abs(a.mean().item() - 0.01) < 0.02 and not torch.equal(a, b)
    assert torch.equal(a, wrapped(None, None, {}, {}, torch.tensor(11)).update)


@pytest.mark.parametrize("overrides", [
    ["privacy.mechanism=central", *POISSON, "privacy.secagg.enabled=true"],
    ["privacy.mechanism=central", *POISSON, "privacy.adaptive_clip.enabled=true", "privacy.noise_multiplier=0.3"],
    ["privacy.mechanism=local", "privacy.noise_multiplier=0.3", "compression.name=randk", "compression.fraction=0.5"],
    ["compression.name=qsgd", "compression.levels=4", "compression.error_feedback=true"],
    ["compression.name=topk", "compression.fraction=0.3", "compression.error_feedback=true", "algorithm=fedavg"],
])
def test_engines_agree(overrides):
    seq = run(overrides + ["engine.name=sequential"])[1]
    vec = run(overrides + ["engine.name=vectorized", "engine.chunk_size=2"])[1]
    for a, b in zip(seq, vec):
        assert set(a) == set(b)
        for k, v in a.items():
            if k not in ("round_s", "wall_s") and isinstance(v, float):
                assert b[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k


DP_FEDAVG = ["cohort.sampler=poisson", "cohort.rate=0.02", "privacy.mechanism=central", "privacy.clip=0.5",
             "privacy.delta=1e-5", "rounds=100"]


def test_a_noise_multiplier_too_large_to_learn_is_refused():
    from fedhive.privacy.configure import noise_multiplier, sampling_of

    config = build_config({}, [*DP_FEDAVG, "privacy.target_epsilon=1e-4"])
    with pytest.raises(UserError, match=r"privacy.target_epsilon=0.0001 over 100 rounds needs noise multiplier "
                                        r"z = \S+ \(> 10000\): the model cannot learn"):
        noise_multiplier(config, sampling_of(config))


def test_noise_above_the_signal_is_warned_with_the_signal_to_noise_figure():
    from fedhive.errors import FedhiveWarning
    from fedhive.privacy.configure import check_learnable, sampling_of

    config = build_config({}, [*DP_FEDAVG, "privacy.target_epsilon=0.01"])
    with pytest.warns(FedhiveWarning, match=r"signal-to-noise n/z = 0.2 \(n = 20 clients per round\) is below 1"):
        assert check_learnable(100.0, sampling_of(config), config) == 100.0


@pytest.mark.parametrize("aggregate", ["median", "krum", "trimmed_mean"])
def test_a_robust_aggregate_after_central_dp_is_an_error(aggregate):
    config = build_config({}, [*DP_FEDAVG, "privacy.noise_multiplier=1.0", "data.clients=100", "cohort.rate=0.2",
                               f"server.aggregate={aggregate}"])
    with pytest.raises(UserError, match=f"server: {aggregate} cannot follow privacy.mechanism=central"):
        Experiment(config)
