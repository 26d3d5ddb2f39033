"""Bad data gets a one-line error naming the file and the problem (exit 2), never a silent change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fedhive.cli import main
from fedhive.data import store
from fedhive.data.arrays import from_arrays
from fedhive.errors import FedhiveWarning, UserError

RUN = ["data.name=file", "data.clients=4", "data.batch_size=8", "rounds=1", "model.name=logistic",
       "cohort.min=2", "cohort.max=2", "-q"]


def arrays(n: int = 40, d: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rs = np.random.default_rng(seed)
    return {"x": rs.normal(size=(n, d)).astype(np.float32), "y": rs.integers(0, 3, n)}


def npz(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, **{**arrays(), **changes})
    return path


def run_file(tmp_path: Path, path: Path, capsys, *extra: str) -> str:
    """`fedhive run` on the file; the one line it printed (status 2 asserted)."""
    assert main(["run", *RUN, f"data.path={path}", f"output_dir={tmp_path / 'runs'}", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"fedhive: error: {path}: "), err
    assert not (tmp_path / "runs").exists()  # nothing ran
    return err


BAD_NPZ = {
    "short_y": ({"y": np.zeros(39, dtype=np.int64)}, "x has 40 samples but y has 39"),
    "long_y": ({"y": np.zeros(41, dtype=np.int64)}, "x has 40 samples but y has 41"),
    "test_shape": ({"x_test": np.zeros((5, 4), np.float32), "y_test": np.zeros(5, np.int64)},
                   "x_test has feature shape (4,), x has (3,)"),
    "negative_label": ({"y": np.r_[-1, arrays()["y"][1:]]}, "labels in y must be in [0, 3) for 3 classes; found -1..2"),
    "fractional_label": ({"y": np.full(40, 0.5)}, "y must hold integer labels"),
    "nan_feature": ({"x": np.where(np.arange(40)[:, None] == 7, np.nan, arrays()["x"]).astype(np.float32)},
                    "1 rows of x hold NaN or Inf features (data.drop_nonfinite: true drops them)"),
    "inf_test_feature": ({"x_test": np.full((5, 3), np.inf, np.float32), "y_test": np.zeros(5, np.int64)},
                         "5 rows of x_test hold NaN or Inf"),
    "test_without_labels": ({"x_test": np.zeros((5, 3), np.float32)}, "a test set needs both x_test and y_test"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz_is_one_line_naming_the_file(tmp_path, capsys, case):
    changes, message = BAD_NPZ[case]
    err = run_file(tmp_path, npz(tmp_path, **changes), capsys)
    assert message in err


def test_bad_csv_is_one_line_naming_the_file(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n" + "1,2,0\n3,nan,1\n5,6,1\n7,8,0\n" * 5)
    assert "5 rows of x hold NaN or Inf" in run_file(tmp_path, path, capsys)


def test_drop_nonfinite_drops_the_rows_and_says_how_many(tmp_path, capsys):
    x = arrays()["x"]
    x[[3, 9]] = np.nan
    path = npz(tmp_path, x=x)
    assert main(["run", *RUN, f"data.path={path}", f"output_dir={tmp_path / 'runs'}", "data.drop_nonfinite=true",
                 "data.client_test_fraction=0.25", "name=r"]) == 0
    assert f"fedhive: warning: {path}: dropped 2 of 40 rows with NaN or Inf features" in capsys.readouterr().err
    with pytest.warns(FedhiveWarning, match="dropped 2 of 40 rows"):
        ds = from_arrays(x, arrays()["y"], clients=4, drop_nonfinite=True)
    assert int(ds.train.offsets[-1]) + int(ds.client_test.offsets[-1]) == 38


@pytest.mark.parametrize("kwargs, message", [
    ({"y": np.zeros(39)}, "arrays: x has 40 samples but y has 39"),
    ({"num_classes": 2}, "labels in y must be in [0, 2) for 2 classes"),
    ({"x_test": np.zeros((3, 2), np.float32), "y_test": np.zeros(3)}, "x_test has feature shape (2,), x has (3,)"),
    ({"groups": np.zeros(3)}, "x has 40 samples but the client column has 3"),
])
def test_from_arrays_runs_the_same_validation(kwargs, message):
    data = {**arrays(), **kwargs}
    with pytest.raises(UserError) as e:
        from_arrays(data.pop("x"), data.pop("y"), clients=4, **data)
    assert message in str(e.value) and "\n" not in str(e.value)


def saved(tmp_path: Path, **changes) -> Path:
    """A saved FederatedDataset with some of its tensors replaced (and the hash redone)."""
    path = tmp_path / "saved.pt"
    store.save(from_arrays(*arrays().values(), clients=4), path)
    blob = torch.load(path, weights_only=True)
    tensors = {**blob["tensors"], **changes}
    header = {**json.loads(blob["header"]), "hash": store.content_hash(tensors)}
    torch.save({"header": json.dumps(header), "tensors": tensors}, path)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda t: {"train_offsets": t["train_offsets"].flip(0)}, "train offsets must start at 0 and never decrease"),
    (lambda t: {"train_offsets": t["train_offsets"] - torch.tensor([0, 0, 0, 0, 1])}, "train offsets cover"),
    (lambda t: {"train_y": t["train_y"] + 5}, "train labels must be in [0, 3)"),
    (lambda t: {"train_x": t["train_x"] * float("nan")}, "train features hold NaN or Inf"),
    (lambda t: {"client_test_offsets": t["client_test_offsets"][:3]}, "client_test offsets"),
])
def test_bad_saved_dataset_is_one_line_naming_the_file(tmp_path, capsys, change, message):
    path = tmp_path / "saved.pt"
    store.save(from_arrays(*arrays().values(), clients=4), path)
    tensors = torch.load(path, weights_only=True)["tensors"]
    path = saved(tmp_path, **change(tensors))
    assert message in run_file(tmp_path, path, capsys)


def test_empty_clients_are_a_warning_with_the_count(tmp_path, capsys):
    path = tmp_path / "saved.pt"
    store.save(from_arrays(*arrays().values(), clients=4), path)
    offsets = torch.load(path, weights_only=True)["tensors"]["train_offsets"].clone()
    offsets[1] = 0  # client 0's rows now belong to client 1
    path = saved(tmp_path, train_offsets=offsets)
    assert main(["run", *RUN, f"data.path={path}", f"output_dir={tmp_path / 'runs'}", "rounds=2"]) == 0
    assert f"fedhive: warning: {path}: 1 of 4 clients hold no training samples" in capsys.readouterr().err
