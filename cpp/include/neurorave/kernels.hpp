#pragma once
// Which GEMM kernel the core runs (see cpp/src/layers/gemm_kernel.hpp). Every build
// carries a kernel for the instruction set its compiler flags give ("build") and, on
// x86-64, kernels for AVX2+FMA ("avx2") and AVX-512 ("avx512"), compiled apart; the
// widest one the CPU runs is chosen at the first model load, so a portable build (the
// wheel, the Pd package, the VCV plugin under Rack's -march=nehalem) runs as fast as a
// -march=native one. NEURORAVE_KERNEL=build|avx2|avx512 in the environment, or
// use_kernel(), picks another for models loaded afterwards (tests run each in turn).

#include <string>
#include <vector>

namespace neurorave {

// The kernel models loaded now will use, e.g. "avx512 (16 lanes, reads fp16 weights)".
// A kernel that cannot read fp16 weights as it loads them plays them widened to float.
std::string active_kernel();
// The kernels this build carries that this CPU runs, narrowest first.
std::vector<std::string> runnable_kernels();
// The active kernel's FMA throughput on one thread, measured now (tens of milliseconds):
// the ceiling a layer's multiply-adds per second can be compared with.
double peak_multiply_adds_per_second();
// Makes `name` the kernel of models loaded from now on; false (nothing changes) if this
// build or CPU has no such kernel. Not real-time safe; call before loading.
bool use_kernel(const std::string& name);

}  // namespace neurorave
