// How the kernels of kernels.cu are declared, for the GPU and for the host.
//
// Every kernel is one loop over independent items, PN_FOR(i, count): no item
// reads what another item of the same launch writes, and threads never wait
// for each other (no shared memory, no barriers, no atomics). On the GPU the
// loop is grid-stride, each thread taking items i, i + threads, ...; compiled
// for the host (g++, or nvcc with PN_HOST_EMULATION) the kernel is a plain C
// function that runs every item in order. Both give the same result, so the
// tests run the very kernels the GPU runs, on the host, against the CPU
// library and Python integers (tests/zkp/test_gpu_host.py).

#ifndef PN_CUDA_LAUNCH_CUH
#define PN_CUDA_LAUNCH_CUH

// The GPU's field product: 32-bit limbs (see mul_32 in bn254.h).
#define PN_MUL_32
#include "bn254.h"

#if defined(__CUDACC__) && !defined(PN_HOST_EMULATION)
#define PN_KERNEL extern "C" __global__ void
#define PN_FOR(i, count)                                                            \
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count); \
         i += (uint64_t)gridDim.x * blockDim.x)
#else
#define PN_KERNEL extern "C" void
#define PN_FOR(i, count) for (uint64_t i = 0; i < (count); i++)
#endif

#endif
