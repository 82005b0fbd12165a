// Minimal CPU emulation of the CUDA features used by vsrkit/ops/dcn/csrc kernels, for tests without a GPU.
//
// A kernel is run block by block; each block runs kThreads std::threads that share the block's __shared__ arrays
// (function-local statics) and meet at a std::barrier for __syncthreads(), so missing barriers show up as races.
// WMMA fragments (16x16x16 fp16/bf16, 16x16x8 tf32) are emulated per thread as full fp32 matrices; loads and stores
// check the alignment and leading-dimension rules of the real API (32-byte pointers, ldm * sizeof(T) % 16 == 0)
// and throw when broken; __float_to_tf32 rounds like cvt.rna.tf32.f32.
// __half uses GCC's _Float16, __nv_bfloat16 is rounded to nearest even like __float2bfloat16_rn.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <stdexcept>
#include <string>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline std::barrier<>* g_emu_barrier = nullptr;
inline void __syncthreads() { g_emu_barrier->arrive_and_wait(); }

using std::max;
using std::min;

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
inline long long __double2ll_rn(double v) { return llrint(v); }

struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };
inline float __half2float(__half h) { _Float16 f; memcpy(&f, &h.bits, 2); return (float)f; }
inline __half __float2half_rn(float v) { _Float16 f = (_Float16)v; __half h; memcpy(&h.bits, &f, 2); return h; }
inline float __bfloat162float(__nv_bfloat16 b) {
  uint32_t u = (uint32_t)b.bits << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline __nv_bfloat16 __float2bfloat16_rn(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return __nv_bfloat16{(uint16_t)(u >> 16)};
}

namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

// Matrix shape held by a fragment: A is M x K, B is K x N, the accumulator M x N.
template <class Use, int M, int N, int K> struct dims;
template <int M, int N, int K> struct dims<matrix_a, M, N, K> { static constexpr int R = M, C = K; };
template <int M, int N, int K> struct dims<matrix_b, M, N, K> { static constexpr int R = K, C = N; };
template <int M, int N, int K> struct dims<accumulator, M, N, K> { static constexpr int R = M, C = N; };

// Every emulated lane holds the whole matrix, row-major in x[] (element-wise code over x[] is mapping-agnostic).
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int R = dims<Use, M, N, K>::R, C = dims<Use, M, N, K>::C;
  static constexpr int num_elements = R * C;
  float x[R * C];
};

inline float emu_float(float v) { return v; }
inline float emu_float(__half v) { return __half2float(v); }
inline float emu_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// cvt.rna.tf32.f32: keep 10 mantissa bits, round to nearest, ties away from zero.
inline float __float_to_tf32(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  float r;
  memcpy(&r, &u, 4);
  return r;
}

inline void emu_check(const void* p, unsigned ldm, size_t elem, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    throw std::runtime_error(std::string("wmma ") + what + ": pointer not 32-byte aligned");
  if ((ldm * elem) % 16 != 0) throw std::runtime_error(std::string("wmma ") + what + ": ldm not a multiple of 16 bytes");
}

template <class F>
inline void fill_fragment(F& f, float v) {
  for (float& e : f.x) e = v;
}

template <class Use, int M, int N, int K, class T, class L, class P>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm) {
  static_assert(std::is_same<T, P>::value ||
                    (std::is_same<T, precision::tf32>::value && std::is_same<P, float>::value),
                "fragment / pointer type mismatch");
  emu_check(p, ldm, sizeof(P), "load");
  constexpr int R = fragment<Use, M, N, K, T, L>::R, C = fragment<Use, M, N, K, T, L>::C;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j)
      f.x[i * C + j] = emu_float(std::is_same<L, row_major>::value ? p[i * ldm + j] : p[i + j * ldm]);
}

template <int M, int N, int K, class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
                     const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = c.x[i * N + j];
      for (int k = 0; k < K; ++k) acc += a.x[i * K + k] * b.x[k * N + j];
      out[i * N + j] = acc;
    }
  memcpy(d.x, out, sizeof(out));
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t) {
  emu_check(p, ldm, sizeof(float), "store");
  if (threadIdx.x % 32 != 0) return;  // every lane holds the whole tile; one writes it
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) p[i * ldm + j] = f.x[i * N + j];
}
}  // namespace wmma
}  // namespace nvcuda
