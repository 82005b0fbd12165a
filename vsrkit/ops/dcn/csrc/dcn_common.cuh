// Shared device code of the fused modulated deformable convolution (DCNv2) kernels.
//
// Notation (all kernels):
//   x      (N, Cin, H, W)            input
//   offset (N, DG*2*K, Ho, Wo)        (dy, dx) per deformable group and kernel point, K = kh*kw
//   mask   (N, DG*K, Ho, Wo)          modulation scalars
//   weight_t (Cout, K, Cin_g)         the weight permuted on the host so that the reduction index (k, c) has c
//                                     contiguous (Cin_g = Cin / groups)
//   a "column" j is one output pixel of one sample: j = n * P + p, p = ho * Wo + wo, P = Ho * Wo, so the whole batch
//   is one long GEMM dimension of length N*P (no batch chunking: any batch size works).
//
// The convolution is the GEMM  Y[co, j] = sum_{k, c} W[co, k, c] * Col[(k, c), j]  per conv group, where
// Col[(k, c), j] = mask * bilinear(x[n, c], sampling point k of pixel p). torchvision writes Col to memory
// (im2col); here tiles of Col are computed straight into shared memory and consumed by the GEMM (implicit GEMM).
#pragma once

#ifdef VSRKIT_DCN_EMULATION
// Host emulation used only by tests/ops/dcn_emu (runs these kernels on the CPU with one std::thread per CUDA thread).
#include "cuda_emulation.h"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#endif
#include <stdint.h>

#include <type_traits>

#include "dcn_shape.h"

namespace vsrkit_dcn {

// Tile sizes shared by all kernels: 128 threads = 4 warps arranged 2 x 2 over a BM x BN output tile; the reduction
// dimension is consumed BK at a time.
constexpr int kThreads = 128;
constexpr int kBM = 64;
constexpr int kBK = 32;

// ---------------------------------------------------------------------------------------------------------------
// Scalar conversions (T is float, __half or __nv_bfloat16; arithmetic is always fp32).
template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T> __host__ __device__ constexpr bool is_fp32() { return std::is_same<T, float>::value; }

// Leading dimensions of shared-memory tiles. WMMA needs 32-byte aligned fragment pointers and ldm * sizeof(T) to be a
// multiple of 16 bytes, hence a pad of 8 elements (which also staggers rows across banks). The optional SIMT fp32
// path (-DVSRKIT_DCN_FP32_SIMT) pads K-contiguous fp32 tiles by 1 instead, so 16 threads reading 16 rows hit 16
// different banks.
#ifdef VSRKIT_DCN_FP32_SIMT
template <typename T> __host__ __device__ constexpr int ld_k(int bk) { return bk + (is_fp32<T>() ? 1 : 8); }
#else
template <typename T> __host__ __device__ constexpr int ld_k(int bk) { return bk + 8; }
#endif
__host__ __device__ constexpr int ld_mn(int dim) { return dim + 8; }

// ---------------------------------------------------------------------------------------------------------------
// Bilinear sampling with torchvision's boundary rules: a point at or beyond one pixel outside the image reads 0;
// otherwise each of the four corners contributes only if it lies inside the image. The coordinate gradient follows
// torchvision too: it is taken on the cell floor(h), floor(w) with out-of-image corners read as 0 and no "outside"
// cut-off, so a point exactly at h == -1 (or w == -1) has value 0 but the one-sided derivative of the cell [-1, 0].
struct BilinearPoint {
  int idx[4];      // in-plane offsets of the corners (top-left, top-right, bottom-left, bottom-right)
  float wt[4];     // bilinear weights of the corners, 0 for corners outside the image or when !inside
  bool ok[4];      // corner inside the image
  float lh, lw;    // fractional position in the cell (for the coordinate gradients)
  bool inside;     // false: value 0 and no gradient for x or mask (the offset gradient may still be non-zero)
  bool any;        // some corner inside the image (else every gradient is 0)
};

__device__ __forceinline__ BilinearPoint bilinear_point(float h, float w, int H, int W) {
  BilinearPoint b;
  // Clamping to [-2, size + 1] changes no result (all corners beyond it are outside anyway) and keeps the float ->
  // int conversion below defined for huge or NaN offsets.
  h = fminf(fmaxf(h, -2.f), (float)H + 1.f);
  w = fminf(fmaxf(w, -2.f), (float)W + 1.f);
  b.inside = !(h <= -1.f || h >= (float)H || w <= -1.f || w >= (float)W);
  const int h0 = (int)floorf(h), w0 = (int)floorf(w);
  const int h1 = h0 + 1, w1 = w0 + 1;
  b.lh = h - (float)h0;
  b.lw = w - (float)w0;
  const float hh = 1.f - b.lh, hw = 1.f - b.lw;
  const bool h0_ok = h0 >= 0 && h0 < H, h1_ok = h1 >= 0 && h1 < H;
  const bool w0_ok = w0 >= 0 && w0 < W, w1_ok = w1 >= 0 && w1 < W;
  b.ok[0] = h0_ok && w0_ok;
  b.ok[1] = h0_ok && w1_ok;
  b.ok[2] = h1_ok && w0_ok;
  b.ok[3] = h1_ok && w1_ok;
  b.any = b.ok[0] || b.ok[1] || b.ok[2] || b.ok[3];
  const int idx[4] = {h0 * W + w0, h0 * W + w1, h1 * W + w0, h1 * W + w1};
  const float wt[4] = {hh * hw, hh * b.lw, b.lh * hw, b.lh * b.lw};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    b.idx[i] = b.ok[i] ? idx[i] : 0;
    b.wt[i] = (b.ok[i] && b.inside) ? wt[i] : 0.f;
  }
  return b;
}

