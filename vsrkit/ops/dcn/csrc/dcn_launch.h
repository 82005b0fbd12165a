// Kernel launchers implemented in dcn_forward.cu / dcn_backward.cu, called from dcn.cpp.
// All tensors are contiguous, on the same CUDA device and (except accumulators) of one dtype: fp32, fp16 or bf16.
#pragma once

#include <ATen/ATen.h>

#include "dcn_shape.h"

namespace vsrkit_dcn {

// out (N, Cout, Ho, Wo) = DCNv2(x, offset, mask, weight_t) (+ bias when defined). weight_t is (Cout, K, Cin_g).
void launch_forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& mask,
                    const at::Tensor& weight_t, const at::Tensor& bias, at::Tensor& out, const DcnShape& s);

// Gradients of x, offset and mask. grad_x_acc is fp32 (float atomics) or, when deterministic, int64 fixed point
// with `scale` units per 1.0 (integer addition is associative, so the result does not depend on thread order).
// grad_offset / grad_mask are written without atomics (each element by exactly one thread).
void launch_backward_data(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                          const at::Tensor& mask, const at::Tensor& weight_t, at::Tensor& grad_x_acc, double scale,
                          at::Tensor& grad_offset, at::Tensor& grad_mask, const DcnShape& s, bool deterministic);

// Per-slice partial weight gradients partial (S, Cout, K, Cin_g) fp32: slice i reduces columns
// [i * slice_len, (i + 1) * slice_len); the host sums the slices in a fixed order (no atomics).
void launch_backward_weight(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                            const at::Tensor& mask, at::Tensor& partial, const DcnShape& s, int64_t slice_len);

// Number of streaming multiprocessors of the device holding t (sizes the weight-gradient split).
int device_sm_count(const at::Tensor& t);

}  // namespace vsrkit_dcn
