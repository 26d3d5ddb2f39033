"""`fedhive report`: a self-contained page that a real browser renders, images and all."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fedhive.config import load_config
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.reports.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TINY = ["rounds=4", "data.batch_size=200", "data.batches.min=1", "data.batches.max=2", "cohort.min=3", "cohort.max=4"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    Experiment(load_config(None, [*TINY, f"output_dir={out}", "name=r"])).run()
    return write_report(out / "r")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"  # a fresh profile each time
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


def test_page_is_self_contained(report):
    page = report.read_text()
    assert page.count('src="data:image/png;base64,') == 2  # loss and accuracy
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page
    for heading in ("Summary", "Plots", "Metrics (4 rounds)", "Partition", "Privacy", "Communication",
                    "Environment", "Resolved config"):
        assert f"<h2>{heading}</h2>" in page
    assert "torch_threads" in page and "cohort:" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)")
def test_chromium_renders_images_and_one_row_per_round(report, tmp_path):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, "--window-size=1280,1600", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), res.stderr
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.005  # not blank: text and curves drawn
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout
    assert 'data-images-loaded="2/2"' in dom
    body = dom.split('<table id="metrics">', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    cells = re.findall(r"<tr><td>(\d+)</td>", body)
    assert cells == ["1", "2", "3", "4"]


def test_not_a_run_folder(tmp_path):
    with pytest.raises(UserError, match="not a run or sweep folder"):
        write_report(tmp_path)


def test_sweep_report_has_the_summary_and_band_figure(tmp_path):
    from tests.sweep.fixtures import fake_sweep

    sweep = fake_sweep(tmp_path / "sw", {
        "a0": ({"lr": "0.1", "seed": "0"}, [0.5, 0.8], {}, {}),
        "a1": ({"lr": "0.1", "seed": "1"}, [0.6, 0.7], {}, {}),
        "b0": ({"lr": "1.0", "seed": "0"}, [0.9, 0.95], {}, {}),
    })
    (sweep / "sweep.csv").write_text("run,lr,seed,status\na0,0.1,0,done\na1,0.1,1,done\nb0,1.0,0,done\n")
    page = write_report(sweep).read_text()
    summary = page.split('<table id="summary">', 1)[1].split("</tbody>", 1)[0]
    assert re.findall(r"<tr><td>([^<]+)</td>", summary) == ["lr=0.1", "lr=1.0"]
    assert page.count("data:image/png;base64,") == 1 and (sweep / "plots/compare.png").is_file()