// The four corner values of one channel plane (0 outside the image).
template <typename T>
__device__ __forceinline__ void load_corners(const T* __restrict__ plane, const BilinearPoint& b, float v[4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] = b.ok[i] ? to_float(plane[b.idx[i]]) : 0.f;
}

// Sampling point of kernel tap (ky, kx) for output pixel (ho, wo), before the learned offset.
struct Column {
  bool valid;      // j < N*P
  int n, p, ho, wo;
};

__device__ __forceinline__ Column column_of(int64_t j, const DcnShape& s) {
  Column c;
  c.valid = j < s.NP;
  const int64_t jj = c.valid ? j : 0;
  c.n = (int)(jj / s.P);
  c.p = (int)(jj - (int64_t)c.n * s.P);
  c.ho = c.p / s.Wo;
  c.wo = c.p - c.ho * s.Wo;
  return c;
}

// Reads (dy, dx, mask) of deformable group g, kernel point k for a column and builds its bilinear point.
template <typename T>
__device__ __forceinline__ BilinearPoint sample_point(const T* __restrict__ offset, const T* __restrict__ mask,
                                                      const DcnShape& s, const Column& col, int g, int k,
                                                      float* m_out) {
  const int64_t P = s.P;
  const T* off = offset + ((int64_t)col.n * s.dg * 2 * s.K + (int64_t)(g * s.K + k) * 2) * P + col.p;
  const float dy = to_float(off[0]);
  const float dx = to_float(off[P]);
  *m_out = to_float(mask[((int64_t)col.n * s.dg * s.K + g * s.K + k) * P + col.p]);
  const int ky = k / s.kw, kx = k - ky * s.kw;
  const float h = (float)(col.ho * s.sh - s.ph + ky * s.dh) + dy;
  const float w = (float)(col.wo * s.sw - s.pw + kx * s.dw) + dx;
  return bilinear_point(h, w, s.H, s.W);
}

// Modulated samples m * bilinear(x) of one column and kernel tap, for input channels visited in order (as the GEMM
// kernels fill their B tiles): the bilinear point is rebuilt only when the deformable group changes.
struct ModulatedSampler {
  int cur_g = -1;
  float m = 0.f;
  BilinearPoint bp;

