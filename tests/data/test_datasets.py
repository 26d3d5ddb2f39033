"""Datasets by name, loaded offline: shapes, class counts, and clear errors when absent."""

import numpy as np
import pytest
import torch

from fedhive.config import load_config
from fedhive.data import build_dataset, datasets, from_csv, from_torch
from fedhive.data.idx import read_idx, write_idx
from fedhive.errors import UserError

FASHION = datasets.fashion_mnist_folder(None)


def build(*overrides):
    config = load_config(None, ["cohort.min=2", "cohort.max=2", *overrides])
    return build_dataset(config.data, config.seed)


def test_digits_loads_offline_with_its_shape_and_classes():
    ds = build("data.name=digits", "data.clients=10", "data.client_test_fraction=0.2")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert len(ds.train.y) + len(ds.client_test.y) == 1797
    assert ds.label_counts().sum(0).tolist() == torch.bincount(ds.train.y, minlength=10).tolist()
    assert 0.0 <= float(ds.train.x.min()) and float(ds.train.x.max()) <= 1.0


@pytest.mark.skipif(FASHION is None, reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_loads_offline_with_its_shape_and_classes():
    ds = build("data.name=fashion_mnist", "data.clients=100", "data.client_test_fraction=0.1")
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert len(ds.train.y) + len(ds.client_test.y) == 60000
    x_test, y_test = ds.test_set(0)
    assert x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(y_test).tolist() == [1000] * 10
    assert torch.bincount(torch.cat([ds.train.y, ds.client_test.y])).tolist() == [6000] * 10


def test_fashion_mnist_absent_is_one_line_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.delenv("FEDHIVE_DATA", raising=False)
    with pytest.raises(UserError) as e:
        build("data.name=fashion_mnist")
    assert "apt-get install dataset-fashion-mnist" in str(e.value) and "\n" not in str(e.value)


def write_fake_mnist(folder, n=60, m=20, size=6):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix, count in (("train", n), ("t10k", m)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, size, size)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 4)


def test_idx_folder_and_fedhive_data_env_lookup(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path / "fashion-mnist")
    ds = build("data.name=idx", f"data.root={tmp_path / 'fashion-mnist'}", "data.clients=5")
    assert ds.input_shape == (1, 6, 6) and ds.num_classes == 4 and len(ds.test_set(0)[1]) == 20
    monkeypatch.setenv("FEDHIVE_DATA", str(tmp_path))  # looks in $FEDHIVE_DATA/fashion-mnist
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    assert build("data.name=fashion_mnist", "data.clients=5").input_shape == (1, 6, 6)


def test_idx_reader_roundtrip_and_bad_files(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1]))
    with pytest.raises(UserError, match="header says"):
        read_idx(tmp_path / "short")
    with pytest.raises(UserError, match="data.root"):
        build("data.name=idx", f"data.root={tmp_path}")


def test_csv_with_client_column(tmp_path):
    path = tmp_path / "d.csv"
    rows = ["f1,user,f2,label"] + [f"{i},{'u' + str(i % 3)},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(30)]
    path.write_text("\n".join(rows) + "\n")
    ds = from_csv(path, client_column="user", partition="natural", client_test_fraction=0.2)
    assert ds.num_clients == 3 and ds.num_classes == 2 and ds.input_shape == (2,)
    assert ds.client_sizes.tolist() == [8, 8, 8]
    cfg = build("data.name=file", f"data.path={path}", "data.client_column=user", "data.partition.name=natural")
    assert cfg.num_clients == 3
    with pytest.raises(UserError, match="no column 'who'"):
        from_csv(path, client_column="who")


def test_npz_and_torch_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)).astype(np.float32), np.arange(50) % 5
    np.savez(tmp_path / "d.npz", x=x, y=y, client=np.arange(50) % 4)
    ds = build("data.name=file", f"data.path={tmp_path / 'd.npz'}", "data.partition.name=natural")
    assert ds.num_clients == 4 and ds.num_classes == 5
    tds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    fd = from_torch(tds, clients=5, seed=1)
    assert fd.num_clients == 5 and len(fd.train.y) + len(fd.client_test.y) == 50
    (tmp_path / "d.txt").write_text("1,2\n")
    with pytest.raises(UserError, match="must be a .csv"):
        build("data.name=file", f"data.path={tmp_path / 'd.txt'}")
    with pytest.raises(UserError, match="not found"):
        build("data.name=file", f"data.path={tmp_path / 'missing.csv'}")


def test_every_config_dataset_name_has_a_source():
    from typing import get_args

    from fedhive.config import DataConfig

    assert set(get_args(DataConfig.model_fields["name"].annotation)) == set(datasets.SOURCES)
