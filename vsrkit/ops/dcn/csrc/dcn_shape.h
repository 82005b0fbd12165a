// Problem description shared by the host code (dcn.cpp) and the kernels (*.cu).
#pragma once

#include <stdint.h>

namespace vsrkit_dcn {

struct DcnShape {
  int N, Cin, H, W;            // input (N, Cin, H, W)
  int Cout, Ho, Wo;            // output (N, Cout, Ho, Wo)
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int groups, dg;              // conv groups, deformable groups
  int K, Cin_g, Cout_g, cpg;   // kh*kw, Cin/groups, Cout/groups, channels per deformable group (Cin/dg)
  int P;                       // Ho*Wo output pixels per sample
  int64_t NP;                  // N*P GEMM columns
};

}  // namespace vsrkit_dcn
