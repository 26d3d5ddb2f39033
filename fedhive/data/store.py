"""Save and load a FederatedDataset as one .pt or .npz file with a small JSON header.

The header names the dataset, says how it was built (partition config) and holds a
SHA-256 of the tensors, checked on load, so a reused partition is provably the same one.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedhive.data.federated import FederatedDataset, Packed
from fedhive.data.validate import check_packed, warn_empty_clients
from fedhive.errors import UserError
from fedhive.run_folder.files import atomic_write

FORMAT = "fedhive.FederatedDataset/1"


def _tensors(ds: FederatedDataset) -> dict[str, torch.Tensor]:
    out = {f"train_{k}": v for k, v in ds.train._asdict().items()}
    if ds.client_test is not None:
        out.update({f"client_test_{k}": v for k, v in ds.client_test._asdict().items()})
    if ds.separate_test:
        out["test_x"], out["test_y"] = ds.test_set(0)
    return out


def content_hash(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save(ds: FederatedDataset, path: str | Path) -> dict[str, Any]:
    """Write `ds` to `path` (.pt or .npz), atomically; returns the header written."""
    path = Path(path)
    tensors = _tensors(ds)
    header = {"format": FORMAT, "name": ds.name, "num_classes": ds.num_classes, "clients": ds.num_clients,
              "info": {k: v for k, v in ds.info.items() if k != "hash"}, "hash": content_hash(tensors)}
    buf = io.BytesIO()
    if path.suffix == ".npz":
        arrays = {k: v.numpy() for k, v in tensors.items()}
        # numpy's stub: a **dict of arrays might fill savez's bool `allow_pickle`, so it is refused
        np.savez(buf, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]
    elif path.suffix == ".pt":
        torch.save({"header": json.dumps(header), "tensors": tensors}, buf)
    else:
        raise UserError(f"{path}: a FederatedDataset is saved as .pt or .npz")
    atomic_write(path, buf.getvalue())
    return header


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The header and tensors of a saved file (hash checked)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data.path: {path} not found")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z.files:
                raise UserError(f"{path}: not a saved FederatedDataset (no header)")
            header = json.loads(str(z["header"]))
            tensors = {k: torch.from_numpy(z[k]) for k in z.files if k != "header"}
    else:
        blob = torch.load(path, weights_only=True)
        header, tensors = json.loads(blob["header"]), blob["tensors"]
    if header.get("format") != FORMAT:
        raise UserError(f"{path}: not a saved FederatedDataset (format {header.get('format')!r})")
    if content_hash(tensors) != header["hash"]:
        raise UserError(f"{path}: contents do not match the hash in its header (corrupt or edited)")
    return header, tensors


def is_saved_dataset(path: str | Path) -> bool:
    """Whether `path` is a file written by `save` (by suffix and, for .npz, a header entry)."""
    path = Path(path)
    if path.suffix == ".pt":
        return True
    if path.suffix == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return "header" in z.files
    return False


def check_saved(train: Packed, client_test: Packed | None, test: tuple[torch.Tensor, torch.Tensor] | None,
                num_classes: int, source: str) -> None:
    """The validation step for a saved dataset (the hash only says it is unchanged)."""
    check_packed(train, num_classes, source, "train")
    if client_test is not None:
        check_packed(client_test, num_classes, source, "client_test")
        if len(client_test.offsets) != len(train.offsets):
            raise UserError(f"{source}: client_test offsets name {len(client_test.offsets) - 1} clients, "
                            f"train {len(train.offsets) - 1}")
    if test is not None:
        n = len(test[0])
        check_packed(Packed(test[0], test[1], torch.tensor([0, n])), num_classes, source, "test")
        if test[0].shape[1:] != train.x.shape[1:]:
            raise UserError(f"{source}: test x has feature shape {tuple(test[0].shape[1:])}, "
                            f"train x has {tuple(train.x.shape[1:])}")
    warn_empty_clients(train.sizes.numpy(), source)


def load(path: str | Path, batch_size: int = 32, seed: int = 0) -> FederatedDataset:
    """A FederatedDataset written by `save`; `batch_size` and `seed` are run settings."""
    header, t = read(path)
    client_test = Packed(t["client_test_x"], t["client_test_y"], t["client_test_offsets"]) \
        if "client_test_x" in t else None
    test = (t["test_x"], t["test_y"]) if "test_x" in t else None
    train = Packed(t["train_x"], t["train_y"], t["train_offsets"])
    check_saved(train, client_test, test, header["num_classes"], str(path))
    return FederatedDataset(train, header["num_classes"], client_test, test, batch_size, seed,
                            header["name"], {**header["info"], "hash": header["hash"]})
