"""The fused BatchNorm+SiLU kernel trains as PyTorch's modules do, and steps aside where it must."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from yolox_ros.model import build_model
from yolox_ros.model.blocks import BN_EPS, BN_MOMENTUM, BaseConv
from yolox_ros.training.kernels import build
from yolox_ros.training.kernels.build import KernelBuildError
from yolox_ros.training.kernels.fused_bn_silu import (
    batchnorm_silu,
    fuse_batchnorm_silu,
    load_kernel,
)
from yolox_ros.training.loss import yolox_loss


@pytest.fixture(scope="module", autouse=True)
def _kernel():
    try:
        load_kernel()
    except KernelBuildError as exc:
        pytest.skip(f"the fused kernel cannot be built here: {exc}")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


def _batchnorm(channels: int, dtype: torch.dtype = torch.float32) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM).to(dtype)
    generator = torch.Generator().manual_seed(channels)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
        bn.bias.copy_(torch.randn(channels, generator=generator))
        bn.running_mean.copy_(torch.randn(channels, generator=generator))
        bn.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
    return bn.train()


def _run(function, x: torch.Tensor, bn: nn.BatchNorm2d, grad: torch.Tensor):
    """Output, input/weight/bias gradients and the running statistics after one step."""
    x = x.detach().clone().requires_grad_()
    y = function(x, bn)
    y.backward(grad)
    results = (y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var)
    return [r.detach().double() for r in results]


def _eager(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return F.silu(bn(x))


# Channel counts that are and are not multiples of the vector width; row counts
# (N * H * W) that are and are not multiples of the kernel's row blocks; activations
# of the size of nano's and far outside the exponential's range (|x| > 87).
@pytest.mark.parametrize(
    ("shape", "magnitude"),
    [((2, 3, 5, 7), 1.0), ((4, 16, 8, 8), 3.0), ((3, 24, 13, 11), 1.0), ((2, 33, 9, 9), 100.0)],
)
def test_matches_pytorch_in_float64(threads, shape, magnitude):
    generator = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=generator) * magnitude + 0.5
    grad = torch.randn(shape, generator=generator)
    channels_last = torch.channels_last
    bn = _batchnorm(shape[1])

    fused = _run(
        batchnorm_silu,
        x.contiguous(memory_format=channels_last),
        copy.deepcopy(bn),
        grad.contiguous(memory_format=channels_last),
    )
    reference = _run(_eager, x.double(), copy.deepcopy(bn).double(), grad.double())
    pytorch_float32 = _run(_eager, x, copy.deepcopy(bn), grad)

    names = ("output", "input grad", "weight grad", "bias grad", "running mean", "running var")
    for name, ours, exact, theirs in zip(names, fused, reference, pytorch_float32, strict=True):
        scale = exact.abs().max().item() + 1e-12
        ours_error = (ours - exact).abs().max().item() / scale
        theirs_error = (theirs - exact).abs().max().item() / scale
        # As close to float64 as PyTorch's own float32 result, or within float32 rounding.
        assert ours_error <= max(4 * theirs_error, 2e-6), (name, ours_error, theirs_error)


def test_updates_the_batch_count_and_returns_channels_last():
    bn = _batchnorm(8)
    x = torch.randn(2, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    y = batchnorm_silu(x, bn)
    batchnorm_silu(x, bn)
    assert bn.num_batches_tracked.item() == 2
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_gradient_of_any_layout_is_accepted():
    """An upstream op may hand back an NCHW gradient for a channels_last output."""
    x = torch.randn(2, 5, 6, 6)
    grad = torch.randn(2, 5, 6, 6)  # NCHW
    fused = _run(
        batchnorm_silu, x.contiguous(memory_format=torch.channels_last), _batchnorm(5), grad
    )
    eager = _run(_eager, x, _batchnorm(5), grad)
    assert torch.allclose(fused[1], eager[1], atol=1e-5)


def test_same_result_every_time(threads):
    x = torch.randn(4, 16, 20, 20).contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    first, second = (_run(batchnorm_silu, x, _batchnorm(16), grad) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    "case",
    ["eval mode", "NCHW input", "bfloat16 input", "one value per channel", "no running stats"],
)
def test_steps_aside_where_it_does_not_apply(case):
    """Outside float32 channels_last training with running statistics: PyTorch's modules."""
    bn = _batchnorm(4)
    x = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    if case == "eval mode":
        bn.eval()
    elif case == "NCHW input":
        x = x.contiguous()
    elif case == "bfloat16 input":
        bn, x = bn.to(torch.bfloat16), x.to(torch.bfloat16)
    elif case == "one value per channel":
        x = torch.randn(1, 4, 1, 1)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            batchnorm_silu(x, bn)
        return
    else:
        bn = nn.BatchNorm2d(4, track_running_stats=False)
    expected = _eager(x, copy.deepcopy(bn))
    assert torch.equal(batchnorm_silu(x, bn), expected)


def test_a_training_step_of_the_model_matches_pytorch():
    torch.manual_seed(0)
    eager = build_model("nano", 3).to(memory_format=torch.channels_last).train()
    fused = copy.deepcopy(eager)
    assert fuse_batchnorm_silu(fused) == sum(isinstance(m, BaseConv) for m in fused.modules())
    exact = copy.deepcopy(eager).double()
    images = torch.rand(2, 3, 96, 96).contiguous(memory_format=torch.channels_last) * 255
    targets = torch.tensor([[[0, 40.0, 40, 30, 20], [2, 70, 60, 16, 30]]] * 2)

    losses, gradients = [], []
    for model in (eager, fused, exact):
        outputs = model(images.to(next(model.parameters()).dtype))
        terms = yolox_loss(outputs, targets, model.head.strides, use_l1=False)
        terms.total.backward()
        losses.append(terms.total.item())
        gradients.append([p.grad.double() for p in model.parameters()])
    assert losses[1] == pytest.approx(losses[2], rel=1e-5)

    def worst_error(grads: list[torch.Tensor]) -> float:
        return max(
            ((g - e).norm() / e.norm()).item()
            for g, e in zip(grads, gradients[2], strict=True)
            if e.norm() > 0
        )

    # Every parameter's gradient as close to float64 as PyTorch's float32 step gets.
    assert worst_error(gradients[1]) <= 2 * worst_error(gradients[0])
    for name, buffer in exact.state_dict().items():
        assert torch.allclose(fused.state_dict()[name].to(buffer.dtype), buffer, atol=1e-5), name

    # Evaluation never goes through the kernel: with the same weights, PyTorch's outputs.
    fused.load_state_dict(eager.state_dict())
    eager.eval(), fused.eval()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(eager(images), fused(images), strict=True))


def test_without_a_compiler_it_says_so(monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc")
    load_kernel.cache_clear()
    try:
        with pytest.raises(KernelBuildError, match="no C compiler 'no-such-cc' found"):
            fuse_batchnorm_silu(build_model("nano", 1))
    finally:
        load_kernel.cache_clear()


def test_a_compiler_error_is_reported(monkeypatch):
    monkeypatch.setattr(build, "COMPILE_FLAGS", ("--no-such-flag",))
    load_kernel.cache_clear()
    try:
        with pytest.raises(KernelBuildError, match="failed: .*no-such-flag"):
            load_kernel()
    finally:
        load_kernel.cache_clear()
