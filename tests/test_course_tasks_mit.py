"""MIT 6.5940 lab 1-2 functions, translated line by line from torch to NumPy, against the course's tasks.

The issue's promise: a learner brings their lab function unchanged. These translations keep
the labs' logic (including their known slips) so the test shows which tasks accept the lab's
code as it is, and that the others name the lab's slip exactly.
"""

import numpy as np
import pytest

from minicompress.course import check_function, get_task


# ------------------------------------------------------------------ lab 1 (pruning)
def fine_grained_prune(tensor, sparsity):
    sparsity = min(max(0.0, sparsity), 1.0)
    if sparsity == 1.0:
        tensor[...] = 0
        return np.zeros_like(tensor)
    elif sparsity == 0.0:
        return np.ones_like(tensor)
    num_elements = tensor.size
    num_zeros = round(num_elements * sparsity)
    if num_zeros == 0:  # torch.kthvalue(k=0) raises; a lab that ran had k >= 1
        return np.ones_like(tensor)
    importance = np.abs(tensor)
    threshold = np.sort(importance.reshape(-1))[num_zeros - 1]  # kthvalue
    mask = importance > threshold
    tensor *= mask
    return mask


def get_num_channels_to_keep(channels, prune_ratio):
    return int(round(channels * (1 - prune_ratio)))


def get_input_channel_importance(weight):
    importances = []
    for i_c in range(weight.shape[1]):
        importances.append(np.linalg.norm(weight[:, i_c]).reshape(1))  # torch.norm: Frobenius
    return np.concatenate(importances)


# ------------------------------------------------------------------ lab 2 (quantization, k-means)
def get_quantized_range(bitwidth):
    quantized_max = (1 << (bitwidth - 1)) - 1
    quantized_min = -(1 << (bitwidth - 1))
    return quantized_min, quantized_max


def linear_quantize(fp_tensor, bitwidth, scale, zero_point, dtype=np.int8):
    rounded_tensor = np.rint(fp_tensor / scale).astype(np.int64)
    rounded_tensor = ((rounded_tensor + 128) % 256 - 128).astype(dtype)  # .to(torch.int8) wraps
    shifted_tensor = rounded_tensor + np.int8(zero_point)  # int8 + int8 stays int8 (wraps)
    quantized_min, quantized_max = get_quantized_range(bitwidth)
    return np.clip(shifted_tensor, quantized_min, quantized_max)


def get_quantization_scale_for_weight(weight, bitwidth):
    fp_max = max(float(np.abs(weight).max()), 5e-7)
    _, quantized_max = get_quantized_range(bitwidth)
    return fp_max / quantized_max


def linear_quantize_bias_per_output_channel(bias, weight_scale, input_scale):
    weight_scale = weight_scale.reshape(-1)
    bias_scale = weight_scale * input_scale
    q = np.clip(np.rint(bias / bias_scale), -(2**31), 2**31 - 1).astype(np.int32)  # linear_quantize(.., 32, ..)
    return q, bias_scale, 0


def shift_quantized_linear_bias(quantized_bias, quantized_weight, input_zero_point):
    return quantized_bias - quantized_weight.sum(1).astype(np.int32) * input_zero_point


def quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth,  # noqa: A002
                     input_zero_point, output_zero_point, input_scale, weight_scale, output_scale):
    output = input.astype(np.int32) @ weight.astype(np.int32).T  # F.linear on int32
    if bias is not None:
        output = output + bias
    output = output.astype(np.float32) * (input_scale * weight_scale.astype(np.float32) / output_scale
                                          ).reshape(1, -1).astype(np.float32)
    output = output + output_zero_point
    return np.clip(np.rint(output), *get_quantized_range(feature_bitwidth)).astype(np.int8)


def quantized_conv2d(input, weight, bias, feature_bitwidth, weight_bitwidth,  # noqa: A002
                     input_zero_point, output_zero_point, input_scale, weight_scale, output_scale,
                     stride, padding, dilation, groups):
    assert len(padding) == 4 and groups == 1 and tuple(dilation) == (1, 1)
    left, right, top, bottom = padding  # torch.nn.functional.pad order
    x = np.pad(input.astype(np.int32), ((0, 0), (0, 0), (top, bottom), (left, right)),
               constant_values=input_zero_point)
    co, _, kh, kw = weight.shape
    sh, sw = stride
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    output = np.zeros((x.shape[0], co, oh, ow), dtype=np.int32)  # F.conv2d on int32
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            output[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight.astype(np.int32))
    if bias is not None:  # the lab's code adds bias.view(1, -1, 1, 1) unconditionally; its layers always have one
        output = output + bias.reshape(1, -1, 1, 1)
    output = output.astype(np.float32) * (input_scale * weight_scale.astype(np.float32) / output_scale
                                          ).reshape(1, -1, 1, 1).astype(np.float32)
    output = output + output_zero_point
    return np.clip(np.rint(output), *get_quantized_range(feature_bitwidth)).astype(np.int8)


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max):  # noqa: A002
    """PyTorch's kernel formula (not a lab's): the zero point is added before rounding."""
    inv_scale = 1.0 / scale
    return (np.clip(np.rint(input * inv_scale + zero_point), quant_min, quant_max) - zero_point) * scale


def update_codebook(fp32_tensor, codebook):
    n_clusters = codebook.centroids.size
    fp32_tensor = fp32_tensor.reshape(-1)
    for k in range(n_clusters):
        with np.errstate(all="ignore"):
            codebook.centroids[k] = fp32_tensor[codebook.labels == k].mean()  # NaN for an empty cluster


PASSES = [("pruning.fine_grained_prune", fine_grained_prune),
          ("pruning.get_num_channels_to_keep", get_num_channels_to_keep),
          ("pruning.get_input_channel_importance", get_input_channel_importance),
          ("quantization.get_quantized_range", get_quantized_range),
          ("quantization.linear_quantize_bias_per_output_channel", linear_quantize_bias_per_output_channel),
          ("quantization.shift_quantized_linear_bias", shift_quantized_linear_bias),
          ("quantization.quantized_linear", quantized_linear),
          ("quantization.quantized_conv2d", quantized_conv2d),
          ("quantization.fake_quantize", fake_quantize_per_tensor_affine)]

NAMED_SLIPS = [("quantization.linear_quantize", linear_quantize, "int8_before_zero_point"),
               ("quantization.get_quantization_scale_for_weight", get_quantization_scale_for_weight, "tiny_floor"),
               ("deep_compression.update_codebook", update_codebook, "nan_for_empty")]


def _marked(rows):
    return [pytest.param(*row, id=row[0], marks=getattr(pytest.mark, row[0].split(".")[0])) for row in rows]


@pytest.mark.parametrize("task_id, fn", _marked(PASSES))
def test_the_lab_function_passes_unchanged(task_id, fn):
    result = check_function(get_task(task_id), fn, max_examples=100)
    assert result.status == "pass", result.detail


@pytest.mark.parametrize("task_id, fn, variant", _marked(NAMED_SLIPS))
def test_the_labs_slip_is_named(task_id, fn, variant):
    result = check_function(get_task(task_id), fn, max_examples=200)
    assert result.status == "fail" and result.variant == variant, result.detail

