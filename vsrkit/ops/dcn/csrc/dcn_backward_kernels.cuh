// Backward kernels of the fused modulated deformable convolution. Two kernels, neither materialises im2col:
//
// dcn_backward_data_kernel -> grad x, grad offset, grad mask
//   One block per (kernel point k, BN=128 columns); thread t owns column t. For every input-channel stage of kBM
//   channels (in increasing global channel order, across conv groups) the block computes the column gradient
//       gcol[c, j] = sum_co W[co, k, c] * gy[co, j]          (tile GEMM, A = W^T stage, B = grad_out stage)
//   into shared memory, then thread t walks its column's kBM channels:
//     * grad mask  (g, k, j) += gcol * bilinear(x)            summed over the channels of deformable group g
//     * grad offset(g, k, j) += gcol * mask * d bilinear / d(y, x)   (torchvision's convention at the border)
//     * grad x at the four corners += gcol * mask * corner weight   (scatter)
//   Channels of one deformable group are contiguous and visited by the same thread in order, so the group sums
//   live in registers and are written once (no atomics, deterministic). The scatter into grad x is the only
//   accumulation shared between threads: fp32 atomicAdd, or in deterministic mode int64 fixed point (integer
//   addition is associative, so the bits do not depend on the order in which threads arrive).
//
// dcn_backward_weight_kernel -> grad weight
//   grad W[co, k, c] = sum_j gy[co, j] * Col[(k, c), j]: one block per (conv group, kBM output channels, k, BN=64
//   input channels, column slice); the reduction over the slice's columns runs in stages of kBK columns whose Col
//   tile is sampled straight into shared memory. Each slice writes its own partial tile; the host sums the slices
//   in a fixed order (split-K without atomics, deterministic).
#pragma once

#include "dcn_common.cuh"

