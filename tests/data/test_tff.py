"""TFF / FedJAX HDF5 readers: federated EMNIST, Shakespeare and StackOverflow on test-made files."""

import numpy as np
import pytest

from fedhive.config import DataConfig
from fedhive.data.build import build_dataset
from fedhive.errors import UserError
from tests.data import formats

h5py = pytest.importorskip("h5py")


def load(name, root, **kw):
    return build_dataset(DataConfig(name=name, root=str(root), batch_size=4, **kw), seed=0)


def test_fed_emnist_clients_pixels_and_labels(tmp_path):
    folder = formats.write_tff(tmp_path, "fed_emnist", [4, 2, 6])
    ds = load("fed_emnist", tmp_path)
    assert ds.num_clients == 3 and ds.num_classes == 62 and ds.input_shape == (1, 28, 28)
    assert ds.client_sizes.tolist() == [4, 2, 6] and ds.client_test.sizes.tolist() == [2, 1, 3]
    with h5py.File(folder / "fed_emnist_train.h5") as f:
        np.testing.assert_array_equal(ds.train.x[4:6, 0].numpy(), f["examples/f0001/pixels"][()])
        assert ds.train.y[4:6].tolist() == f["examples/f0001/label"][()].tolist()


def test_fed_shakespeare_windows_of_81_characters(tmp_path):
    formats.write_tff(tmp_path, "fed_shakespeare", [2, 3])
    ds = load("fed_shakespeare", tmp_path)
    # each 90-character snippet gives 10 windows: 80 inputs and the next character
    assert ds.client_sizes.tolist() == [20, 30] and ds.input_shape == (80,)
    assert ds.num_classes == 87
    assert ds.train.x[1, :79].tolist() == ds.train.x[0, 1:].tolist() and ds.train.y[0] == ds.train.x[1, 79]


def test_stackoverflow_next_word_sequences(tmp_path):
    folder = formats.write_tff(tmp_path, "stackoverflow", [3, 5])
    ds = load("stackoverflow", tmp_path, vocab_size=4)
    assert ds.num_classes == 4 + 4 and ds.input_shape == (20,) and ds.train.y.shape == (8, 20)
    bos, eos = 6, 7
    assert (ds.train.x[:, 0] == bos).all()
    assert ds.train.x[:, 1:].tolist() == ds.train.y[:, :-1].tolist()  # y is x shifted by one word
    with h5py.File(folder / "stackoverflow_train.h5") as f:
        first = f["examples/00000000/tokens"][0].decode().split()
    n = min(len(first), 20)
    assert (ds.train.y[0, :n] >= 1).all() and (ds.train.y[0, :n] < bos).all()  # words or out-of-vocabulary
    if n < 20:
        assert ds.train.y[0, n] == eos and (ds.train.y[0, n + 1:] == 0).all()
    assert ds.label_counts() is None


def test_stackoverflow_vocabulary_from_the_word_count_file(tmp_path):
    folder = formats.write_tff(tmp_path, "stackoverflow", [3])
    (folder / "stackoverflow.word_count").write_text("python 100\nsort 50\nlist 10\n")
    ds = load("stackoverflow", tmp_path, vocab_size=2)
    with h5py.File(folder / "stackoverflow_train.h5") as f:
        words = f["examples/00000000/tokens"][0].decode().split()
    expected = [{"python": 2, "sort": 3}.get(w, 1) for w in words[:19]]
    assert ds.train.x[0, 1:1 + len(expected)].tolist() == expected


def test_missing_field_and_bad_file(tmp_path):
    folder = formats.write_tff(tmp_path, "fed_emnist", [2])
    formats.write_h5(folder / "fed_emnist_test.h5", {"f0000": {"pixels": np.zeros((1, 28, 28), np.float32)}})
    with pytest.raises(UserError, match=r"fed_emnist_test.h5: client 'f0000' has no 'label'$"):
        load("fed_emnist", tmp_path)
    formats.write_h5(folder / "fed_emnist_test.h5", {"f0000": {"pixels": np.zeros((2, 28, 28), np.float32),
                                                               "label": np.zeros(1, np.int32)}})
    with pytest.raises(UserError, match="client 'f0000': pixels and label have different lengths"):
        load("fed_emnist", tmp_path)
    (folder / "fed_emnist_test.h5").write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="fed_emnist_test.h5: not a readable HDF5 file"):
        load("fed_emnist", tmp_path)
