// Maps an ATen dtype to the CUDA scalar type the kernels are instantiated for.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#ifdef VSRKIT_DCN_EMULATION
#include "cuda_emulation.h"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

#define VSRKIT_DCN_DISPATCH(DTYPE, NAME, ...)                                                     \
  [&] {                                                                                           \
    switch (DTYPE) {                                                                              \
      case at::kFloat: { using scalar_t = float; return __VA_ARGS__(); }                          \
      case at::kHalf: { using scalar_t = __half; return __VA_ARGS__(); }                          \
      case at::kBFloat16: { using scalar_t = __nv_bfloat16; return __VA_ARGS__(); }               \
      default: TORCH_CHECK(false, NAME ": unsupported dtype ", DTYPE, " (use float32, float16 or bfloat16)"); \
    }                                                                                             \
  }()

namespace vsrkit_dcn {
template <typename T>
inline const T* cptr(const at::Tensor& t) {
  return t.defined() && t.numel() ? reinterpret_cast<const T*>(t.data_ptr()) : nullptr;
}
template <typename T>
inline T* mptr(at::Tensor& t) { return reinterpret_cast<T*>(t.data_ptr()); }
}  // namespace vsrkit_dcn
