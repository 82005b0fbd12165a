// Launchers of the backward kernels (described in dcn_backward_kernels.cuh).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "dcn_backward_kernels.cuh"
#include "dcn_dispatch.cuh"
#include "dcn_launch.h"

namespace vsrkit_dcn {

int device_sm_count(const at::Tensor& t) {
  int sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, t.device().index()));
  return sms;
}

void launch_backward_data(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                          const at::Tensor& mask, const at::Tensor& weight_t, at::Tensor& grad_x_acc, double scale,
                          at::Tensor& grad_offset, at::Tensor& grad_mask, const DcnShape& s, bool deterministic) {
  if (s.NP == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t tiles = (s.NP + kDataBN - 1) / kDataBN;
  TORCH_CHECK(tiles * s.K < (int64_t)INT32_MAX, "dcn backward: input too large (", tiles * s.K, " blocks)");
  const dim3 grid((unsigned)(tiles * s.K));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn backward", [&] {
    if (deterministic) {
      dcn_backward_data_kernel<scalar_t, true><<<grid, kThreads, 0, stream>>>(
          cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset), cptr<scalar_t>(mask),
          cptr<scalar_t>(weight_t), grad_x_acc.data_ptr(), scale, mptr<scalar_t>(grad_offset),
          mptr<scalar_t>(grad_mask), s);
    } else {
      dcn_backward_data_kernel<scalar_t, false><<<grid, kThreads, 0, stream>>>(
          cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset), cptr<scalar_t>(mask),
          cptr<scalar_t>(weight_t), grad_x_acc.data_ptr(), scale, mptr<scalar_t>(grad_offset),
          mptr<scalar_t>(grad_mask), s);
    }
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void launch_backward_weight(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                            const at::Tensor& mask, at::Tensor& partial, const DcnShape& s, int64_t slice_len) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int n_ctiles = (s.Cin_g + kWeightBN - 1) / kWeightBN;
  const int n_mtiles = (s.Cout_g + kBM - 1) / kBM;
  const int64_t slices = partial.size(0);
  const int64_t blocks = (int64_t)s.groups * n_mtiles * s.K * n_ctiles;
  TORCH_CHECK(blocks < (int64_t)INT32_MAX && slices <= 65535, "dcn backward: weight-gradient grid too large");
  const dim3 grid((unsigned)blocks, (unsigned)slices);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn backward (weight)", [&] {
    dcn_backward_weight_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(
        cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset), cptr<scalar_t>(mask),
        mptr<float>(partial), s, slice_len, n_ctiles, n_mtiles);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace vsrkit_dcn
