"""CIFAR-10/100 binary readers: records, truncation and the refused pickled version."""

import numpy as np
import pytest

from fedhive.config import DataConfig
from fedhive.data.build import build_dataset
from fedhive.data.cifar import load
from fedhive.errors import UserError
from tests.data import formats


def test_cifar10_records_become_images_and_labels(tmp_path):
    folder = formats.write_cifar10(tmp_path, per_file=6)
    data = load("cifar10", str(tmp_path))
    raw = np.fromfile(folder / "data_batch_2.bin", np.uint8).reshape(6, 3073)
    assert data.x.shape == (30, 3, 32, 32) and data.x_test.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(data.y[6:12], raw[:, 0])
    np.testing.assert_allclose(data.x[6], raw[0, 1:].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    ds = build_dataset(DataConfig(name="cifar10", root=str(tmp_path), clients=3,
                                  partition={"name": "dirichlet", "alpha": 1.0, "min_size": 1}), seed=0)
    assert ds.num_clients == 3 and ds.num_classes == 10 and int(ds.client_sizes.sum() + ds.client_test.sizes.sum()) == 30


def test_cifar100_uses_the_fine_label(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, n in (("train.bin", 4), ("test.bin", 2)):
        records = np.zeros((n, 3074), np.uint8)
        records[:, 0], records[:, 1] = 19, np.arange(n) + 90  # coarse, fine
        (folder / name).write_bytes(records.tobytes())
    data = load("cifar100", str(tmp_path))
    assert data.num_classes == 100 and data.y.tolist() == [90, 91, 92, 93] and data.y_test.tolist() == [90, 91]


def test_truncated_record_names_the_file(tmp_path):
    folder = formats.write_cifar10(tmp_path, per_file=2)
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(UserError, match=rf"^{path}: 6141 bytes is not a whole number of 3073-byte records"):
        load("cifar10", str(tmp_path))


def test_pickled_python_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("FEDHIVE_DATA", raising=False)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "batches.meta", "test_batch"):
        (folder / name).write_bytes(b"\x80\x04not to be unpickled")
    with pytest.raises(UserError, match=r"pickled python version, which fedhive does not unpickle; use the binary "
                                        r"version \(cifar-10-binary.tar.gz\): cifar-10-batches-bin/"):
        load("cifar10", str(tmp_path))


def test_datasets_command_lists_layouts_and_what_the_root_holds(tmp_path, capsys, monkeypatch):
    from fedhive.cli import main

    monkeypatch.delenv("FEDHIVE_DATA", raising=False)
    formats.write_cifar10(tmp_path, per_file=1)
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["cifar10"].endswith(f"[available ({tmp_path / 'cifar-10-batches-bin'})]")
    assert "[missing: femnist/data/{train/*.json + test/*.json} in data.root or $FEDHIVE_DATA]" in lines["femnist"]
    assert "stackoverflow_train.h5 + stackoverflow_test.h5" in lines["stackoverflow"]
