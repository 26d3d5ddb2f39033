"""Models by name: output shapes, parameter counts, vmap over a cohort, custom classes."""

import pytest
import torch
from torch.func import vmap

from fedhive.config import MODELS, ModelConfig, load_config
from fedhive.errors import UserError
from fedhive.models.registry import _MODELS, build_model


def model(name, shape, k=10, **kw):
    return build_model(ModelConfig(name=name, **kw), shape, seed=0, num_classes=k)


def test_registry_matches_config_names():
    assert set(_MODELS) == set(MODELS)


@pytest.mark.parametrize("name, shape, params", [
    ("logistic", (1, 8, 8), 64 * 10 + 10),
    ("mlp", (60,), 60 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10),
    # McMahan CNN on 28x28: 5x5x32 conv, 5x5x32x64 conv, 7*7*64 -> 512, 512 -> 10 (1,663,370 weights)
    ("cnn", (1, 28, 28), 832 + 51264 + 3136 * 512 + 512 + 5130),
    # NIID-Bench's simple CNN on 28x28: 5x5x6 conv, 5x5x6x16 conv (valid), 16*4*4 -> 120 -> 84 -> 10 (44,426)
    ("simple_cnn", (1, 28, 28), 156 + 2416 + 256 * 120 + 120 + 120 * 84 + 84 + 850),
    ("simple_cnn", (3, 32, 32), 456 + 2416 + 400 * 120 + 120 + 120 * 84 + 84 + 850),  # CIFAR-10: 16*5*5 features
])
def test_standard_models_shapes_and_sizes(name, shape, params):
    m = model(name, shape)
    assert m.num_params == params
    out = m.apply(m.initial_params(), torch.zeros(5, *shape))
    assert out.shape == (5, 10)


def test_cnn_scales_to_small_and_channel_free_images():
    m = model("cnn", (8, 8), channels=[4, 8], dense=16)
    assert m.apply(m.initial_params(), torch.zeros(3, 8, 8)).shape == (3, 10)
    with pytest.raises(UserError, match="cnn needs image inputs"):
        model("cnn", (60,))
    with pytest.raises(UserError, match="model.channels"):
        model("cnn", (1, 4, 4), channels=[2, 2, 2])


def test_simple_cnn_takes_channel_free_images_and_refuses_small_ones():
    m = model("simple_cnn", (28, 28))
    assert m.num_params == model("simple_cnn", (1, 28, 28)).num_params
    assert m.apply(m.initial_params(), torch.zeros(2, 28, 28)).shape == (2, 10)
    with pytest.raises(UserError, match="simple_cnn needs images of at least 16x16"):
        model("simple_cnn", (1, 8, 8))


@pytest.mark.parametrize("name, shape", [("logistic", (60,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_models_run_under_vmap_over_a_cohort(name, shape):
    m = model(name, shape, hidden=[16], channels=[4, 8], dense=16)
    params = m.initial_params() + 0.01 * torch.randn(3, m.num_params)
    x = torch.randn(3, 4, *shape)
    batched = vmap(m.apply)(params, x)
    for k in range(3):
        torch.testing.assert_close(batched[k], m.apply(params[k], x[k]))


def test_initial_weights_are_keyed_by_seed():
    a = build_model(ModelConfig(name="mlp"), (5,), seed=1, num_classes=3).initial_params()
    b = build_model(ModelConfig(name="mlp"), (5,), seed=1, num_classes=3).initial_params()
    c = build_model(ModelConfig(name="mlp"), (5,), seed=2, num_classes=3).initial_params()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_reference_model_unchanged_and_int_input_shape():
    m = build_model(ModelConfig(), 2, seed=0)
    assert m.num_params == 3 and m.apply(m.initial_params(), torch.zeros(4, 2)).shape == (4,)
    with pytest.raises(UserError, match="bce needs 2 classes"):
        build_model(ModelConfig(), (2,), seed=0, num_classes=10)


def test_custom_module_class_path():
    m = model("tests.models.custom_net:TinyNet", (6,), k=3, kwargs={"width": 5})
    assert m.num_params == 6 * 5 + 5 + 5 * 3 + 3
    with pytest.raises(UserError, match="cannot import"):
        model("tests.models.custom_net:Nope", (6,))
    with pytest.raises(UserError, match="model.kwargs"):
        model("tests.models.custom_net:TinyNet", (6,), kwargs={"depth": 2})


def test_model_config_errors_name_the_field():
    with pytest.raises(UserError, match="model.name: unknown model 'resnet50'"):
        load_config(None, ["model.name=resnet50"])
    with pytest.raises(UserError, match="model.hidden"):
        load_config(None, ["model.hidden=[0]"])
