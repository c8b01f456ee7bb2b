"""The covered layers: Linear, Conv2d, BatchNorm1d/2d, Embedding, Dropout, ReLU, Flatten, as
test/test_nn.py, test/nn/test_convolution.py, test/nn/test_embedding.py and
test/nn/test_dropout.py check them."""
from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F


# mirrors common_nn.py module_tests "Linear" and "Linear_no_bias" (run by test_nn.py)
@pytest.mark.parametrize("bias", [True, False])
def test_Linear(nn, bias):
    torch.manual_seed(0)
    m = nn.Linear(10, 8, bias=bias)
    x = torch.randn(4, 10, requires_grad=True)
    out = m(x)
    assert out.shape == (4, 8)
    assert torch.equal(out, F.linear(x, m.weight, m.bias))
    out.sum().backward()
    assert m.weight.grad.shape == (8, 10) and x.grad.shape == (4, 10)
    assert (m.bias is None) is (not bias)
    assert repr(m) == f"Linear(in_features=10, out_features=8, bias={bias})"


# mirrors test_nn.py::TestNN::test_Conv2d_naive_groups
def test_Conv2d_naive_groups(nn):
    torch.manual_seed(0)
    m = nn.Conv2d(4, 4, kernel_size=3, groups=2)
    assert m.weight.shape == (4, 2, 3, 3)
    i = torch.randn(2, 4, 6, 6, requires_grad=True)
    output = m(i)
    grad_output = torch.randn(2, 4, 4, 4)
    output.backward(grad_output)
    halves = []
    for part in (slice(0, 2), slice(2, 4)):
        half = nn.Conv2d(2, 2, kernel_size=3)
        half.weight.data.copy_(m.weight.data[part])
        half.bias.data.copy_(m.bias.data[part])
        x = i.detach()[:, part].contiguous().requires_grad_()
        out = half(x)
        out.backward(grad_output[:, part].contiguous())
        halves.append((out, x.grad, half.weight.grad, half.bias.grad))
    outs, igrads, wgrads, bgrads = zip(*halves)
    torch.testing.assert_close(output, torch.cat(outs, 1))
    torch.testing.assert_close(i.grad, torch.cat(igrads, 1))
    torch.testing.assert_close(m.weight.grad, torch.cat(wgrads, 0))
    torch.testing.assert_close(m.bias.grad, torch.cat(bgrads, 0))


# mirrors test_convolution.py::TestConvolutionNN::test_Conv2d_groups_nobias
def test_Conv2d_groups_nobias(nn):
    torch.manual_seed(0)
    m = nn.Conv2d(4, 4, kernel_size=3, groups=2, bias=False)
    assert m.bias is None and "bias" in m._parameters
    i = torch.randn(2, 4, 6, 6)
    halves = []
    for part in (slice(0, 2), slice(2, 4)):
        half = nn.Conv2d(2, 2, kernel_size=3, bias=False)
        half.weight.data.copy_(m.weight.data[part])
        halves.append(half(i[:, part].contiguous()))
    torch.testing.assert_close(m(i), torch.cat(halves, 1))


# mirrors test_convolution.py::TestConvolutionNN::test_conv_invalid_groups
@pytest.mark.parametrize("groups", [0, -1])
def test_Conv2d_groups_must_be_positive(nn, groups):
    with pytest.raises(ValueError, match="^groups must be a positive integer$"):
        nn.Conv2d(1, 1, kernel_size=3, dilation=2, stride=2, groups=groups)


# _ConvNd.__init__'s other group checks (conv.py), kept by the grouped-conv tests
def test_Conv2d_channels_must_divide_by_groups(nn):
    with pytest.raises(ValueError, match="^in_channels must be divisible by groups$"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="^out_channels must be divisible by groups$"):
        nn.Conv2d(4, 3, 3, groups=2)


