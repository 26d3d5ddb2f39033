"""LEAF JSON readers: FEMNIST, Shakespeare, Sent140, CelebA on test-made files, and malformed ones."""

import json

import numpy as np
import pytest
import torch

from fedhive.config import DataConfig
from fedhive.data.build import build_dataset
from fedhive.errors import UserError
from tests.data import formats


def load(name, root, **kw):
    return build_dataset(DataConfig(name=name, root=str(root), batch_size=4, **kw), seed=0)


def test_femnist_keeps_users_and_their_test_split(tmp_path):
    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [5, 2, 9])
    ds = load("femnist", tmp_path)
    raw = json.loads((folder / "train" / "all_data_0_train.json").read_text())
    assert ds.num_clients == 3 and ds.num_classes == 62 and ds.input_shape == (1, 28, 28)
    assert ds.client_sizes.tolist() == [5, 2, 9]
    assert ds.client_test.sizes.tolist() == [1, 1, 3]
    second = raw["users"][1]
    assert torch.equal(ds.train.x[5:7].reshape(2, 784), torch.tensor(raw["user_data"][second]["x"], dtype=torch.float32))
    assert ds.train.y[5:7].tolist() == raw["user_data"][second]["y"]
    assert ds.info["partition"] == {"name": "natural"}


def test_test_users_in_another_order_are_aligned(tmp_path):
    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [3, 4])
    test_file = folder / "test" / "all_data_0_test.json"
    doc = json.loads(test_file.read_text())
    doc["users"].reverse()
    doc["num_samples"].reverse()
    test_file.write_text(json.dumps(doc))
    ds = load("femnist", tmp_path)
    first = doc["users"][1]
    assert ds.client_test.y[:1].tolist() == doc["user_data"][first]["y"]


def test_shakespeare_maps_leaf_letters(tmp_path):
    folder = formats.write_leaf(tmp_path, "shakespeare", formats.shakespeare_users, [4, 6])
    ds = load("shakespeare", tmp_path)
    raw = json.loads((folder / "train" / "all_data_0_train.json").read_text())
    user = raw["users"][0]
    assert ds.num_classes == 80 and ds.input_shape == (80,)
    assert ds.train.x[0].tolist() == [formats.LETTERS.index(c) for c in raw["user_data"][user]["x"][0]]
    assert ds.train.y[0].item() == formats.LETTERS.index(raw["user_data"][user]["y"][0])


def test_sent140_words_from_the_training_vocabulary(tmp_path):
    formats.write_leaf(tmp_path, "sent140", formats.sent140_users, [3, 3, 2])
    ds = load("sent140", tmp_path, vocab_size=3)
    assert ds.num_classes == 2 and ds.input_shape == (25,)
    assert ds.info["vocabulary"] == 5
    assert set(ds.train.x.unique().tolist()) <= {0, 1, 2, 3, 4}
    assert (ds.train.x[:, :6] > 0).all() and (ds.train.x[:, 6:] == 0).all()


def test_celeba_needs_its_images(tmp_path):
    from PIL import Image

    users = {f"c{i}": {"x": [f"{i}{j}.jpg" for j in range(3)], "y": [j % 2 for j in range(3)]} for i in range(2)}
    folder = tmp_path / "celeba" / "data"
    formats.write_leaf_file(folder / "train" / "t.json", {u: {k: v[:2] for k, v in d.items()} for u, d in users.items()})
    formats.write_leaf_file(folder / "test" / "t.json", {u: {k: v[2:] for k, v in d.items()} for u, d in users.items()})
    with pytest.raises(UserError, match="^celeba: image folder .*img_align_celeba not found"):
        load("celeba", tmp_path)
    images = folder / "raw" / "img_align_celeba"
    images.mkdir(parents=True)
    for d in users.values():
        for name in d["x"]:
            Image.new("RGB", (178, 218), (255, 0, 0)).save(images / name)
    ds = load("celeba", tmp_path)
    assert ds.input_shape == (3, 84, 84) and ds.client_sizes.tolist() == [2, 2]
    assert torch.allclose(ds.train.x[0, 0], torch.ones(84, 84), atol=0.02) and ds.train.x[0, 1].max() < 0.02


def edit_train(folder, change):
    path = folder / "train" / "all_data_0_train.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("num_samples"), "no 'num_samples' key"),
    (lambda d: d["num_samples"].__setitem__(0, 7), "num_samples says 7 but x has 5"),
    (lambda d: d["user_data"].pop(d["users"][1]), "user_data has no x and y for user"),
    (lambda d: d["user_data"][d["users"][0]]["x"][2].pop(), "x must be rows of 784 numbers"),
    (lambda d: d["user_data"][d["users"][0]]["y"].__setitem__(0, 62), "label 62 outside 0..61"),
])
def test_malformed_femnist_names_the_file(tmp_path, change, message):
    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [5, 2])
    path = edit_train(folder, change)
    with pytest.raises(UserError, match=message) as err:
        load("femnist", tmp_path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_truncated_file_and_unknown_letter(tmp_path):
    folder = formats.write_leaf(tmp_path, "shakespeare", formats.shakespeare_users, [2, 2])
    path = edit_train(folder, lambda d: d["user_data"][d["users"][0]]["x"].__setitem__(0, "~" * 80))
    with pytest.raises(UserError, match=r"character '~' is not in the 80-symbol vocabulary"):
        load("shakespeare", tmp_path)
    path.write_text(path.read_text()[:-40])
    with pytest.raises(UserError, match="not valid JSON"):
        load("shakespeare", tmp_path)


def test_a_natural_split_refuses_another_partition_or_client_count(tmp_path):
    formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [2, 2])
    with pytest.raises(UserError, match="^data.partition: femnist keeps its published clients"):
        load("femnist", tmp_path, partition={"name": "dirichlet"})
    with pytest.raises(UserError, match="^data.clients: femnist's files hold 2 clients"):
        load("femnist", tmp_path, clients=5)
    assert load("femnist", tmp_path, clients=2, partition={"name": "natural"}).num_clients == 2


def test_missing_folder_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("FEDHIVE_DATA", raising=False)
    with pytest.raises(UserError, match=r"^femnist: no LEAF files \(train/\*.json \+ test/\*.json\)"):
        load("femnist", tmp_path)


@pytest.mark.parametrize("fast", [True, False])
def test_json_and_orjson_read_the_same(tmp_path, monkeypatch, fast):
    from fedhive.data import leaf

    if fast:
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(leaf, "_json_loads", lambda: json.loads)
    users = formats.femnist_users([3, 0, 2], seed=1)
    path = tmp_path / "f.json"
    formats.write_leaf_file(path, users)
    names, xs, ys = leaf.read_file(path, 784)
    assert names == list(users) and [len(y) for y in ys] == [3, 0, 2]
    for name, x in zip(names, xs):
        np.testing.assert_array_equal(x, np.asarray(users[name]["x"], dtype=np.float32).reshape(-1, 784))
