"""Synthetic federated datasets as the papers' own generators make them: FedProx's
`generate_synthetic.py` (Li et al. 2020) and LEAF's `data/synthetic/main.py` (Caldas et al. 2018).

Each returns x `[N, d]` float32, y `[N]` int64 and each sample's device `[N]`, from
generators keyed by the seed (and the device, for its own samples).
"""

from __future__ import annotations

import numpy as np

from fedhive import rng
from fedhive.config import SyntheticConfig

FEDPROX_CLASSES = 10
LEAF_CLASSES = 5
LEAF_MIN_SAMPLES, LEAF_MAX_SAMPLES = 5, 1000  # get_num_samples' defaults in LEAF's main.py


def feature_std(d: int) -> np.ndarray:
    """sqrt of Sigma_jj = j^-1.2, the features' covariance in both generators."""
    return np.arange(1, d + 1) ** -0.6


def fedprox_synthetic(config: SyntheticConfig, devices: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic(alpha, beta) of Li et al. 2020 (FedProx, Section 5.1), as FedProx's
    `data/synthetic_*/generate_synthetic.py` and `synthetic_iid/generate_iid.py` make it.

    Device k draws u_k ~ N(0, alpha) and B_k ~ N(0, beta) (alpha, beta are standard
    deviations, as in the code); its model W_k ~ N(u_k, 1) `[d, c]`, b_k ~ N(u_k, 1) `[c]`;
    its feature mean v_k ~ N(B_k, 1) `[d]`; its samples x ~ N(v_k, diag(j^-1.2)) and
    y = argmax softmax(x W_k + b_k). With `iid`, one W, b ~ N(0, 1) is shared and v = 0.
    Sizes floor(LogNormal(4, 2)) + 50; defaults d = 60, c = 10. The reference splits each
    device 90/10 with the train share floored: `client_test_fraction: 0.1`.
    """
    d, c = config.features, config.classes or FEDPROX_CLASSES
    g = rng.numpy_generator(seed, purpose="synthetic")
    sizes = g.lognormal(4, 2, devices).astype(np.int64) + 50
    u, shift = g.normal(0, config.alpha, devices), g.normal(0, config.beta, devices)
    shared_w, shared_b = g.normal(0, 1, (d, c)), g.normal(0, 1, c)
    std = feature_std(d)
    xs, ys = [], []
    for k in range(devices):  # a loop over devices; each device's samples are one draw
        gk = rng.numpy_generator(seed, client=k, purpose="synthetic")
        w, b = (shared_w, shared_b) if config.iid else (gk.normal(u[k], 1, (d, c)), gk.normal(u[k], 1, c))
        mean = np.zeros(d) if config.iid else gk.normal(shift[k], 1, d)
        x = mean + gk.standard_normal((sizes[k], d)) * std
        xs.append(x.astype(np.float32))
        ys.append(np.argmax(x @ w + b, axis=1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.repeat(np.arange(devices), sizes)


def leaf_sizes(devices: int, seed: int) -> np.ndarray:
    """Samples per device in LEAF's generator: min(floor(LogNormal(3, 2)) + 5, 1000)."""
    draw = rng.numpy_generator(seed, purpose="leaf-synthetic-sizes").lognormal(3, 2, devices)
    return np.minimum(draw.astype(np.int64) + LEAF_MIN_SAMPLES, LEAF_MAX_SAMPLES)


def leaf_labels(z: np.ndarray) -> np.ndarray:
    """LEAF's labels from one device's logits `[n, c]`: argmax_j exp(z_ij) / sum_i' exp(z_i'j),
    its softmax normalizing each class over the samples; computed in the log domain, which
    gives the same labels without overflow."""
    z_max = z.max(axis=0)
    return np.argmax(z - (z_max + np.log(np.exp(z - z_max).sum(axis=0))), axis=1)


def leaf_synthetic(config: SyntheticConfig, devices: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LEAF's synthetic dataset (`data/synthetic/main.py` and `data_generator.py`).

    With S = len(cluster_probs) clusters: Q ~ N(0, 1) `[d + 1, c, S]`; cluster m has mean
    mu_m ~ N(l_m, 1) `[S]`, l_m ~ N(0, 1). Device k picks cluster m with probability
    cluster_probs[m], draws B ~ N(0, 1), its feature mean v ~ N(B, 1) `[d]`, its samples
    x ~ N(v, diag(j^-1.2)), its model w = Q m_k `[d + 1, c]` (bias row first) with
    m_k ~ N(mu_m, 0.1^2), and labels from z = [1, x] w + N(0, 0.1^2) noise. LEAF's softmax
    normalizes over the device's samples (numpy's built-in `sum` runs along axis 0), so
    y_i = argmax_j (z_ij - log sum_i' exp z_i'j) (`leaf_labels`). Sizes
    min(floor(LogNormal(3, 2)) + 5, 1000); LEAF's settings: 1000 devices, d = 60, c = 5,
    one cluster. LEAF's split_data.py trains on max(1, floor(tf·n)) of a device's n samples,
    tf = 1 - client_test_fraction; so does fedhive for both generators.
    """
    d, c = config.features, config.classes or LEAF_CLASSES
    probs = np.asarray(config.cluster_probs, dtype=np.float64)
    s = len(probs)
    g = rng.numpy_generator(seed, purpose="leaf-synthetic")
    q = g.normal(0, 1, (d + 1, c, s))
    cluster_means = g.normal(g.normal(0, 1, (s, 1)), 1, (s, s))
    clusters = g.choice(s, size=devices, p=probs / probs.sum())
    sizes = leaf_sizes(devices, seed)
    std = feature_std(d)
    xs, ys = [], []
    for k in range(devices):
        gk = rng.numpy_generator(seed, client=k, purpose="leaf-synthetic")
        x = gk.normal(gk.normal(0, 1), 1, d) + gk.standard_normal((sizes[k], d)) * std
        w = q @ gk.normal(cluster_means[clusters[k]], 0.1)
        z = x @ w[1:] + w[0] + gk.normal(0, 0.1, (sizes[k], c))
        xs.append(x.astype(np.float32))
        ys.append(leaf_labels(z))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.repeat(np.arange(devices), sizes)