# mirrors test_convolution.py::TestConvolutionNN::test_conv2d_module_same_padding
# (torch's convolution warns once per process about even kernels with 'same'; not under test here)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_Conv2d_padding_same(nn):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 9, 20)
    module = nn.Conv2d(1, 1, kernel_size=(5, 10), padding="same")
    expect = F.conv2d(x, module.weight, module.bias, padding="same")
    assert torch.equal(module(x), expect) and expect.shape == x.shape
    module = nn.Conv2d(1, 1, kernel_size=(3, 4), padding="same", dilation=(1, 2))
    expect = F.conv2d(x, module.weight, module.bias, padding="same", dilation=(1, 2))
    assert torch.equal(module(x), expect)
    module = nn.Conv2d(1, 1, kernel_size=(3, 4), padding="same", padding_mode="reflect")
    expect = F.conv2d(F.pad(x, [1, 2, 1, 1], mode="reflect"), module.weight, module.bias, padding="valid")
    torch.testing.assert_close(module(x), expect)
    assert module(x).shape == x.shape
    with pytest.raises(ValueError, match="Invalid padding string 'foo', should be one of"):
        nn.Conv2d(3, 33, kernel_size=10, padding="foo")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 33, kernel_size=10, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 33, kernel_size=10, padding="same", stride=(1, 3))


# mirrors test_convolution.py::TestConvolutionNN::test_conv2d_module_valid_padding
def test_Conv2d_padding_valid(nn):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 1, 10)
    module = nn.Conv2d(1, 1, kernel_size=(1, 2), padding="valid")
    assert torch.equal(module(x), F.conv2d(x, module.weight, module.bias))
    assert "padding=valid" in repr(module)


# mirrors test_convolution.py::TestConvolutionNN::test_conv_padding_mode
def test_Conv2d_padding_mode(nn):
    for bad in ("xyz", 3):
        with pytest.raises(ValueError, match="padding_mode must be one of"):
            nn.Conv2d(3, 3, 3, padding_mode=bad)
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 6)
    for mode in ("reflect", "replicate", "circular"):
        module = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
        expect = F.conv2d(F.pad(x, [2, 2, 1, 1], mode=mode), module.weight, module.bias)
        torch.testing.assert_close(module(x), expect)
        assert repr(module).endswith(f"padding=(1, 2), padding_mode={mode})")
    zeros = nn.Conv2d(2, 3, 3, padding=1)
    assert zeros.padding_mode == "zeros" and "padding_mode" not in repr(zeros)


# mirrors test_convolution.py::TestConvolutionNN::test_invalid_conv2d (a kernel larger than the
# padded input is refused by the convolution itself)
def test_Conv2d_kernel_larger_than_input(nn):
    module = nn.Conv2d(1, 1, kernel_size=3, dilation=2, stride=2)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        module(torch.empty(1, 1, 4, 4))


# mirrors test_convolution.py::TestConvolutionNN::test_conv_modules_raise_error_on_incorrect_input_size
def test_Conv2d_wrong_input_rank(nn):
    module = nn.Conv2d(3, 8, 3)
    for shape in ((2, 3, 4, 4, 4), (3,)):
        with pytest.raises(RuntimeError):
            module(torch.empty(shape))


def _simple_average(nn, bn):
    torch.manual_seed(0)
    module = bn(3, momentum=None)
    zeros, ones = torch.zeros(3), torch.ones(3)
    data1 = torch.rand(4, 3) if bn is nn.BatchNorm1d else torch.rand(4, 3, 2, 2)
    data2 = torch.rand_like(data1)
    res1 = module(data1)
    mean1, var1 = module.running_mean.clone(), module.running_var.clone()
    assert not torch.equal(mean1, zeros) and not torch.equal(var1, ones)
    module.reset_running_stats()
    assert torch.equal(module.running_mean, zeros) and torch.equal(module.running_var, ones)
    assert module.num_batches_tracked.item() == 0
    res2 = module(data2)
    mean2, var2 = module.running_mean.clone(), module.running_var.clone()
    module.reset_running_stats()
    res3, res4 = module(data1), module(data2)
    assert torch.equal(res3, res1) and torch.equal(res4, res2)
    torch.testing.assert_close(module.running_mean, (mean1 + mean2) / 2)
    torch.testing.assert_close(module.running_var, (var1 + var2) / 2)
    assert module.num_batches_tracked.item() == 2


