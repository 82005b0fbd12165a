// CPU emulation of the launchers of vsrkit/ops/dcn/csrc (same grids and kernels as dcn_forward.cu /
// dcn_backward.cu), linked with the real host code dcn.cpp into a CPU-only test module. Built with
// -DVSRKIT_DCN_EMULATION by tests/ops/test_ops_dcn_emulation.py.
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "cuda_emulation.h"
#include "dcn_backward_kernels.cuh"
#include "dcn_dispatch.cuh"
#include "dcn_forward_kernel.cuh"
#include "dcn_launch.h"

namespace vsrkit_dcn {
namespace {

// Runs body() as grid.x*grid.y*grid.z blocks of kThreads threads, one block after the other.
template <class Body>
void run_grid(dim3 grid, Body body) {
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        std::barrier<> barrier(kThreads);
        g_emu_barrier = &barrier;
        std::exception_ptr error;
        std::mutex error_lock;
        std::vector<std::thread> threads;
        threads.reserve(kThreads);
        for (int t = 0; t < kThreads; ++t)
          threads.emplace_back([&, t] {
            threadIdx = dim3((unsigned)t);
            blockIdx = dim3(x, y, z);
            try {
              body();
            } catch (...) {
              {
                std::lock_guard<std::mutex> lock(error_lock);
                if (!error) error = std::current_exception();
              }
              barrier.arrive_and_drop();
            }
          });
        for (auto& th : threads) th.join();
        g_emu_barrier = nullptr;
        if (error) std::rethrow_exception(error);
      }
}

}  // namespace

int device_sm_count(const at::Tensor&) {
  const char* env = std::getenv("VSRKIT_EMU_SMS");
  return env ? std::atoi(env) : 16;
}

void launch_forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& mask,
                    const at::Tensor& weight_t, const at::Tensor& bias, at::Tensor& out, const DcnShape& s) {
  if (s.NP == 0 || s.Cout == 0) return;
  const dim3 grid((unsigned)((s.NP + kFwdBN - 1) / kFwdBN), (unsigned)((s.Cout_g + kBM - 1) / kBM),
                  (unsigned)s.groups);
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn forward", [&] {
    run_grid(grid, [&] {
      dcn_forward_kernel<scalar_t, kFwdBN>(cptr<scalar_t>(x), cptr<scalar_t>(offset), cptr<scalar_t>(mask),
                                           cptr<scalar_t>(weight_t), cptr<scalar_t>(bias), mptr<scalar_t>(out), s);
    });
  });
}

void launch_backward_data(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                          const at::Tensor& mask, const at::Tensor& weight_t, at::Tensor& grad_x_acc, double scale,
                          at::Tensor& grad_offset, at::Tensor& grad_mask, const DcnShape& s, bool deterministic) {
  if (s.NP == 0) return;
  const int64_t tiles = (s.NP + kDataBN - 1) / kDataBN;
  const dim3 grid((unsigned)(tiles * s.K));
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn backward", [&] {
    run_grid(grid, [&] {
      if (deterministic)
        dcn_backward_data_kernel<scalar_t, true>(cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset),
                                                 cptr<scalar_t>(mask), cptr<scalar_t>(weight_t), grad_x_acc.data_ptr(),
                                                 scale, mptr<scalar_t>(grad_offset), mptr<scalar_t>(grad_mask), s);
      else
        dcn_backward_data_kernel<scalar_t, false>(cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset),
                                                  cptr<scalar_t>(mask), cptr<scalar_t>(weight_t), grad_x_acc.data_ptr(),
                                                  scale, mptr<scalar_t>(grad_offset), mptr<scalar_t>(grad_mask), s);
    });
  });
}

void launch_backward_weight(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& offset,
                            const at::Tensor& mask, at::Tensor& partial, const DcnShape& s, int64_t slice_len) {
  const int n_ctiles = (s.Cin_g + kWeightBN - 1) / kWeightBN;
  const int n_mtiles = (s.Cout_g + kBM - 1) / kBM;
  const dim3 grid((unsigned)((int64_t)s.groups * n_mtiles * s.K * n_ctiles), (unsigned)partial.size(0));
  VSRKIT_DCN_DISPATCH(x.scalar_type(), "dcn backward (weight)", [&] {
    run_grid(grid, [&] {
      dcn_backward_weight_kernel<scalar_t>(cptr<scalar_t>(grad_out), cptr<scalar_t>(x), cptr<scalar_t>(offset),
                                           cptr<scalar_t>(mask), mptr<float>(partial), s, slice_len, n_ctiles,
                                           n_mtiles);
    });
  });
}

}  // namespace vsrkit_dcn