  // Sample of input channel ci (of all Cin) of image x_n (Cin x HW) at tap k of column col.
  template <typename T>
  __device__ __forceinline__ float operator()(const T* __restrict__ x_n, const T* __restrict__ offset,
                                              const T* __restrict__ mask, const DcnShape& s, const Column& col,
                                              int ci, int k, int64_t HW) {
    const int g = ci / s.cpg;
    if (g != cur_g) {
      bp = sample_point(offset, mask, s, col, g, k, &m);
      cur_g = g;
    }
    if (!bp.inside) return 0.f;
    float cv[4];
    load_corners(x_n + ci * HW, bp, cv);
    return m * (bp.wt[0] * cv[0] + bp.wt[1] * cv[1] + bp.wt[2] * cv[2] + bp.wt[3] * cv[3]);
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Block-level GEMM on one shared-memory stage: acc(BM x BN) += A(BM x BK) * B(BK x BN).
// Element A(m, kk) sits at a[m * AM + kk * AK] and B(kk, n) at b[kk * BKS + n * BNS] (strides in elements; one of
// the two strides of each operand is 1, which fixes the WMMA layout). The block is 4 warps in a 2 x 2 grid, each
// warp owning a 32 x BN/2 sub-tile.
template <typename T, int BN, int AM, int AK, int BKS, int BNS>
struct BlockMma;

#ifdef VSRKIT_DCN_FP32_SIMT
// fp32 fallback: SIMT outer products in registers (exact fp32 FMAs, slower than the 3xTF32 default below).
// Thread (ty, tx) = (tid / 16, tid % 16) owns rows ty + 8*i (i < 8) and columns tx + 16*j (j < BN/16): reads of B
// are 16 consecutive words (conflict free), reads of A are broadcasts.
template <int BN, int AM, int AK, int BKS, int BNS>
struct BlockMma<float, BN, AM, AK, BKS, BNS> {
  static constexpr int kCols = BN / 16;
  float acc[8][kCols];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < kCols; ++j) acc[i][j] = 0.f;
  }

  __device__ __forceinline__ void mma(const float* a, const float* b) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll 4
    for (int kk = 0; kk < kBK; ++kk) {
      float av[8], bv[kCols];
#pragma unroll
      for (int i = 0; i < 8; ++i) av[i] = a[(ty + 8 * i) * AM + kk * AK];
#pragma unroll
      for (int j = 0; j < kCols; ++j) bv[j] = b[kk * BKS + (tx + 16 * j) * BNS];
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < kCols; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
  }

  // Writes the tile to a row-major fp32 shared array c[BM][ldc].
  __device__ __forceinline__ void store(float* c, int ldc) const {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < kCols; ++j) c[(ty + 8 * i) * ldc + tx + 16 * j] = acc[i][j];
  }
};

#else
// fp32 default: tensor cores with "3xTF32". A single TF32 product keeps 10 mantissa bits (error ~1e-3, too coarse
// for the 1e-4 parity target); splitting each operand into a TF32 "big" part and a TF32 "small" remainder and
// accumulating small*big + big*small + big*big in fp32 recovers ~fp32 accuracy (the dropped small*small term is
// ~2^-22 relative) at 3 tensor-core MMAs per tile, still several times the SIMT fp32 rate. Warp layout as for
// fp16 / bf16 below; WMMA m16n16k8 fragments.
template <int BN, int AM, int AK, int BKS, int BNS>
struct BlockMma<float, BN, AM, AK, BKS, BNS> {
  static_assert(AM == 1 || AK == 1, "A must be row- or column-major");
  static_assert(BKS == 1 || BNS == 1, "B must be row- or column-major");
  using LayoutA = typename std::conditional<AK == 1, nvcuda::wmma::row_major, nvcuda::wmma::col_major>::type;
  using LayoutB = typename std::conditional<BNS == 1, nvcuda::wmma::row_major, nvcuda::wmma::col_major>::type;
  using Tf32 = nvcuda::wmma::precision::tf32;
  using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 8, Tf32, LayoutA>;
  using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 8, Tf32, LayoutB>;
  static constexpr int kLda = AK == 1 ? AM : AK;
  static constexpr int kLdb = BNS == 1 ? BKS : BNS;
  static constexpr int kFragN = BN / 32;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float> acc[2][kFragN];

