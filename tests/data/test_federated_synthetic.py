"""FedProx's and LEAF's synthetic generators: their size laws, priors, label rules and
train/test splits as in the reference files, and LEAF's published statistics."""

import numpy as np
import pytest
import torch

from fedhive.config import SyntheticConfig, load_config
from fedhive.data import build_dataset
from fedhive.data.federated_synthetic import fedprox_synthetic, leaf_labels, leaf_sizes, leaf_synthetic
from fedhive.errors import UserError


def build(*overrides):
    config = load_config(None, ["cohort.min=2", "cohort.max=2", "data.partition.name=natural", *overrides])
    return build_dataset(config.data, config.seed)


def device_sizes(ds) -> np.ndarray:
    return (ds.client_sizes + ds.client_test.sizes).numpy()


def test_fedprox_devices_are_natural_clients():
    over = ["data.name=fedprox_synthetic", "data.clients=30", "data.synthetic.alpha=0.5", "data.synthetic.beta=0.5"]
    ds = build(*over)
    assert ds.num_clients == 30 and ds.input_shape == (60,) and ds.num_classes == 10
    assert device_sizes(ds).min() >= 50  # floor(LogNormal(4, 2)) + 50
    assert ds.name == "synthetic(0.5,0.5)"
    assert torch.equal(ds.train.x, build(*over).train.x)


def test_synthetic_is_the_fedprox_generator_by_its_former_name():
    a = build("data.name=synthetic", "data.clients=12")
    b = build("data.name=fedprox_synthetic", "data.clients=12")
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.client_test.y, b.client_test.y)


def test_fedprox_heterogeneity_grows_with_alpha_beta():
    def mean_classes(*o):
        ds = build("data.name=fedprox_synthetic", "data.clients=40", *o)
        return (ds.label_counts() > 0).sum(1).double().mean().item()

    assert mean_classes("data.synthetic.iid=true") > mean_classes("data.synthetic.alpha=1", "data.synthetic.beta=1") + 1


def test_fedprox_split_is_the_reference_ninety_ten():
    ds = build("data.name=fedprox_synthetic", "data.clients=30", "data.client_test_fraction=0.1")
    n = device_sizes(ds)
    # generate_synthetic.py: train_len = int(0.9 * num_samples), the rest is the test split
    assert ds.client_sizes.tolist() == [int(0.9 * k) for k in n]
    assert ds.client_test.sizes.tolist() == [k - int(0.9 * k) for k in n]
    assert any(k - int(0.9 * k) != int(0.1 * k) for k in n)  # differs from flooring the test share


def test_fedprox_features_follow_the_priors():
    d = 8
    x, _, devices = fedprox_synthetic(SyntheticConfig(alpha=0, beta=3, features=d), 300, seed=0)
    means = np.stack([x[devices == k].mean(0) for k in range(300)])
    # v_k ~ N(B_k, 1), B_k ~ N(0, beta): each feature's device means have variance beta^2 + 1
    assert np.allclose(means.var(0), 10, rtol=0.2)
    centred = x - means[devices]
    assert np.allclose(centred.var(0), np.arange(1, d + 1) ** -1.2, rtol=0.05)  # diag(j^-1.2)
    corr = np.corrcoef(centred.T)
    assert np.abs(corr - np.eye(d)).max() < 0.05


def test_leaf_sizes_match_leafs_published_statistics():
    # LEAF's published statistics (its seed): 1000 devices, 107,553 samples, mean 107.55, std 213.22.
    per_seed = [leaf_sizes(1000, seed) for seed in range(5)]
    sizes = np.concatenate(per_seed)
    assert sizes.min() >= 5 and sizes.max() == 1000
    assert 95 <= sizes.mean() <= 120
    assert 0.02 <= (sizes == 1000).mean() <= 0.03
    assert all(170 <= s.std() <= 240 for s in per_seed)


def test_leaf_dataset_shapes_classes_and_sizes():
    ds = build("data.name=leaf_synthetic", "data.clients=200", "data.client_test_fraction=0.4")
    assert ds.name == "leaf_synthetic" and ds.num_clients == 200
    assert ds.input_shape == (60,) and ds.num_classes == 5
    n = device_sizes(ds)
    assert n.tolist() == leaf_sizes(200, 0).tolist()
    assert ds.client_sizes.tolist() == [max(1, int(0.6 * k)) for k in n]  # split_data.py with tf 0.6
    assert torch.bincount(ds.train.y, minlength=5).min() > 0


def test_leaf_labels_are_leafs_softmax_over_samples():
    z = np.random.default_rng(0).normal(0, 3, (40, 5))
    reference = np.argmax(np.exp(z) / sum(np.exp(z)), axis=1)  # data_generator.py's _softmax, then argmax
    assert leaf_labels(z).tolist() == reference.tolist()
    assert (leaf_labels(z) != z.argmax(1)).any()
    assert leaf_labels(z + 1000.0).tolist() == reference.tolist()  # no overflow where exp would give inf


def test_leaf_clusters_and_their_validation():
    cfg = SyntheticConfig(cluster_probs=[0.5, 0.5], features=10)
    x, y, devices = leaf_synthetic(cfg, 50, seed=1)
    assert x.shape == (len(y), 10) and np.bincount(devices).tolist() == leaf_sizes(50, 1).tolist()
    with pytest.raises(UserError, match="data.synthetic.cluster_probs"):
        load_config(None, ["data.name=leaf_synthetic", "data.synthetic.cluster_probs=[0.5, 0.4]"])
