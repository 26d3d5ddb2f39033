"""Checkpoint files (atomic, checksummed, pruned, fallback) and the experiment's state."""

from __future__ import annotations

import pytest
import torch

from fedhive.config import CheckpointConfig, load_config
from fedhive.errors import FedhiveWarning, UserError
from fedhive.experiment import Experiment
from fedhive.run_folder.checkpoint import (
    MAGIC,
    Checkpointer,
    CorruptCheckpoint,
    changed_fields,
    config_hash,
    decode,
    encode,
    list_checkpoints,
    load_latest,
    save_checkpoint,
)
from fedhive.server.optim import AdamState

SMALL = ["data.clients=50", "data.batch_size=50", "data.batches.min=2", "data.batches.max=3",
         "cohort.min=3", "cohort.max=5", "data.test_size=100"]


def tiny_config(*overrides: str):
    return load_config(None, [*SMALL, *overrides])


def test_encode_decode_round_trip_is_exact():
    payload = {"params": torch.tensor([0.1, -2.5, 3e-8]), "count": torch.tensor(7), "rows": [{"loss": 0.25, "acc": None}]}
    back = decode(encode(payload))
    assert torch.equal(back["params"], payload["params"]) and back["params"].dtype == torch.float32
    assert back["count"].item() == 7 and back["rows"] == payload["rows"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "checksum mismatch"),
        (lambda b: b[:10], "no checkpoint header"),
        (lambda b: b"", "no checkpoint header"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
        (lambda b: b"XXXXXXX\n" + b[len(MAGIC):], "no checkpoint header"),
    ],
)
def test_damaged_bytes_are_detected(damage, reason):
    blob = encode({"params": torch.arange(100.0)})
    with pytest.raises(CorruptCheckpoint, match=reason):
        decode(damage(blob))


def test_save_is_atomic_and_keeps_the_newest(tmp_path):
    for r in (2, 4, 6, 8):
        save_checkpoint(tmp_path, r, {"round": r}, keep=2)
    assert [r for r, _ in list_checkpoints(tmp_path)] == [6, 8]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["round-000006.ckpt", "round-000008.ckpt"]  # no temp left


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    for r in (3, 6):
        save_checkpoint(tmp_path, r, {"round": r}, keep=3)
    newest = tmp_path / "round-000006.ckpt"
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(FedhiveWarning, match=r"round-000006.ckpt is unreadable: checksum mismatch.*previous"):
        state, path = load_latest(tmp_path)
    assert state == {"round": 3} and path.name == "round-000003.ckpt"


def test_no_readable_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / "round-000001.ckpt").write_bytes(b"garbage")
    with pytest.warns(FedhiveWarning), pytest.raises(UserError, match="none of the 1 checkpoints is readable"):
        load_latest(tmp_path)
    assert load_latest(tmp_path / "missing") is None


def test_checkpointer_schedule():
    c = Checkpointer(None, CheckpointConfig(every=5))
    assert [r for r in range(1, 13) if c.due(r, last_round=12)] == [5, 10, 12]
    only_end = Checkpointer(None, CheckpointConfig(every=0))
    assert [r for r in range(1, 13) if only_end.due(r, last_round=12)] == [12]


def test_config_hash_ignores_only_result_neutral_fields():
    base = tiny_config()
    neutral = tiny_config("rounds=7", "name=x", "output_dir=elsewhere", "checkpoint.every=1", "engine.fail_fast=true",
                           "faults.max_empty_rounds=2")
    assert config_hash(base) == config_hash(neutral)
    changed = tiny_config("seed=4", "server.lr=0.5")
    assert config_hash(base) != config_hash(changed)
    assert changed_fields(base, changed) == ["seed (0 -> 4)", "server.1.lr (1.0 -> 0.5)"]


def test_state_dict_round_trip_restores_every_part(tmp_path):
    config = tiny_config("algorithm=fedavg", "server.optimizer=adam")
    a = Experiment(config)
    for _ in range(3):
        a.history.append(a.step())
    a.client_states.states = {4: {"c": torch.tensor([1.0, 2.0])}}  # as a stateful algorithm would hold
    save_checkpoint(tmp_path, a.round, a.state_dict(), keep=1)
    b = Experiment(config)
    b.load_state_dict(load_latest(tmp_path)[0])
    assert b.round == 3 and b.history == a.history and torch.equal(b.params, a.params)
    assert isinstance(b.server_state["adam"], AdamState)
    for x, y in zip(b.server_state["adam"], a.server_state["adam"]):
        assert torch.equal(x, y)
    assert torch.equal(b.client_states.states[4]["c"], torch.tensor([1.0, 2.0]))


def test_a_checkpoint_of_another_server_chain_is_refused():
    state = Experiment(tiny_config()).state_dict()
    with pytest.raises(UserError, match="server state does not fit the configured server chain"):
        Experiment(tiny_config("server.optimizer=sgd")).load_state_dict(state)


def test_keyed_rng_needs_no_stream_state():
    """Round r's draws (cohort, client data, test set) are functions of (seed, r, client):
    an experiment restored at round 2, after the global RNG was disturbed and after other
    rounds were drawn out of order, continues exactly as the uninterrupted one."""
    config = tiny_config()
    a = Experiment(config)
    rows_a = [a.step() for _ in range(4)]
    b = Experiment(config)
    b.step(), b.step()
    state = b.state_dict()
    assert not any(isinstance(v, torch.Generator) for v in state.values())

    torch.manual_seed(12345)
    torch.rand(1000)
    c = Experiment(config)
    c.sampler(9), c.dataset.cohort_batches(7, [1, 2, 3]), c.dataset.test_set(3)  # draws out of order
    c.load_state_dict(state)
    rows_c = [c.step(), c.step()]

    strip = lambda rows: [{k: v for k, v in r.items() if k != "round_s"} for r in rows]  # noqa: E731
    assert strip(rows_c) == strip(rows_a[2:])
    assert torch.equal(c.params, a.params)
    assert torch.equal(c.sampler(3), a.sampler(3))
    assert torch.equal(c.dataset.cohort_batches(3, [5]).x, b.dataset.cohort_batches(3, [5]).x)