  // big = tf32(v), small = tf32(v - big), element by element (fragments of one type share the element mapping)
  template <class Frag>
  __device__ __forceinline__ static void split(Frag& big, Frag& small) {
#pragma unroll
    for (int t = 0; t < big.num_elements; ++t) {
      const float v = big.x[t];
      const float hi = nvcuda::wmma::__float_to_tf32(v);
      big.x[t] = hi;
      small.x[t] = nvcuda::wmma::__float_to_tf32(v - hi);
    }
  }

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < kFragN; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.f);
  }

  __device__ __forceinline__ void mma(const float* a, const float* b) {
    const int warp = threadIdx.x / 32;
    const int row0 = 32 * (warp / 2), col0 = (BN / 2) * (warp % 2);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      FragA a_big[2], a_small[2];
      FragB b_big[kFragN], b_small[kFragN];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        nvcuda::wmma::load_matrix_sync(a_big[i], a + (row0 + 16 * i) * AM + kk * AK, kLda);
        split(a_big[i], a_small[i]);
      }
#pragma unroll
      for (int j = 0; j < kFragN; ++j) {
        nvcuda::wmma::load_matrix_sync(b_big[j], b + kk * BKS + (col0 + 16 * j) * BNS, kLdb);
        split(b_big[j], b_small[j]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < kFragN; ++j) {
          nvcuda::wmma::mma_sync(acc[i][j], a_small[i], b_big[j], acc[i][j]);
          nvcuda::wmma::mma_sync(acc[i][j], a_big[i], b_small[j], acc[i][j]);
          nvcuda::wmma::mma_sync(acc[i][j], a_big[i], b_big[j], acc[i][j]);
        }
    }
  }

  __device__ __forceinline__ void store(float* c, int ldc) const {
    const int warp = threadIdx.x / 32;
    const int row0 = 32 * (warp / 2), col0 = (BN / 2) * (warp % 2);
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < kFragN; ++j)
        nvcuda::wmma::store_matrix_sync(c + (row0 + 16 * i) * ldc + col0 + 16 * j, acc[i][j], ldc,
                                        nvcuda::wmma::mem_row_major);
  }
};
#endif

// fp16 / bf16: tensor cores through WMMA 16x16x16 fragments with fp32 accumulators. Warp w owns rows
// 32*(w/2) .. +32 (2 fragments) and columns (BN/2)*(w%2) .. +BN/2 (BN/32 fragments).
template <typename T, int BN, int AM, int AK, int BKS, int BNS>
struct BlockMma {
  static_assert(AM == 1 || AK == 1, "A must be row- or column-major");
  static_assert(BKS == 1 || BNS == 1, "B must be row- or column-major");
  using LayoutA = typename std::conditional<AK == 1, nvcuda::wmma::row_major, nvcuda::wmma::col_major>::type;
  using LayoutB = typename std::conditional<BNS == 1, nvcuda::wmma::row_major, nvcuda::wmma::col_major>::type;
  static constexpr int kLda = AK == 1 ? AM : AK;
  static constexpr int kLdb = BNS == 1 ? BKS : BNS;
  static constexpr int kFragN = BN / 32;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc[2][kFragN];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < kFragN; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.f);
  }

  __device__ __forceinline__ void mma(const T* a, const T* b) {
    const int warp = threadIdx.x / 32;
    const int row0 = 32 * (warp / 2), col0 = (BN / 2) * (warp % 2);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, T, LayoutA> fa[2];
      nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, T, LayoutB> fb[kFragN];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        nvcuda::wmma::load_matrix_sync(fa[i], a + (row0 + 16 * i) * AM + kk * AK, kLda);
#pragma unroll
      for (int j = 0; j < kFragN; ++j)
        nvcuda::wmma::load_matrix_sync(fb[j], b + kk * BKS + (col0 + 16 * j) * BNS, kLdb);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < kFragN; ++j) nvcuda::wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }

  __device__ __forceinline__ void store(float* c, int ldc) const {
    const int warp = threadIdx.x / 32;
    const int row0 = 32 * (warp / 2), col0 = (BN / 2) * (warp % 2);
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < kFragN; ++j)
        nvcuda::wmma::store_matrix_sync(c + (row0 + 16 * i) * ldc + col0 + 16 * j, acc[i][j], ldc,
                                        nvcuda::wmma::mem_row_major);
  }
};

}  // namespace vsrkit_dcn