namespace vsrkit_dcn {

constexpr int kDataBN = 128;   // columns per block in the data kernel: one per thread
constexpr int kWeightBN = 64;  // input channels per block in the weight kernel

// Adds v to grad x: fp32 atomics, or int64 fixed point (v * scale rounded) in deterministic mode.
template <bool kDeterministic>
__device__ __forceinline__ void scatter_add(void* base, int64_t index, float v, double scale) {
  if (kDeterministic) {
    const long long q = __double2ll_rn((double)v * scale);
    atomicAdd(reinterpret_cast<unsigned long long*>(base) + index, (unsigned long long)q);
  } else {
    atomicAdd(reinterpret_cast<float*>(base) + index, v);
  }
}

// Writes the summed offset/mask gradients of deformable group g, kernel point k for one column.
template <typename T>
__device__ __forceinline__ void write_group_grads(T* __restrict__ grad_offset, T* __restrict__ grad_mask,
                                                  const DcnShape& s, const Column& col, int g, int k, float m,
                                                  float sum_y, float sum_x, float sum_mask) {
  const int64_t P = s.P;
  T* go = grad_offset + ((int64_t)col.n * s.dg * 2 * s.K + (int64_t)(g * s.K + k) * 2) * P + col.p;
  go[0] = from_float<T>(m * sum_y);
  go[P] = from_float<T>(m * sum_x);
  grad_mask[((int64_t)col.n * s.dg * s.K + g * s.K + k) * P + col.p] = from_float<T>(sum_mask);
}

template <typename T, bool kDeterministic>
__global__ void __launch_bounds__(kThreads)
dcn_backward_data_kernel(const T* __restrict__ grad_out, const T* __restrict__ x, const T* __restrict__ offset,
                         const T* __restrict__ mask, const T* __restrict__ weight_t, void* __restrict__ grad_x_acc,
                         double scale, T* __restrict__ grad_offset, T* __restrict__ grad_mask, DcnShape s) {
  constexpr int BN = kDataBN;
  static_assert(BN == kThreads, "one column per thread");
  constexpr int LDA = ld_mn(kBM);   // a[kk][m]: A(m = input channel, kk = output channel), column-major A
  constexpr int LDB = ld_mn(BN);    // b[kk][n]: B(kk = output channel, n = column), row-major
  constexpr int LDC = BN + 4;       // c[m][n]: gcol tile (fp32), aliases a/b
  constexpr int kStageBytes = (kBK * LDA + kBK * LDB) * (int)sizeof(T);
  constexpr int kCBytes = kBM * LDC * (int)sizeof(float);
  __shared__ __align__(128) unsigned char smem[kStageBytes > kCBytes ? kStageBytes : kCBytes];
  T* a = reinterpret_cast<T*>(smem);
  T* b = a + kBK * LDA;
  float* c = reinterpret_cast<float*>(smem);

  const int tid = threadIdx.x;
  // blocks of the same column tile are adjacent (k fastest), so they share grad_out / x tiles in L2
  const int k = (int)(blockIdx.x % (unsigned)s.K);
  const int64_t j0 = (int64_t)(blockIdx.x / (unsigned)s.K) * BN;
  const Column col = column_of(j0 + tid, s);
  const int64_t HW = (int64_t)s.H * s.W;
  const int64_t P = s.P;
  const T* gy_col = grad_out + (int64_t)col.n * s.Cout * P + col.p;
  const T* x_n = x + (int64_t)col.n * s.Cin * HW;
  const int64_t gx_n = (int64_t)col.n * s.Cin * HW;

  // running sums of the deformable group being visited by this thread's column
  int cur_g = -1;
  float m = 0.f, sum_y = 0.f, sum_x = 0.f, sum_mask = 0.f;
  BilinearPoint bp;

  BlockMma<T, BN, 1, LDA, LDB, 1> acc;
  for (int gr = 0; gr < s.groups; ++gr) {
    for (int c0 = 0; c0 < s.Cin_g; c0 += kBM) {
      // gcol tile (kBM channels x BN columns) = W^T (kBM x Cout_g) * gy (Cout_g x BN), kBK output channels a stage
      acc.zero();
      for (int o0 = 0; o0 < s.Cout_g; o0 += kBK) {
        for (int e = tid; e < kBK * kBM; e += kThreads) {
          const int kk = e / kBM, mm = e % kBM;
          const int co = o0 + kk, ch = c0 + mm;
          T v = from_float<T>(0.f);
          if (co < s.Cout_g && ch < s.Cin_g) v = weight_t[((int64_t)(gr * s.Cout_g + co) * s.K + k) * s.Cin_g + ch];
          a[kk * LDA + mm] = v;
        }
        for (int kk = 0; kk < kBK; ++kk) {
          const int co = o0 + kk;
          T v = from_float<T>(0.f);
          if (col.valid && co < s.Cout_g) v = gy_col[(int64_t)(gr * s.Cout_g + co) * P];
          b[kk * LDB + tid] = v;
        }
        __syncthreads();
        acc.mma(a, b);
        __syncthreads();
      }
      acc.store(c, LDC);
      __syncthreads();

      // element stage: this thread's column, channels c0 .. c0 + rows in order
      if (col.valid) {
        const int rows = min(kBM, s.Cin_g - c0);
        for (int r = 0; r < rows; ++r) {
          const int ci = gr * s.Cin_g + c0 + r;
          const int g = ci / s.cpg;
          if (g != cur_g) {
            if (cur_g >= 0) write_group_grads(grad_offset, grad_mask, s, col, cur_g, k, m, sum_y, sum_x, sum_mask);
            bp = sample_point(offset, mask, s, col, g, k, &m);
            cur_g = g;
            sum_y = sum_x = sum_mask = 0.f;
          }
          if (!bp.any) continue;
          const float gc = c[r * LDC + tid];
          float cv[4];
          load_corners(x_n + ci * HW, bp, cv);
          const float hh = 1.f - bp.lh, hw = 1.f - bp.lw;
          sum_mask += gc * (bp.wt[0] * cv[0] + bp.wt[1] * cv[1] + bp.wt[2] * cv[2] + bp.wt[3] * cv[3]);
          sum_y += gc * (hw * (cv[2] - cv[0]) + bp.lw * (cv[3] - cv[1]));
          sum_x += gc * (hh * (cv[1] - cv[0]) + bp.lh * (cv[3] - cv[2]));
          const float gm = gc * m;
#pragma unroll
          for (int i = 0; i < 4; ++i)
            if (bp.inside && bp.ok[i])
              scatter_add<kDeterministic>(grad_x_acc, gx_n + ci * HW + bp.idx[i], gm * bp.wt[i], scale);
        }
      }
      __syncthreads();  // c is overwritten by the next stage's a/b
    }
  }
  if (col.valid && cur_g >= 0) write_group_grads(grad_offset, grad_mask, s, col, cur_g, k, m, sum_y, sum_x, sum_mask);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
dcn_backward_weight_kernel(const T* __restrict__ grad_out, const T* __restrict__ x, const T* __restrict__ offset,
                           const T* __restrict__ mask, float* __restrict__ partial, DcnShape s, int64_t slice_len,
                           int n_ctiles, int n_mtiles) {
  constexpr int BN = kWeightBN;
  constexpr int LDA = ld_k<T>(kBK);  // a[m][kk]: A(m = output channel, kk = column), row-major
  constexpr int LDB = ld_k<T>(kBK);  // b[n][kk]: B(kk = column, n = input channel), column-major
  constexpr int LDC = BN + 4;
  constexpr int kStageBytes = (kBM * LDA + BN * LDB) * (int)sizeof(T);
  constexpr int kCBytes = kBM * LDC * (int)sizeof(float);
  __shared__ __align__(128) unsigned char smem[kStageBytes > kCBytes ? kStageBytes : kCBytes];
  T* a = reinterpret_cast<T*>(smem);
  T* b = a + kBM * LDA;
  float* c = reinterpret_cast<float*>(smem);

  const int tid = threadIdx.x;
  // blockIdx.x enumerates (conv group, output-channel tile, k, input-channel tile), the last fastest
  unsigned rest = blockIdx.x;
  const int ct = (int)(rest % (unsigned)n_ctiles); rest /= (unsigned)n_ctiles;
  const int k = (int)(rest % (unsigned)s.K); rest /= (unsigned)s.K;
  const int mt = (int)(rest % (unsigned)n_mtiles);
  const int gr = (int)(rest / (unsigned)n_mtiles);
  const int m0 = mt * kBM, c0 = ct * BN;
  const int64_t slice = blockIdx.y;
  const int64_t jbeg = slice * slice_len;
  const int64_t jend = min(s.NP, jbeg + slice_len);
  const int64_t HW = (int64_t)s.H * s.W;
  const int64_t P = s.P;

  // Sampling / loading role: column kk = tid % kBK of each stage; input channels [cc_begin, cc_begin + kChans).
  constexpr int kChans = BN / (kThreads / kBK);
  static_assert(kThreads % kBK == 0 && BN % (kThreads / kBK) == 0, "sampling layout");
  const int kk = tid % kBK;
  const int cc_begin = (tid / kBK) * kChans;

  BlockMma<T, BN, LDA, 1, 1, LDB> acc;
  acc.zero();
  for (int64_t jb = jbeg; jb < jend; jb += kBK) {
    Column col = column_of(jb + kk, s);
    col.valid = col.valid && jb + kk < jend;
    // A: grad_out rows of the tile's output channels at this thread's column
    const T* gy_col = grad_out + (int64_t)col.n * s.Cout * P + col.p;
    for (int mm = tid / kBK; mm < kBM; mm += kThreads / kBK) {
      const int co = m0 + mm;
      T v = from_float<T>(0.f);
      if (col.valid && co < s.Cout_g) v = gy_col[(int64_t)(gr * s.Cout_g + co) * P];
      a[mm * LDA + kk] = v;
    }
    // B: modulated bilinear samples of the tile's input channels at this column
    const T* x_n = x + (int64_t)col.n * s.Cin * HW;
    ModulatedSampler sample;
    for (int cc = cc_begin; cc < cc_begin + kChans; ++cc) {
      const int ch = c0 + cc;
      const float v = col.valid && ch < s.Cin_g ? sample(x_n, offset, mask, s, col, gr * s.Cin_g + ch, k, HW) : 0.f;
      b[cc * LDB + kk] = from_float<T>(v);
    }
    __syncthreads();
    acc.mma(a, b);
    __syncthreads();
  }
  acc.store(c, LDC);
  __syncthreads();
  // partial[slice][gr*Cout_g + co][k][c]: every element of the tile is written (zeros for empty slices)
  for (int e = tid; e < kBM * BN; e += kThreads) {
    const int mm = e / BN, nn = e % BN;
    const int co = m0 + mm, ch = c0 + nn;
    if (co >= s.Cout_g || ch >= s.Cin_g) continue;
    partial[((slice * s.Cout + gr * s.Cout_g + co) * s.K + k) * s.Cin_g + ch] = c[mm * LDC + nn];
  }
}

}  // namespace vsrkit_dcn
