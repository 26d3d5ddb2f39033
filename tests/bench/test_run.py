"""The benchmark's variants do the same work (same final accuracy) and its table and
Markdown rewriting work; no timings are asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import async_bench  # noqa: E402
import cnn  # noqa: E402
import reference  # noqa: E402
import run  # noqa: E402


def test_reference_variants_reach_the_same_model():
    names = ["naive loop", "hand-written fused", "fedhive sequential", "fedhive vectorized"]
    results = {n: reference.VARIANTS[n](3, 1, 20) for n in names}
    accs = {n: r["accuracy"] for n, r in results.items()}
    assert len(set(accs.values())) == 1, accs
    assert all(r["rounds"] == 2 and r["updates"] == 40 for r in results.values())


def test_async_variants_count_the_same_updates():
    fed = async_bench.VARIANTS["fedhive async FedBuff"](3, 1, None)
    plain = async_bench.VARIANTS["plain event loop"](3, 1, None)
    assert fed["rounds"] == plain["rounds"] == 3 and fed["updates"] == plain["updates"] == 30
    assert 0.0 < fed["accuracy"] <= 1.0 and 0.0 < plain["accuracy"] <= 1.0


def test_plain_event_loop_baselines_are_not_compared_for_accuracy():
    rows = [_row("async FedBuff", "plain event loop", 30.0, acc=0.5), _row("async FedBuff", "fedhive async FedBuff", 2.0)]
    assert run.check_accuracy(rows) == []
    assert "| async FedBuff | fedhive async FedBuff | 2.0 | 1,000 | 300 | 15.00 | – | 0.9900 |" in run.table(rows)


@pytest.mark.slow
def test_cnn_variants_reach_the_same_model():
    hand = cnn.VARIANTS["cnn hand-written loop"](2, 1, None)
    fed = cnn.VARIANTS["cnn fedhive vectorized"](2, 1, None)
    assert hand["accuracy"] == pytest.approx(fed["accuracy"], abs=2e-3)
    assert hand["updates"] == fed["updates"] == 32


def _row(section, variant, ms, acc=0.99):
    return {"section": section, "variant": variant, "ms": ms, "updates_per_s": 1000.0, "rss_mb": 300.0, "accuracy": acc}


def test_table_ratios_and_accuracy_check():
    rows = [_row("reference", "naive loop", 100.0), _row("reference", "hand-written fused", 8.0),
            _row("reference", "fedhive vectorized", 10.0, acc=0.95)]
    text = run.table(rows)
    assert "| reference | fedhive vectorized | 10.0 | 1,000 | 300 | 10.00 | 0.80 | 0.9500 |" in text
    assert run.check_accuracy(rows) and "reference" in run.check_accuracy(rows)[0]
    assert run.check_accuracy(rows[:2]) == []


def test_markdown_block_rewritten(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"# t\n{run.BEGIN}\nold\n{run.END}\ntail\n")
    run.write_markdown(doc, "new table")
    assert doc.read_text() == f"# t\n{run.BEGIN}\nnew table\n{run.END}\ntail\n"


def test_goals_sit_beside_the_measured_ratios():
    import goals

    rows = [_row("reference 1t", "seed loop", 60.0), _row("reference 1t", "hand-written fused", 5.0),
            _row("reference 1t", "fedhive vectorized", 5.0), _row("reference 1t", "fedhive vectorized+compile", 4.0),
            _row("busy machine", "fedhive default", 6.0), _row("busy machine", "fedhive default, CPU hog", 10.8),
            _row("async FedBuff", "plain event loop", 30.0),
            {**_row("async FedBuff", "fedhive async FedBuff", 2.0), "updates_per_s": 2600.0}]
    got = {g: (m, ok) for g, m, ok in goals.goals(rows, {"run_s": 5.0, "torch_s": 2.5})}
    assert got["reference 1t: default ≥ 10× the seed loop"] == ("12.0×", "met")
    assert got["reference 1t: default ≤ 1.1× hand-written fused"] == ("1.00×", "met")
    assert got["reference 1t: compile ≥ 30× the seed loop"] == ("15.0×", "not met")
    assert got["busy machine: default beside a CPU hog ≤ 1.5× quiet"] == ("1.80×", "not met")
    assert got["async FedBuff: ≥ 30× FLSim (65 updates/s, quoted)"] == ("40.0×", "met")
    assert got["async FedBuff: ≥ 10× the plain event loop"] == ("15.0×", "met")
    assert "65 client updates/s" in goals.flsim_line(rows) and goals.flsim_line(rows[:3]) == ""
    assert got["start-up: `fedhive run rounds=1` ≤ 2 s beyond torch's import"] == ("2.50 s", "not met")
    assert "reference 1t: default not slower than sequential" not in got  # not measured
    assert "| reference 1t: compile ≥ 30× the seed loop | 15.0× | not met |" in goals.goals_table(rows, None)
