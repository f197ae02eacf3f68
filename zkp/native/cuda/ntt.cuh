// The NTT over Fr and the Groth16 polynomial step as functions of one item
// each, for the kernels in kernels.cu. The transform is the CPU library's
// (ntt.h): bit-reversal permutation, then log n radix-2 decimation-in-time
// stages, natural order in and out, ffjavascript's roots of unity; the GPU
// runs each stage as one launch over the n/2 butterflies.

#ifndef PN_CUDA_NTT_CUH
#define PN_CUDA_NTT_CUH

#include "launch.cuh"

namespace pn {

PN_HD uint32_t reverse_bits(uint32_t x, uint32_t bits) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    x = (x >> 16) | (x << 16);
    return bits ? x >> (32 - bits) : 0;
}

// first * g^i, square-and-multiply from the low bit of i: 2 log2(i) products.
PN_HD fr power_at(const fr &g, const fr &first, uint64_t i) {
    fr x = first, square = g;
    for (; i; i >>= 1) {
        if (i & 1) x = mul(x, square);
        square = sqr(square);
    }
    return x;
}

// Butterfly k of stage s (1-based) of a transform of size 2^log_n: the pair
// (i, i + 2^(s-1)), with twiddle root^(j * n / 2^s), twiddles[j] = root^j.
PN_HD void ntt_butterfly(fr *a, const fr *twiddles, uint32_t log_n, uint32_t s, uint64_t k) {
    const uint64_t half = (uint64_t)1 << (s - 1);
    const uint64_t j = k & (half - 1), i = ((k >> (s - 1)) << s) + j;
    fr t = mul(a[i + half], twiddles[j << (log_n - s)]);
    a[i + half] = sub(a[i], t);
    a[i] = add(a[i], t);
}

// Row `row` of the evaluations of A (rows 0..n-1) and B (rows n..2n-1) on
// the domain: the sum of its coefficients times their signals' values. The
// .zkey's records are grouped by row once per circuit (row_start, as CSR);
// a value is c * 2^512, so its Montgomery product with a standard-form
// witness value is c * w in Montgomery form.
PN_HD fr constraint_row(const uint64_t *row_start, const uint32_t *signals, const fr *values,
                        const fr *witness, uint64_t row) {
    fr acc = fe_zero<fr_params>();
    for (uint64_t k = row_start[row]; k < row_start[row + 1]; k++) acc = add(acc, mul(values[k], witness[signals[k]]));
    return acc;
}

}  // namespace pn

#endif
