"""The benchmarks' models: LEAF's FEMNIST CNN and Shakespeare LSTM, the StackOverflow word
LSTM and the BatchNorm and GroupNorm ResNets; the LSTMs agree between the vectorized and sequential engines."""

import pytest
import torch
from torch import nn

from fedhive.config import ModelConfig, load_config
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine
from fedhive.errors import UserError
from fedhive.experiment import Experiment
from fedhive.models.losses import LOSSES
from fedhive.models.registry import build_model
from fedhive.models.sequence import LSTMLayer
from tests.data import formats


def test_femnist_cnn_has_leafs_shape():
    model = build_model(ModelConfig(name="femnist_cnn"), (1, 28, 28), seed=0, num_classes=62)
    # conv 5x5x1x32, conv 5x5x32x64, dense 3136x2048, output 2048x62, with biases
    assert model.num_params == 832 + 51_264 + 3136 * 2048 + 2048 + 2048 * 62 + 62
    assert model.apply(model.initial_params(), torch.zeros(3, 1, 28, 28)).shape == (3, 62)


def test_resnet_gn_outputs_logits_and_has_no_buffers():
    model = build_model(ModelConfig(name="resnet_gn", channels=[8, 16, 32]), (3, 32, 32), seed=0, num_classes=10)
    assert not list(model.module.buffers())
    assert model.apply(model.initial_params(), torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_resnet_is_resnet8_with_batch_norm_statistics():
    model = build_model(ModelConfig(name="resnet", channels=[4, 8, 16]), (1, 28, 28), seed=0, num_classes=10)
    layers = [m for m in model.module.modules() if isinstance(m, nn.Linear) or
              (isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))]  # 1x1 projections are not counted
    assert len(layers) == 8
    norms = [m for m in model.module.modules() if isinstance(m, nn.BatchNorm2d)]
    assert model.num_stats == 2 * sum(m.num_features for m in norms) == 2 * (4 + 2 * 4 + 3 * 8 + 3 * 16)
    assert model.apply(model.initial_params(), torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_resnet_needs_images():
    with pytest.raises(UserError, match="model.name: resnet needs image inputs"):
        build_model(ModelConfig(name="resnet"), (2,), seed=0, num_classes=2)


def test_lstm_layer_equals_torch_lstm():
    torch.manual_seed(0)
    layer, reference = LSTMLayer(5, 7), nn.LSTM(5, 7, batch_first=True)
    with torch.no_grad():
        reference.weight_ih_l0.copy_(layer.input.weight)
        reference.bias_ih_l0.copy_(layer.input.bias)
        reference.weight_hh_l0.copy_(layer.recurrent.weight)
        reference.bias_hh_l0.zero_()
    x = torch.randn(3, 11, 5)
    torch.testing.assert_close(layer(x), reference(x)[0], rtol=1e-5, atol=1e-6)


def test_char_and_word_lstm_output_shapes():
    char = build_model(ModelConfig(name="char_lstm"), (80,), seed=0, num_classes=80)
    assert char.apply(char.initial_params(), torch.zeros(2, 80, dtype=torch.int32)).shape == (2, 80)
    word = build_model(ModelConfig(name="word_lstm", embedding=4, lstm=[6], dense=5), (20,), seed=0, num_classes=30)
    assert word.loss is LOSSES["sequence_cross_entropy"]
    assert word.apply(word.initial_params(), torch.zeros(2, 20, dtype=torch.int32)).shape == (2, 20, 30)
    with pytest.raises(UserError, match="^model.name: char_lstm needs token sequences"):
        build_model(ModelConfig(name="char_lstm"), (1, 28, 28), seed=0, num_classes=62)
    with pytest.raises(UserError, match="^model.vocab_size: bag_of_words needs its input vocabulary"):
        build_model(ModelConfig(name="bag_of_words"), (25,), seed=0, num_classes=2)


def test_sequence_loss_leaves_out_padding():
    loss = LOSSES["sequence_cross_entropy"]
    logits = torch.zeros(2, 3, 4)
    logits[0, 0, 2] = logits[1, 0, 1] = 10.0
    y = torch.tensor([[2, 3, 0], [1, 0, 0]])
    assert loss.correct(logits, y).tolist() == [0.5, 1.0]
    uniform = torch.log(torch.tensor(4.0))
    first = torch.nn.functional.cross_entropy(logits[0, :2], y[0, :2], reduction="none").mean()
    torch.testing.assert_close(loss.per_sample(logits, y), torch.stack([first, torch.log1p(3 * torch.exp(torch.tensor(-10.0)))]))
    assert loss.per_sample(torch.zeros(1, 2, 4), torch.tensor([[3, 0]])).item() == pytest.approx(uniform.item())


CASES = {
    "char_lstm": ("shakespeare", lambda root: formats.write_leaf(root, "shakespeare", formats.shakespeare_users, [5, 9, 3]),
                  ["model.lstm=[12,12]"]),
    "word_lstm": ("stackoverflow", lambda root: formats.write_tff(root, "stackoverflow", [6, 3, 8]),
                  ["model.lstm=[12]", "model.embedding=6", "model.dense=6", "data.vocab_size=5"]),
}


@pytest.mark.parametrize("model", list(CASES))
def test_vectorized_engine_agrees_with_sequential(tmp_path, model):
    if model == "word_lstm":
        pytest.importorskip("h5py")
    data, write, overrides = CASES[model]
    write(tmp_path)
    config = load_config(None, [f"data.name={data}", f"data.root={tmp_path}", "data.batch_size=4",
                                f"model.name={model}", "algorithm=fedavg", "client.lr=0.5",
                                "cohort.min=3", "cohort.max=3", *overrides])
    exp = Experiment(config)
    update, ids = exp.algorithm.client_update, [2, 0, 1]
    expected = SequentialEngine(config.engine).run(update, exp.params, exp.dataset, 1, ids)
    got = VectorizedEngine(config.engine.model_copy(update={"name": "vectorized", "chunk_size": 2})).run(
        update, exp.params, exp.dataset, 1, ids)
    assert expected.updates.abs().sum() > 0
    torch.testing.assert_close(got.updates, expected.updates, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.metrics["loss"], expected.metrics["loss"], rtol=1e-5, atol=1e-6)