# mirrors test_nn.py::TestNNDeviceType::test_batchnorm_simple_average
@pytest.mark.parametrize("bn", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_simple_average(nn, bn):
    _simple_average(nn, getattr(nn, bn))


# mirrors test_nn.py::TestNNDeviceType::test_batchnorm_update_stats
def test_batchnorm_update_stats(nn):
    torch.manual_seed(0)
    module = nn.BatchNorm1d(3)
    data = torch.rand(4, 3)
    old_mean, old_var = module.running_mean.clone(), module.running_var.clone()
    module(data)
    assert not torch.equal(module.running_mean, old_mean) and not torch.equal(module.running_var, old_var)
    torch.testing.assert_close(module.running_mean, 0.9 * old_mean + 0.1 * data.mean(0))
    torch.testing.assert_close(module.running_var, 0.9 * old_var + 0.1 * data.var(0, unbiased=True))
    assert module.num_batches_tracked.item() == 1
    module.eval()
    mean, var = module.running_mean.clone(), module.running_var.clone()
    module(data)
    assert torch.equal(module.running_mean, mean) and torch.equal(module.running_var, var)
    assert module.num_batches_tracked.item() == 1


# mirrors test_nn.py::TestNN::test_batchnorm_buffer_update_when_stats_are_not_tracked
def test_batchnorm_buffers_stay_when_tracking_is_turned_off(nn):
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(10)
    bn.track_running_stats = False
    mean, var, count = bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()
    bn(torch.rand(4, 10))
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert torch.equal(bn.num_batches_tracked, count)


# BatchNorm without running statistics (track_running_stats=False at construction)
def test_batchnorm_without_running_stats(nn):
    bn = nn.BatchNorm2d(3, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = torch.randn(2, 3, 4, 4)
    bn.eval()  # still normalises with the batch's own statistics
    torch.testing.assert_close(bn(x), F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps))


# mirrors test_nn.py::TestNN::test_batchnorm_eval
def test_batchnorm_eval_is_deterministic(nn):
    torch.manual_seed(0)
    module = nn.BatchNorm1d(3).eval()
    data = torch.rand(4, 3, requires_grad=True)
    grad = torch.rand(4, 3)
    res1 = module(data)
    res1.backward(grad)
    grad1 = data.grad.clone()
    data.grad.zero_()
    res2 = module(data)
    res2.backward(grad)
    assert torch.equal(res1, res2) and torch.equal(grad1, data.grad)


# mirrors test_nn.py::TestNN::test_batchnorm_load_state_dict
def test_batchnorm_load_state_dict(nn):
    bn = nn.BatchNorm2d(3)
    assert bn.state_dict()["num_batches_tracked"].item() == 0
    bn.num_batches_tracked = torch.tensor(10)
    assert bn.state_dict()["num_batches_tracked"].item() == 10
    bn.load_state_dict(OrderedDict(), strict=False)
    assert bn.state_dict()["num_batches_tracked"].item() == 10
    with torch.device("meta"):
        meta_bn = nn.BatchNorm2d(3)
    assert meta_bn.num_batches_tracked.is_meta
    meta_bn.load_state_dict(OrderedDict(), assign=True, strict=False)
    assert not meta_bn.num_batches_tracked.is_meta
    assert torch.equal(meta_bn.state_dict()["num_batches_tracked"], torch.tensor(0))


# _BatchNorm._check_input_dim (batchnorm.py): each class refuses inputs of the wrong rank
def test_batchnorm_checks_the_input_rank(nn):
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        nn.BatchNorm1d(3)(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="expected 4D input \\(got 2D input\\)"):
        nn.BatchNorm2d(3)(torch.rand(2, 3))
    assert nn.BatchNorm1d(3)(torch.rand(2, 3, 5)).shape == (2, 3, 5)


# mirrors test_nn.py::TestNN::test_batchnorm_raises_error_if_less_than_one_value_per_channel
def test_batchnorm_needs_more_than_one_value_per_channel(nn):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(10)(torch.randn(1, 10))


# mirrors test_embedding.py::TestEmbeddingNNDeviceType::test_embedding_padding_idx
def test_embedding_padding_idx(nn):
    torch.manual_seed(0)
    embedding = nn.Embedding(10, 20, padding_idx=0)
    output = embedding(torch.tensor([[0, 2, 4, 5], [4, 3, 0, 9]]))
    assert output[0][0].sum() == 0 and output[1][2].sum() == 0
    assert output[0][1].abs().sum() > 0
    embedding = nn.Embedding(10, 20, padding_idx=-2)  # counted from the end: row 8
    assert embedding.padding_idx == 8
    output = embedding(torch.tensor([[0, 2, 8, 5], [4, 8, 0, 9]]))
    assert output[0][2].sum() == 0 and output[1][1].sum() == 0
    for bad in (25, -25, 10, -11):
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            nn.Embedding(num_embeddings=10, embedding_dim=20, padding_idx=bad)
    assert nn.Embedding(10, 20, padding_idx=-10).padding_idx == 0


# mirrors test_embedding.py::TestEmbeddingNNDeviceType::test_embedding_padding_idx (its gradient part)
def test_embedding_padding_row_gets_no_gradient(nn):
    torch.manual_seed(0)
    embedding = nn.Embedding(10, 20, padding_idx=2)
    with torch.no_grad():
        embedding.weight[2] = torch.ones(20)
    out = embedding(torch.tensor([[0, 2, 4, 5], [4, 3, 2, 9]]))
    out.sum().backward()
    assert torch.equal(embedding.weight.grad[2], torch.zeros(20))
    assert embedding.weight.grad[4].sum() == 2 * 20
    assert repr(embedding) == "Embedding(10, 20, padding_idx=2)"


@pytest.mark.out_of_scope("Embedding options other than padding_idx")
# mirrors test_embedding.py::TestEmbeddingNN::test_embedding_from_pretrained
def test_embedding_from_pretrained(nn):
    weight = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    embedding = nn.Embedding.from_pretrained(weight)
    assert torch.equal(embedding(torch.LongTensor([0, 1])), weight)


@pytest.mark.out_of_scope("Embedding options other than padding_idx")
# mirrors test_embedding.py::TestEmbeddingNNDeviceType::test_embedding_max_norm
def test_embedding_max_norm(nn):
    embedding = nn.Embedding(22, 5, max_norm=1.0)
    output = embedding(torch.tensor([2, 8, 8, 6]))
    assert torch.equal(output[1], output[2])
    assert output.norm(p=2, dim=1).le(1 + 1e-6).all()


# mirrors test_dropout.py::TestDropoutNN::test_invalid_dropout_p
def test_dropout_p_must_be_a_probability(nn):
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            nn.Dropout(p)


# mirrors test_dropout.py::TestDropoutNN::test_Dropout (_test_dropout), seeded
@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_keeps_the_mean(nn, inplace):
    torch.manual_seed(0)
    p = 0.2
    x = torch.full((1000,), 1 - p)
    module = nn.Dropout(p, inplace)
    source = x.clone().requires_grad_()
    out = module(source + 0 if inplace else source)
    assert abs(out.mean().item() - (1 - p)) < 0.05
    dropped = out == 0
    assert 0 < dropped.sum().item() < 1000
    assert torch.allclose(out[~dropped], torch.full_like(out[~dropped], 1.0))  # scaled by 1/(1-p)
    out.backward(x)
    assert abs(source.grad.mean().item() - (1 - p)) < 0.05
    assert repr(module) == f"Dropout(p={p}, inplace={inplace})"


# Dropout in eval mode is the identity (F.dropout with training=False; used by test_dropout.py)
def test_dropout_in_eval_mode_is_the_identity(nn):
    x = torch.randn(50)
    module = nn.Dropout(0.9).eval()
    assert torch.equal(module(x), x)


# mirrors test_nn.py::TestNN::test_inplace_thnn (ReLU(inplace=True))
def test_relu_inplace(nn):
    r = nn.ReLU(True)
    x = torch.randn(5, 5, requires_grad=True)
    y = x + 0
    out = r(y)
    assert out.data_ptr() == y.data_ptr() and (out >= 0).all()
    grad_output = torch.randn(5, 5)
    grad_output_clone = grad_output.clone()
    out.backward(grad_output)
    assert torch.equal(grad_output, grad_output_clone)
    assert torch.equal(x.grad, grad_output * (x > 0))
    assert repr(r) == "ReLU(inplace=True)" and repr(nn.ReLU()) == "ReLU()"


# mirrors common_nn.py module_tests "Flatten" (run by test_nn.py)
def test_flatten(nn):
    x = torch.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


# every covered layer survives a deep copy with its values (test_nn.py::TestNN::test_container_copy)
@pytest.mark.parametrize("make", ["Linear", "Conv2d", "BatchNorm2d", "Embedding"])
def test_layer_deepcopy(nn, make):
    build = {"Linear": lambda: nn.Linear(3, 2), "Conv2d": lambda: nn.Conv2d(2, 2, 3, padding="same"),
             "BatchNorm2d": lambda: nn.BatchNorm2d(2), "Embedding": lambda: nn.Embedding(4, 3, padding_idx=1)}
    module = build[make]()
    twin = copy.deepcopy(module)
    assert repr(twin) == repr(module)
    for (k1, v1), (k2, v2) in zip(module.state_dict().items(), twin.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2) and v1.data_ptr() != v2.data_ptr()
