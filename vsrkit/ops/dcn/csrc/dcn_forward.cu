// Launcher of the fused modulated deformable convolution forward (kernel and tiling: dcn_forward_kernel.cuh).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "dcn_dispatch.cuh"
#include "dcn_forward_kernel.cuh"
#include "dcn_launch.h"

namespace vsrkit_dcn {

void launch_forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& mask,
                    const at::Tensor& weight_t, const at::Tensor& bias, at::Tensor& out, const DcnShape& s) {
  if (s.NP == 0 || s.Cout == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  const dim3 grid((unsigned)((s.NP + kFwdBN - 1) / kFwdBN), (unsigned)((s.Cout_g + kBM - 1) / kBM),
                  (unsigned)s.groups);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn forward", [&] {
    dcn_forward_kernel<scalar_t, kFwdBN><<<grid, kThreads, 0, stream>>>(
        cptr<scalar_t>(x), cptr<scalar_t>(offset), cptr<scalar_t>(mask), cptr<scalar_t>(weight_t),
        cptr<scalar_t>(bias), mptr<scalar_t>(out), s);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace vsrkit_dcn
