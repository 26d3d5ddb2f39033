"""LEAF JSON readers: FEMNIST, Shakespeare, Sent140, CelebA on test-made files, and malformed ones."""

import json
import os

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


@pytest.fixture(params=["simdjson", "python"])
def numbers_from(request, monkeypatch):
    """FEMNIST's numbers copied into arrays by pysimdjson, or made Python floats first."""
    from fedhive.data import leaf

    if request.param == "simdjson":
        pytest.importorskip("simdjson")
    else:
        monkeypatch.setattr(leaf, "_numeric_parser", lambda: None)
    return request.param


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("num_samples"), "no 'num_samples' key"),
    (lambda d: d["num_samples"].__setitem__(0, 7), "num_samples says 7 but x has 5"),
    (lambda d: d["user_data"].pop(d["users"][1]), "user_data has no x and y for user"),
    (lambda d: d["user_data"][d["users"][0]]["x"][2].pop(), "x must be rows of 784 numbers"),
    (lambda d: d["user_data"][d["users"][0]]["x"][2].__setitem__(3, [0.5, 0.5]), "x must be rows of 784 numbers"),
    (lambda d: d["user_data"][d["users"][0]]["x"].__setitem__(2, 0.5), "x must be rows of 784 numbers"),
    (lambda d: d["user_data"][d["users"][0]]["y"].__setitem__(0, 62), "label 62 outside 0..61"),
])
def test_malformed_femnist_names_the_file(tmp_path, numbers_from, change, message):
    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [5, 2])
    path = edit_train(folder, change)
    with pytest.raises(UserError, match=message) as err:
        load("femnist", tmp_path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_truncated_femnist_file(tmp_path, numbers_from):
    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [3, 2])
    path = folder / "train" / "all_data_0_train.json"
    path.write_text(path.read_text()[:-4000])
    with pytest.raises(UserError, match="not valid JSON") as err:
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


@pytest.mark.parametrize("reader", ["simdjson", "orjson", "json"])
def test_json_orjson_and_simdjson_read_the_same(tmp_path, monkeypatch, reader):
    from fedhive.data import leaf

    pytest.importorskip(reader)
    if reader != "simdjson":
        monkeypatch.setattr(leaf, "_numeric_parser", lambda: None)
    if reader == "json":
        monkeypatch.setattr(leaf, "_json_loads", lambda: json.loads)
    users = formats.femnist_users([3, 0, 2], seed=1)
    users["f0000_1"]["x"][0][:4] = [1, 0, 0.1234567890123456789, 3.0e-5]  # ints, float64 digits, exponents
    path = tmp_path / "f.json"
    formats.write_leaf_file(path, users)
    names, sizes, x, y = leaf.read_file(path, 784)
    assert names == list(users) and sizes.tolist() == [3, 0, 2] and x.shape == (5, 784) and x.dtype == np.float32
    expected = [np.asarray(users[name]["x"], dtype=np.float32).reshape(-1, 784) for name in names]
    np.testing.assert_array_equal(x, np.concatenate(expected))
    assert y == [label for name in names for label in users[name]["y"]]


def same_dataset(a, b):
    for field in ("train", "client_test"):
        for t, u in zip(getattr(a, field), getattr(b, field)):
            assert t.dtype == u.dtype and torch.equal(t, u)
    assert a.num_clients == b.num_clients and a.info == b.info


@pytest.mark.parametrize("name, make", [("femnist", formats.femnist_users), ("shakespeare", formats.shakespeare_users)])
def test_parsed_copy_gives_the_same_tensors_as_the_json(tmp_path, monkeypatch, name, make):
    from fedhive.data import leaf

    folder = formats.write_leaf(tmp_path, name, make, [5, 2, 9])
    first = load(name, tmp_path)
    cache = folder / leaf.CACHE
    assert cache.is_file()
    cache.write_bytes(cache.read_bytes())  # a different mtime on the copy itself does not matter
    with monkeypatch.context() as m:
        m.setattr(leaf, "read_split", lambda *a: pytest.fail("parsed the JSON again"))
        same_dataset(first, load(name, tmp_path))
    cache.unlink()
    same_dataset(first, load(name, tmp_path))


def test_parsed_copy_is_replaced_when_a_file_changes(tmp_path):
    from fedhive.data import leaf

    folder = formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [5, 2])
    load("femnist", tmp_path)
    cache = folder / leaf.CACHE
    path = edit_train(folder, lambda d: d["user_data"][d["users"][0]]["y"].__setitem__(0, 61))
    assert load("femnist", tmp_path).train.y[0].item() == 61
    # Same size, new modification time: parsed again.
    text = path.read_text().replace('"y": [61,', '"y": [60,', 1)
    assert len(text) == len(path.read_text())
    path.write_text(text)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert load("femnist", tmp_path).train.y[0].item() == 60
    # A file added to a split is seen too.
    formats.write_leaf_file(folder / "train" / "zz_more.json", formats.femnist_users([3], seed=9))
    assert load("femnist", tmp_path).num_clients == 3
    # A torn parsed copy is rebuilt, not trusted.
    cache.write_bytes(cache.read_bytes()[:100])
    assert load("femnist", tmp_path).num_clients == 3 and cache.stat().st_size > 100


def test_read_only_folder_still_loads(tmp_path, monkeypatch, capsys):
    from fedhive.data import parsed_cache

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(parsed_cache, "atomic_writer", refuse)
    formats.write_leaf(tmp_path, "femnist", formats.femnist_users, [5, 2])
    assert load("femnist", tmp_path).num_clients == 2
    err = capsys.readouterr().err
    assert "cannot write the parsed copy" in err and "Permission denied" in err and err.count("\n") == 1
