"""Every registered model, found through the registry rather than listed by hand."""

from __future__ import annotations

import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.models import create_model, get_entry, list_models, model_config_dict


@pytest.fixture(params=list_models())
def name(request) -> str:
    return request.param


def test_output_shape_finite_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.randn(4, 1, 28, 28)
    logits = model(x)
    assert logits.shape == (4, 10)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_state_dict_round_trip(name):
    torch.manual_seed(1)
    a = create_model(name).eval()
    torch.manual_seed(2)
    b = create_model(name).eval()
    x = torch.randn(3, 1, 28, 28)
    assert not torch.equal(a(x), b(x))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x))


def test_batch_of_one_and_channels_last(name):
    model = create_model(name).eval()
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        full = model(x)
        single = model(x[:1])
        cl = model.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(single, full[:1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cl, full, rtol=1e-4, atol=1e-5)


def test_recipe_defaults_are_complete(name):
    recipe = get_entry(name).recipe
    if recipe:  # a model without a recipe uses the engine's defaults
        assert {"optimizer", "lr", "batch_size", "epochs"} <= set(recipe)
    assert isinstance(model_config_dict(name), dict)


def test_unknown_model_lists_known_ones():
    with pytest.raises(MnistlabError, match="known models: .*lenet5"):
        create_model("resnet9000")


def test_unknown_option_is_named():
    with pytest.raises(MnistlabError, match="no option widthh"):
        create_model("cnn", widthh=3)


def test_tutorial_architectures_exactly():
    sizes = {
        n: sum(p.numel() for p in create_model(n).parameters()) for n in ("mlp", "cnn", "lenet5")
    }
    # mlp: 784*784+784 + 784*10+10; cnn: 1*10*25+10 + 7290*128+128 + 128*10+10;
    # lenet5: 156 + 2416 + 48120 + 10164 + 850
    assert sizes == {"mlp": 623290, "cnn": 934798, "lenet5": 61706}


def test_cpu_training_tanh_matches_torch_tanh():
    from mnistlab.models.layers import Tanh

    x = torch.linspace(-20, 20, 10_001, requires_grad=True)
    fast = Tanh()(x)
    fast.sum().backward()
    fast_grad, x.grad = x.grad.clone(), None
    torch.tanh(x).sum().backward()
    torch.testing.assert_close(fast, torch.tanh(x), atol=3e-7, rtol=0)
    torch.testing.assert_close(fast_grad, x.grad, atol=1e-6, rtol=0)
    assert torch.autograd.gradcheck(
        Tanh(), (torch.randn(8, dtype=torch.float64, requires_grad=True),)
    )
    with torch.no_grad():  # evaluation is torch.tanh itself
        assert torch.equal(Tanh()(x), torch.tanh(x))


def test_lenet5_conv3_as_matrix_product_matches_the_convolution():
    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.net(x), atol=1e-6, rtol=0)
