"""The wheel holds every fedhive subpackage and no tests, at the package's one version."""

import subprocess
import sys
import zipfile

import pytest

import fedhive
from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_holds_every_subpackage_and_no_tests(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                    str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name == f"fedhive-{fedhive.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    packages = {str(p.parent.relative_to(REPO)) for p in (REPO / "fedhive").rglob("__init__.py")}
    assert {"fedhive/algorithms", "fedhive/data", "fedhive/engines", "fedhive/privacy"} < packages
    assert packages == {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert not [n for n in names if n.startswith(("tests/", "examples/", "bench/", "docs/"))]
    assert f"fedhive-{fedhive.__version__}.dist-info/entry_points.txt" in names


def test_one_version_for_the_package_and_the_cli():
    out = subprocess.run([sys.executable, "-m", "fedhive", "--version"], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == f"fedhive {fedhive.__version__}"
    assert (REPO / "CHANGELOG.md").read_text().split("\n## ", 2)[1].startswith(fedhive.__version__)
