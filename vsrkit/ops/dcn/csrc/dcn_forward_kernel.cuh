// Forward kernel of the fused modulated deformable convolution (implicit GEMM).
//
// One thread block computes a kBM x BN tile of the output GEMM  Y[co, j]  of one conv group: kBM output channels by
// BN columns (output pixels of the flattened batch). The reduction over (kernel point k, input channel c) runs in
// stages of kBK input channels at a fixed k:
//
//   1. A stage: weights W[co, k, c0 .. c0+kBK) of the tile's channels -> shared a[kBM][ld]  (row-major)
//   2. B stage: Col[(k, c), j] = mask * bilinear(x[n, c], p_k(j) + offset) for the kBK channels and BN columns,
//      computed by the threads straight into shared b[kBK][ld] (row-major). Thread t owns column t % BN and
//      kBK / (threads per column) consecutive channels, so the offset/mask of its deformable group and the four
//      bilinear corner positions/weights are computed once and reused for all its channels of that group.
//   3. the block GEMM acc += a * b (tensor cores for fp16/bf16, SIMT fp32 for float), then the next stage.
//
// No im2col buffer ever reaches global memory: per output element the kernel reads x (4 corners, mostly L1/L2
// hits), offset and mask once per tile row block, and writes y once.
#pragma once

#include "dcn_common.cuh"

namespace vsrkit_dcn {

constexpr int kFwdBN = 64;  // columns per block (2 threads per column in the sampling stage)

template <typename T, int BN>
__global__ void __launch_bounds__(kThreads)
dcn_forward_kernel(const T* __restrict__ x, const T* __restrict__ offset, const T* __restrict__ mask,
                   const T* __restrict__ weight_t, const T* __restrict__ bias, T* __restrict__ out, DcnShape s) {
  constexpr int LDA = ld_k<T>(kBK);  // a[m][kk]: output channel m, reduction index kk (contiguous)
  constexpr int LDB = ld_mn(BN);     // b[kk][n]: reduction index kk, column n (contiguous)
  constexpr int LDC = BN + 4;        // c[m][n]: fp32 result tile, aliases a/b after the main loop
  constexpr int kStageBytes = (kBM * LDA + kBK * LDB) * (int)sizeof(T);
  constexpr int kCBytes = kBM * LDC * (int)sizeof(float);
  __shared__ __align__(128) unsigned char smem[kStageBytes > kCBytes ? kStageBytes : kCBytes];
  T* a = reinterpret_cast<T*>(smem);
  T* b = a + kBM * LDA;
  float* c = reinterpret_cast<float*>(smem);

  const int tid = threadIdx.x;
  const int gr = blockIdx.z;                      // conv group
  const int m0 = blockIdx.y * kBM;                // first output channel (within the group)
  const int64_t j0 = (int64_t)blockIdx.x * BN;    // first column

  // Sampling role of this thread: column jj, channel rows [r_begin, r_begin + kRows) of each stage.
  constexpr int kThreadsPerCol = kThreads / BN;
  constexpr int kRows = kBK / kThreadsPerCol;
  static_assert(kThreads % BN == 0 && kBK % kThreadsPerCol == 0, "sampling layout");
  const int jj = tid % BN;
  const int r_begin = (tid / BN) * kRows;
  const Column col = column_of(j0 + jj, s);
  const int64_t HW = (int64_t)s.H * s.W;
  const T* x_n = x + (int64_t)col.n * s.Cin * HW;

  BlockMma<T, BN, LDA, 1, LDB, 1> acc;
  acc.zero();
  for (int k = 0; k < s.K; ++k) {
    for (int c0 = 0; c0 < s.Cin_g; c0 += kBK) {
      // 1. weights of this stage (zero outside the tile so partial tiles need no special GEMM)
      for (int e = tid; e < kBM * kBK; e += kThreads) {
        const int mm = e / kBK, kk = e % kBK;
        const int co = m0 + mm, ch = c0 + kk;
        T v = from_float<T>(0.f);
        if (co < s.Cout_g && ch < s.Cin_g) v = weight_t[((int64_t)(gr * s.Cout_g + co) * s.K + k) * s.Cin_g + ch];
        a[mm * LDA + kk] = v;
      }
      // 2. modulated bilinear samples; the bilinear point is rebuilt only when the deformable group changes
      ModulatedSampler sample;
      for (int r = r_begin; r < r_begin + kRows; ++r) {
        const int ch = c0 + r;
        const float v = col.valid && ch < s.Cin_g ? sample(x_n, offset, mask, s, col, gr * s.Cin_g + ch, k, HW) : 0.f;
        b[r * LDB + jj] = from_float<T>(v);
      }
      __syncthreads();
      // 3. tile GEMM on this stage
      acc.mma(a, b);
      __syncthreads();
    }
  }

  // Epilogue: accumulators -> shared fp32 tile -> global with bias, coalesced along the columns.
  acc.store(c, LDC);
  __syncthreads();
  for (int e = tid; e < kBM * BN; e += kThreads) {
    const int mm = e / BN, nn = e % BN;
    const int co = m0 + mm;
    if (co >= s.Cout_g) continue;
    const Column oc = column_of(j0 + nn, s);
    if (!oc.valid) continue;
    const int cog = gr * s.Cout_g + co;
    float v = c[mm * LDC + nn];
    if (bias != nullptr) v += to_float(bias[cog]);
    out[((int64_t)oc.n * s.Cout + cog) * s.P + oc.p] = from_float<T>(v);
  }
}

}  // namespace vsrkit_dcn
