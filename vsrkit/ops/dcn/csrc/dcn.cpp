// Python bindings and host-side orchestration of the fused modulated deformable convolution.
//
//   forward(x, offset, mask, weight, bias, sh, sw, ph, pw, dh, dw, groups, dg) -> out
//   backward(grad_out, x, offset, mask, weight, sh, sw, ph, pw, dh, dw, groups, dg, has_bias, deterministic)
//       -> [grad_x, grad_offset, grad_mask, grad_weight, grad_bias]
//
// Shapes follow torchvision.ops.deform_conv2d (see vsrkit/ops/dcn/functional.py). Inputs must be contiguous CUDA
// tensors of one dtype (float32, float16 or bfloat16); accumulation is fp32 everywhere. This file uses only ATen
// (no CUDA headers); device guards and launches live in the .cu files.
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dcn_launch.h"

namespace vsrkit_dcn {
namespace {

DcnShape make_shape(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& mask, const at::Tensor& weight,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups,
                    int64_t dg) {
#ifndef VSRKIT_DCN_EMULATION  // the CPU emulation of tests/ops/dcn_emu runs the kernels on CPU tensors
  TORCH_CHECK(x.is_cuda(), "dcn: tensors must be on a CUDA device");
#endif
  for (const at::Tensor* t : {&offset, &mask, &weight}) {
    TORCH_CHECK(t->device() == x.device(), "dcn: all tensors must be on ", x.device());
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "dcn: all tensors must have dtype ", x.scalar_type());
  }
  TORCH_CHECK(x.dim() == 4 && offset.dim() == 4 && mask.dim() == 4 && weight.dim() == 4, "dcn: 4-d tensors expected");
  TORCH_CHECK(groups >= 1 && dg >= 1 && sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1 && ph >= 0 && pw >= 0,
              "dcn: bad conv settings");
  DcnShape s;
  s.N = (int)x.size(0); s.Cin = (int)x.size(1); s.H = (int)x.size(2); s.W = (int)x.size(3);
  s.Cout = (int)weight.size(0); s.kh = (int)weight.size(2); s.kw = (int)weight.size(3);
  s.sh = (int)sh; s.sw = (int)sw; s.ph = (int)ph; s.pw = (int)pw; s.dh = (int)dh; s.dw = (int)dw;
  s.groups = (int)groups; s.dg = (int)dg;
  s.Ho = (s.H + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
  s.Wo = (s.W + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw + 1;
  s.K = s.kh * s.kw;
  TORCH_CHECK(s.Cin % s.groups == 0 && s.Cout % s.groups == 0 && weight.size(1) * s.groups == s.Cin,
              "dcn: weight ", weight.sizes(), " does not fit ", s.Cin, " input channels and groups=", s.groups);
  TORCH_CHECK(s.Cin % s.dg == 0, "dcn: input channels ", s.Cin, " not divisible by deformable groups ", s.dg);
  TORCH_CHECK(s.Ho > 0 && s.Wo > 0, "dcn: input too small for the kernel");
  s.Cin_g = s.Cin / s.groups; s.Cout_g = s.Cout / s.groups; s.cpg = s.Cin / s.dg;
  s.P = s.Ho * s.Wo;
  s.NP = (int64_t)s.N * s.P;
  TORCH_CHECK(offset.size(0) == s.N && offset.size(1) == 2 * s.dg * s.K && offset.size(2) == s.Ho &&
                  offset.size(3) == s.Wo, "dcn: offset must be (N, dg*2*kh*kw, Ho, Wo), got ", offset.sizes());
  TORCH_CHECK(mask.size(0) == s.N && mask.size(1) == s.dg * s.K && mask.size(2) == s.Ho && mask.size(3) == s.Wo,
              "dcn: mask must be (N, dg*kh*kw, Ho, Wo), got ", mask.sizes());
  TORCH_CHECK((int64_t)s.Cin * s.H * s.W < (int64_t)INT32_MAX, "dcn: one sample is too large");
  return s;
}

// (Cout, Cin_g, kh, kw) -> (Cout, K, Cin_g): the kernels read the reduction index (k, c) with c contiguous.
at::Tensor permute_weight(const at::Tensor& weight) { return weight.permute({0, 2, 3, 1}).contiguous(); }

at::Tensor forward(const at::Tensor& x_in, const at::Tensor& offset_in, const at::Tensor& mask_in,
                   const at::Tensor& weight, const at::Tensor& bias, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                   int64_t dh, int64_t dw, int64_t groups, int64_t dg) {
  const at::Tensor x = x_in.contiguous(), offset = offset_in.contiguous(), mask = mask_in.contiguous();
  const DcnShape s = make_shape(x, offset, mask, weight, sh, sw, ph, pw, dh, dw, groups, dg);
  at::Tensor bias_c;
  if (bias.defined() && bias.numel() > 0) {
    TORCH_CHECK(bias.numel() == s.Cout, "dcn: bias must have ", s.Cout, " elements");
    bias_c = bias.to(x.scalar_type()).contiguous();
  }
  at::Tensor out = at::empty({s.N, s.Cout, s.Ho, s.Wo}, x.options());
  launch_forward(x, offset, mask, permute_weight(weight), bias_c, out, s);
  return out;
}

// Power-of-two scale of the deterministic int64 fixed-point accumulation of grad x. Bound on the magnitude any
// single element can accumulate: every (k, output pixel) sample of a channel contributes at most
// |gcol| * |mask| (its four corner weights sum to <= 1), |gcol| <= max_c sum_co |W| * max |grad_out|, and at most
// K * P samples exist per (sample n, channel). The scale keeps that bound below 2^62, so no sum can overflow.
double fixed_point_scale(const at::Tensor& grad_out, const at::Tensor& mask, const at::Tensor& weight,
                         const DcnShape& s) {
  const double w_col = weight.abs().to(at::kFloat).sum(0).max().item<double>();
  const double gy_max = grad_out.abs().max().item<double>();
  const double m_max = mask.abs().max().item<double>();
  const double bound = (double)s.K * (double)s.P * w_col * gy_max * m_max;
  if (!(bound > 0.0) || !std::isfinite(bound)) return 1.0;
  int exponent = 0;
  std::frexp(bound, &exponent);  // bound < 2^exponent
  return std::ldexp(1.0, 62 - exponent);
}

std::vector<at::Tensor> backward(const at::Tensor& grad_out_in, const at::Tensor& x_in, const at::Tensor& offset_in,
                                 const at::Tensor& mask_in, const at::Tensor& weight, int64_t sh, int64_t sw,
                                 int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups, int64_t dg,
                                 bool has_bias, bool deterministic) {
  const at::Tensor x = x_in.contiguous(), offset = offset_in.contiguous(), mask = mask_in.contiguous();
  const at::Tensor grad_out = grad_out_in.to(x.scalar_type()).contiguous();
  const DcnShape s = make_shape(x, offset, mask, weight, sh, sw, ph, pw, dh, dw, groups, dg);
  TORCH_CHECK(grad_out.size(0) == s.N && grad_out.size(1) == s.Cout && grad_out.size(2) == s.Ho &&
                  grad_out.size(3) == s.Wo, "dcn: grad_out has shape ", grad_out.sizes());
  if (s.NP == 0) {  // empty batch: nothing flows back except zeros
    return {at::zeros_like(x), at::zeros_like(offset), at::zeros_like(mask), at::zeros_like(weight),
            has_bias ? at::zeros({s.Cout}, x.options()) : at::Tensor()};
  }
  const at::Tensor weight_t = permute_weight(weight);
  const auto f32 = x.options().dtype(at::kFloat);

  // grad x, grad offset, grad mask
  at::Tensor grad_offset = at::zeros_like(offset);
  at::Tensor grad_mask = at::zeros_like(mask);
  at::Tensor grad_x;
  if (deterministic) {
    const double scale = fixed_point_scale(grad_out, mask, weight, s);
    at::Tensor acc = at::zeros(x.sizes(), x.options().dtype(at::kLong));
    launch_backward_data(grad_out, x, offset, mask, weight_t, acc, scale, grad_offset, grad_mask, s, true);
    grad_x = (acc.to(at::kDouble) / scale).to(x.scalar_type());
  } else {
    at::Tensor acc = at::zeros(x.sizes(), f32);
    launch_backward_data(grad_out, x, offset, mask, weight_t, acc, 1.0, grad_offset, grad_mask, s, false);
    grad_x = x.scalar_type() == at::kFloat ? acc : acc.to(x.scalar_type());
  }

  // grad weight: split the N*P columns into slices so that the grid fills the GPU about 4 times over, then sum the
  // per-slice partial tiles in a fixed order.
  const int64_t kBK = 32;
  const int sms = device_sm_count(x);
  const int64_t tiles = (int64_t)s.groups * ((s.Cout_g + 63) / 64) * s.K * ((s.Cin_g + 63) / 64);
  const int64_t max_slices = std::max<int64_t>(1, (s.NP + kBK - 1) / kBK);
  int64_t slices = std::min<int64_t>({std::max<int64_t>(1, (4 * (int64_t)sms + tiles - 1) / tiles), max_slices,
                                      (int64_t)1024});
  int64_t slice_len = (s.NP + slices - 1) / slices;
  slice_len = (slice_len + kBK - 1) / kBK * kBK;
  slices = std::max<int64_t>(1, (s.NP + slice_len - 1) / slice_len);
  at::Tensor partial = at::empty({slices, s.Cout, s.K, s.Cin_g}, f32);
  launch_backward_weight(grad_out, x, offset, mask, partial, s, slice_len);
  at::Tensor grad_weight = partial.sum(0).view({s.Cout, s.kh, s.kw, s.Cin_g}).permute({0, 3, 1, 2}).contiguous()
                               .to(weight.scalar_type());

  at::Tensor grad_bias = has_bias ? grad_out.sum({0, 2, 3}, false, at::kFloat).to(x.scalar_type())
                                  : at::Tensor();
  return {grad_x, grad_offset, grad_mask, grad_weight, grad_bias};
}

}  // namespace
}  // namespace vsrkit_dcn

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "vsrkit fused modulated deformable convolution (implicit GEMM, fp32/fp16/bf16)";
  m.def("forward", &vsrkit_dcn::forward, "DCNv2 forward");
  m.def("backward", &vsrkit_dcn::backward, "DCNv2 backward: grads of x, offset, mask, weight, bias");
}
