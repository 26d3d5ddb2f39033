"""Malformed configs and overrides: each one is exit status 2 and one line naming the culprit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedhive.cli import main

REPO = Path(__file__).resolve().parents[2]
GARBAGE = bytes(range(256)) * 4

# One row per bad input: (config file contents or None, overrides, text the error must contain).
# `{dir}` in an override is the test's working folder. Add a case by adding a line.
CASES = [
    # the file itself
    ("", [], "config file is empty"),
    ("  \n# only a comment\n", [], "config file is empty"),
    ("- a\n- b\n", [], "must be a mapping"),
    ("42\n", [], "must be a mapping"),
    ("just a sentence\n", [], "must be a mapping"),
    (GARBAGE, [], "not valid YAML"),
    (b"\x00\x01\x02rounds: 3\n", [], "not valid YAML"),
    ("rounds: [1, 2\n", [], "not valid YAML"),
    ("data:\n\tclients: 3\n", [], "not valid YAML"),
    ("rounds: 5\n  seed: 3\n", [], "not valid YAML"),
    # keys and sections
    ("epochs: 3\n", [], "epochs: unknown key"),
    ("data:\n  foo: 1\n", [], "data.foo: unknown key"),
    ("data: 5\n", [], "data: Input should be a valid dictionary"),
    ("server: [1, 2]\n", [], "server.0: Input should be a valid dictionary"),
    ("cohort: null\n", [], "cohort: Input should be a valid dictionary"),
    ("1: 2\n", [], "1: Keys should be strings"),
    ("checkpoint: {every: often}\n", [], "checkpoint.every"),
    # top-level values
    ("rounds: -5\n", [], "rounds: Input should be greater than or equal to 1"),
    ("rounds: 0\n", [], "rounds:"),
    ("rounds: abc\n", [], "rounds: Input should be a valid integer"),
    ("rounds: 1.5\n", [], "rounds: Input should be a valid integer"),
    ("rounds: true\n", [], "rounds: Input should be a number, not a boolean"),
    ("rounds: .inf\n", [], "rounds:"),
    ("rounds: 1000000000000000000000000000000\n", [], "rounds: Input should fit in a 64-bit integer"),
    ("rounds: [1, 2]\n", [], "rounds:"),
    ("rounds: {a: 1}\n", [], "rounds:"),
    ("seed: x\n", [], "seed:"),
    ("seed: 1.5\n", [], "seed:"),
    ("eval_every: 0\n", [], "eval_every:"),
    ("name: a/b\n", [], "name: must be a plain folder name"),
    ("name: '..'\n", [], "name: must be a plain folder name"),
    ("name: ''\n", [], "name: must be a plain folder name"),
    ("name: [1]\n", [], "name: Input should be a valid string"),
    ("device: banana\n", [], "device: must be cpu, cuda"),
    # data, model, cohort
    ("data: {clients: 0}\n", [], "data.clients:"),
    ("data: {clients: -1}\n", [], "data.clients:"),
    ("data: {batch_size: 0}\n", [], "data.batch_size:"),
    ("data: {batches: {min: 0, max: 3}}\n", [], "data.batches.min:"),
    ("data: {batches: {min: 5, max: 2}}\n", [], "data.batches: min (5) must be <= max (2)"),
    ("data: {batches: 3}\n", [], "data.batches:"),
    ("data: {test_size: 0}\n", [], "data.test_size:"),
    ("data: {name: mnist}\n", [], "data.name:"),
    ("model: {name: resnet50}\n", [], "model.name:"),
    ("cohort: {min: 0}\n", [], "cohort.min:"),
    ("cohort: {min: 10, max: 5}\n", [], "cohort: min (10) must be <= max (5)"),
    ("data: {clients: 10}\n", [], "cohort.max (29) is larger than data.clients (10)"),
    # client, server, engine, checkpoint, faults
    ("client: {name: adam}\n", [], "client.name: the client update comes with the algorithm"),
    ("client: {lr: 0}\n", [], "client.lr:"),
    ("client: {lr: -0.1}\n", [], "client.lr:"),
    ("client: {lr: .nan}\n", [], "client.lr:"),
    ("client: {epochs: 0}\n", [], "client.epochs:"),
    ("server: {aggregate: mode}\n", [], "server.aggregate:"),
    ("server: {optimizer: rmsprop}\n", [], "server.optimizer:"),
    ("server: {lr: .inf}\n", [], "server.lr: Input should be a finite number"),
    ("server: {b1: 1.0}\n", [], "server.b1:"),
    ("server: {b2: -0.1}\n", [], "server.b2:"),
    ("server: {eps: 0}\n", [], "server.eps:"),
    ("server: {lr: true}\n", [], "server.lr: Input should be a number, not a boolean"),
    ("engine: {name: turbo}\n", [], "engine.name:"),
    ("engine: {fail_fast: 3}\n", [], "engine.fail_fast:"),
    ("engine: {name: vectorized, chunk_size: 0}\n", [], "engine.chunk_size:"),
    ("engine: {chunk_size: true}\n", [], "engine.chunk_size: Input should be a number, not a boolean"),
    ("engine: {max_memory_mb: -1}\n", [], "engine.max_memory_mb:"),
    ("checkpoint: {every: -1}\n", [], "checkpoint.every:"),
    ("checkpoint: {keep: 0}\n", [], "checkpoint.keep:"),
    ("faults: {max_empty_rounds: 0}\n", [], "faults.max_empty_rounds:"),
    # overrides
    (None, ["rounds=abc"], "rounds: Input should be a valid integer"),
    (None, ["rounds=1", "nokey"], "override 'nokey': expected key=value"),
    (None, ["rounds=5", "=5"], "override '=5'"),
    (None, ["data..clients=5"], "override 'data..clients=5'"),
    (None, ["rounds=20", "rounds.x=1"], "override 'rounds.x=1'"),
    (None, ["data=5"], "data: Input should be a valid dictionary"),
    (None, ["cohort.max=5000"], "cohort.max (5000) is larger than data.clients"),
    (None, ["server.lr="], "server.lr:"),
    (None, ["unknown.deep.key=1"], "unknown: unknown key"),
    (None, ["data.clients=[1, 2]"], "data.clients:"),
    (None, ["seed={a: 1}"], "seed:"),
    (None, ["cohort.min=30"], "cohort: min (30) must be <= max (29)"),
    (None, ["server.aggregate=krum", "server.f=9"], "krum with f=9 needs cohort.min > 2f + 2 = 20"),
    (None, ["algorithm=fedmagic"], "algorithm.name: unknown algorithm"),
    (None, ["attack.name=sign_flip", "attack.fraction=1.5"], "attack.fraction:"),
    ("rounds: 5\n", ["data.batches.max=x"], "data.batches.max:"),
    # found only when the experiment is built or its folder made
    (None, ["device=cuda:99", "rounds=1"], "device: cuda:99 is not available"),
    (None, ["output_dir={dir}/afile", "rounds=1"], "output_dir: cannot create the run folder"),
    (None, ["config_that_does_not_exist.yaml"], "config file not found"),
]


def _ids() -> list[str]:
    return [f"{i:02d}-{expected.split(':')[0][:30]}" for i, (_, _, expected) in enumerate(CASES)]


def test_the_table_has_enough_distinct_cases():
    assert len({(str(y), tuple(o)) for y, o, _ in CASES}) == len(CASES) >= 50


@pytest.mark.parametrize(("contents", "overrides", "expected"), CASES, ids=_ids())
def test_bad_input_is_one_line_and_exit_2(contents, overrides, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    args = [o.replace("{dir}", str(tmp_path)) for o in overrides]
    if contents is not None:
        path = tmp_path / "bad.yaml"
        path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
        args = [str(path), *args]

    code = main(["run", "-q", *args])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("fedhive: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("contents", "expected"), [(GARBAGE, "not valid YAML"), ("data: {bogus: 1}\n", "data.bogus")])
def test_a_real_process_prints_no_traceback(contents, expected, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "fedhive", "run", str(path)], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr
    assert "Traceback" not in proc.stderr
