"""The device model: keyed draws per distribution, traces in every layout, availability."""

from __future__ import annotations

import json
import math

import pytest

from fedhive.config import Distribution, SystemConfig, load_config
from fedhive.errors import UserError
from fedhive.system.devices import Devices
from fedhive.system.distributions import draw


@pytest.mark.parametrize("dist", ["lognormal", "normal", "pareto", "uniform", "exponential", "halfnormal"])
def test_draws_are_keyed_positive_and_bounded(dist):
    d = Distribution(dist=dist, value=2.0, sigma=1.0, floor=0.5, cap=5.0, low=1.0, high=3.0)
    xs = [draw(d, 7, c, "speed") for c in range(400)]
    assert xs == [draw(d, 7, c, "speed") for c in range(400)]  # a pure function of the key
    assert xs != [draw(d, 8, c, "speed") for c in range(400)]
    assert min(xs) > 0 and len(set(xs)) > 250  # pareto: a quarter sits at the cap
    bounds = {"normal": (0.5, math.inf), "pareto": (2.0, 5.0), "uniform": (1.0, 3.0),
              "exponential": (0.5, math.inf), "halfnormal": (2.0, math.inf)}
    lo, hi = bounds.get(dist, (0, math.inf))
    assert lo <= min(xs) and max(xs) <= hi


def test_lognormal_median_and_constant():
    xs = sorted(draw(Distribution(dist="lognormal", value=3.0, sigma=0.5), 0, c, "s") for c in range(2001))
    assert xs[1000] == pytest.approx(3.0, rel=0.1)
    assert draw(Distribution(value=4.0), 0, 5, "s") == 4.0


def test_task_time_is_download_compute_upload():
    dev = Devices(SystemConfig(speed={"value": 0.01}, upload={"value": 100}, download={"value": 1000}), 10, 0)
    t = dev.task_time(3, 0, samples=50, bytes_down=2000, bytes_up=300)
    assert (t.download, t.compute, t.upload, t.total) == pytest.approx((2.0, 0.5, 3.0, 5.5))


def test_device_trace_csv_json_and_fedscale(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("client,seconds_per_sample,upload,download\n0,0.1,10,20\n1,0.2,30,40\n")
    lst = tmp_path / "d.json"
    lst.write_text(json.dumps([{"client": 0, "seconds_per_sample": 0.1, "upload": 10, "download": 20},
                               {"client": 1, "seconds_per_sample": 0.2, "upload": 30, "download": 40}]))
    fedscale = tmp_path / "f.json"
    fedscale.write_text(json.dumps({"1": {"computation": 100, "communication": 80},
                                    "2": {"computation": 200, "communication": 800}}))
    for path in (csv, lst):
        dev = Devices(SystemConfig(trace=str(path)), 2, 0)
        assert dev.profile(1) == (0.2, 30, 40)
    dev = Devices(SystemConfig(trace=str(fedscale)), 2, 0)
    assert dev.profile(0) == pytest.approx((0.1, 10_000, 10_000))  # ms/sample -> s, kbit/s -> bytes/s
    assert dev.profile(1) == pytest.approx((0.2, 100_000, 100_000))
    cycled = Devices(SystemConfig(trace=str(csv), trace_assign="cycle"), 5, 0)
    assert cycled.profile(3) == (0.2, 30, 40)


@pytest.mark.parametrize("text, message", [
    ("client,seconds_per_sample,upload\n0,0.1,10\n", "missing column(s) download"),
    ("client,seconds_per_sample,upload,download\n0,0.1,10,20\n", "missing clients 1, 2"),
    ("client,seconds_per_sample,upload,download\n0,-1,10,20\n1,1,1,1\n2,1,1,1\n", "seconds_per_sample must be > 0"),
    ("client,seconds_per_sample,upload,download\n0,abc,10,20\n", "must be a number"),
])
def test_bad_device_trace_names_the_field(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=r"^system\.trace: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        Devices(SystemConfig(trace=str(path)), 3, 0)


def test_availability_trace_and_bernoulli(tmp_path):
    path = tmp_path / "on.json"
    path.write_text(json.dumps({"0": [[0, 10], [20, 30]], "1": [[5, 6]]}))
    dev = Devices(SystemConfig(availability={"kind": "trace", "trace": str(path), "repeat": 100}), 3, 0)
    assert dev.available(0, 0, 3.0) and not dev.available(0, 0, 15.0) and dev.available(0, 0, 125.0)
    assert dev.online_until(0, 22.0) == 30.0 and dev.online_until(0, 121.0) == 130.0
    assert not dev.available(2, 0, 1.0)  # no intervals: never online
    dev = Devices(SystemConfig(availability={"kind": "bernoulli", "p": 0.3}), 2000, 0)
    share = sum(dev.available(c, 4, 0.0) for c in range(2000)) / 2000
    assert share == pytest.approx(0.3, abs=0.04)


def test_diurnal_availability_follows_the_sinusoid():
    cfg = SystemConfig(availability={"kind": "diurnal", "mean": 0.5, "amplitude": 0.5, "period": 100})
    dev = Devices(cfg, 1000, 0)
    assert 0.4 < sum(dev.available(c, 0, 0.0) for c in range(1000)) / 1000 < 0.6
    assert all(dev.available(c, 1, 0.0) == dev.available(c, 1, 0.0) for c in range(20))


@pytest.mark.parametrize("override, field", [
    ("system.speed.value=-1", "system.speed.value"),
    ("system.upload.dist=gamma", "system.upload.dist"),
    ("round.deadline=0", "round.deadline"),
    ("round.overcommit=0.5", "round.overcommit"),
    ("system.dropout=1.5", "system.dropout"),
    ("asynchronous.buffer_size=0", "asynchronous.buffer_size"),
])
def test_bad_system_config_names_the_field(override, field):
    with pytest.raises(UserError, match=rf"^config error: {field}: "):
        load_config(None, [override])


def test_cli_exits_2_on_bad_system_config(tmp_path, cli):
    p = cli("validate", "system.speed.value=-1")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "system.speed.value" in p.stderr
    trace = tmp_path / "t.csv"
    trace.write_text("client,seconds_per_sample,upload,download\n0,0.1,10,20\n")
    p = cli("run", "-q", f"system.trace={trace}", "rounds=1", f"output_dir={tmp_path}")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "system.trace: missing clients" in p.stderr


@pytest.mark.parametrize("overrides, field", [
    (["mode=async", "round.deadline=3"], "round"),
    (["mode=async", "system.stragglers.fraction=0.5"], "system.stragglers"),
    (["mode=async", "data.clients=10", "cohort.min=5", "cohort.max=5", "asynchronous.concurrency=20"],
     "asynchronous.concurrency"),
    (["system.availability.kind=trace"], "system.availability"),
    (["system.speed.dist=uniform", "system.speed.low=3", "system.speed.high=1"], "system.speed"),
])
def test_contradictory_system_config_names_the_field(overrides, field):
    with pytest.raises(UserError, match=rf"^config error: {field}"):
        load_config(None, overrides)
