// The number-theoretic transform over Fr and the polynomial step of the
// Groth16 prover built on it. Host only; included by each kernels_*.cpp,
// hence the anonymous namespace.

#ifndef PN_NTT_H
#define PN_NTT_H

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "arguments.h"
#include "bn254.h"
#include "kernels.h"

namespace {

using namespace pn;

const unsigned FR_TWO_ADICITY = 28;

// The 2^log_n-th root of unity ffjavascript uses: 5^((r-1) / 2^log_n).
fr root_of_unity(unsigned log_n) {
    uint64_t e[4] = {fr_params::p0 - 1, fr_params::p1, fr_params::p2, fr_params::p3};
    for (unsigned i = 0; i < log_n; i++) {
        e[0] = (e[0] >> 1) | (e[1] << 63);
        e[1] = (e[1] >> 1) | (e[2] << 63);
        e[2] = (e[2] >> 1) | (e[3] << 63);
        e[3] >>= 1;
    }
    return pow(to_montgomery(fr{{5, 0, 0, 0}}), e);
}

fr fr_from_u64(uint64_t v) { return to_montgomery(fr{{v, 0, 0, 0}}); }

// Below this size a parallel region costs more than it saves.
const size_t PARALLEL_MIN = 1 << 12;

// dst[j] = first * g^j for j < n.
void fill_powers(fr *dst, size_t n, const fr &g, const fr &first, int nthreads) {
    const size_t block = 4096;
    const size_t blocks = ceil_div(n, block);
#pragma omp parallel for schedule(static) num_threads(nthreads) if (n >= PARALLEL_MIN)
    for (size_t k = 0; k < blocks; k++) {
        const uint64_t e[4] = {k * block, 0, 0, 0};
        fr x = mul(first, pow(g, e));
        for (size_t j = k * block; j < std::min(n, (k + 1) * block); j++) {
            dst[j] = x;
            x = mul(x, g);
        }
    }
}

uint32_t bit_reverse(uint32_t x, unsigned bits) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    x = (x >> 16) | (x << 16);
    return bits ? x >> (32 - bits) : 0;
}

inline void butterfly(fr &lo, fr &hi, const fr &twiddle) {
    fr t = mul(hi, twiddle);
    hi = sub(lo, t);
    lo = add(lo, t);
}

// Stages whose butterflies span at most 2^11 elements (64 KiB) run block by
// block, all of them while the block is in cache; larger ones sweep the array.
const unsigned NTT_BLOCK_LOG = 11;

// In-place radix-2 decimation in time, natural order in and out, without the
// 1/n of an inverse transform. twiddles[j] = root^j for j < n/2, root of order n.
void ntt_core(fr *a, unsigned log_n, const fr *twiddles, int nthreads) {
    const size_t n = (size_t)1 << log_n;
    const bool parallel = n >= PARALLEL_MIN;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
    for (size_t i = 0; i < n; i++) {
        size_t j = bit_reverse((uint32_t)i, log_n);
        if (i < j) {
            fr t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
    const unsigned block_log = std::min(log_n, NTT_BLOCK_LOG);
    const size_t block = (size_t)1 << block_log;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
    for (size_t base = 0; base < n; base += block) {
        for (unsigned s = 1; s <= block_log; s++) {
            const size_t half = (size_t)1 << (s - 1), stride = n >> s;
            for (size_t group = base; group < base + block; group += 2 * half)
                for (size_t j = 0; j < half; j++)
                    butterfly(a[group + j], a[group + j + half], twiddles[j * stride]);
        }
    }
    for (unsigned s = block_log + 1; s <= log_n; s++) {
        const size_t half = (size_t)1 << (s - 1), stride = n >> s;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
        for (size_t k = 0; k < n / 2; k++) {
            size_t j = k & (half - 1), i = ((k >> (s - 1)) << s) + j;
            butterfly(a[i], a[i + half], twiddles[j * stride]);
        }
    }
}

// ---------------------------------------------- Groth16 polynomial step

// One .zkey section-4 record, 44 bytes packed: the value is not 8-byte
// aligned, hence memcpy.
const size_t RECORD_BYTES = 44;
struct record {
    uint32_t matrix, constraint, signal;
    fr value;
};

record read_record(const unsigned char *p) {
    record r;
    std::memcpy(&r.matrix, p, 4);
    std::memcpy(&r.constraint, p + 4, 4);
    std::memcpy(&r.signal, p + 8, 4);
    std::memcpy(r.value.l, p + 12, 32);
    return r;
}

int fr_ntt(uint64_t *values, size_t log_n, int inverse, int threads) {
    if (log_n > FR_TWO_ADICITY) return PN_ERR_SIZE;
    if (!values) return PN_ERR_NULL;
    const size_t n = (size_t)1 << log_n;
    fr *a = reinterpret_cast<fr *>(values);
    if (!all_valid(a, n)) return PN_ERR_ELEMENT;
    const int nthreads = thread_count(threads);
    std::vector<fr> twiddles;
    try {
        twiddles.resize(std::max<size_t>(n / 2, 1));
    } catch (const std::bad_alloc &) {
        return PN_ERR_MEMORY;
    }
    fr root = root_of_unity((unsigned)log_n);
    if (inverse) root = inv(root);
    fill_powers(twiddles.data(), n / 2, root, fe_one<fr_params>(), nthreads);
    ntt_core(a, (unsigned)log_n, twiddles.data(), nthreads);
    if (inverse) {
        const fr n_inv = inv(fr_from_u64(n));
#pragma omp parallel for schedule(static) num_threads(nthreads) if (n >= PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) a[i] = mul(a[i], n_inv);
    }
    return PN_OK;
}

int groth16_h(const void *coefficients, size_t n_coefficients, const uint64_t *witness_raw, size_t n_vars,
                 size_t domain_size, uint64_t *out, int threads) {
    if (!out || (n_coefficients && !coefficients) || (n_vars && !witness_raw)) return PN_ERR_NULL;
    if (domain_size == 0 || (domain_size & (domain_size - 1))) return PN_ERR_SIZE;
    unsigned log_n = 0;
    while (((size_t)1 << log_n) < domain_size) log_n++;
    // snarkjs shifts by Fr.shift instead of a 2n-th root at 2^28; we stop short of it.
    if (log_n >= FR_TWO_ADICITY) return PN_ERR_SIZE;
    const size_t n = domain_size;
    const fr *witness = reinterpret_cast<const fr *>(witness_raw);
    if (!all_valid(witness, n_vars)) return PN_ERR_WITNESS;
    const unsigned char *records = static_cast<const unsigned char *>(coefficients);
    for (size_t k = 0; k < n_coefficients; k++) {
        record r = read_record(records + k * RECORD_BYTES);
        if (r.matrix > 1 || r.constraint >= n || r.signal >= n_vars || !valid(r.value)) return PN_ERR_RECORD;
    }

    const int nthreads = thread_count(threads);
    std::vector<fr> a, b, shift, forward, backward;
    try {
        a.assign(n, fe_zero<fr_params>());
        b.assign(n, fe_zero<fr_params>());
        shift.resize(n);
        forward.resize(std::max<size_t>(n / 2, 1));
        backward.resize(std::max<size_t>(n / 2, 1));
    } catch (const std::bad_alloc &) {
        return PN_ERR_MEMORY;
    }
    fr *c = reinterpret_cast<fr *>(out);

    // Records are not sorted by constraint in general: each thread scans them
    // all and keeps those of its own constraint range, so no two threads
    // write one element. value (x) w is the Montgomery form of c * w, as the
    // value carries an extra 2^256.
#pragma omp parallel num_threads(nthreads)
    {
        const size_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        for (size_t k = 0; k < n_coefficients; k++) {
            record r = read_record(records + k * RECORD_BYTES);
            if (r.constraint < lo || r.constraint >= hi) continue;
            fr &dst = r.matrix == 0 ? a[r.constraint] : b[r.constraint];
            dst = add(dst, mul(r.value, witness[r.signal]));
        }
    }

    // Evaluate A, B and C = A.B on the odd coset w_2n <w_n>, where the .zkey's
    // H points live: inverse NTT, coefficient j times w_2n^j (with the
    // inverse's 1/n folded in), NTT.
    const fr root = root_of_unity(log_n);
    fill_powers(forward.data(), n / 2, root, fe_one<fr_params>(), nthreads);
    fill_powers(backward.data(), n / 2, inv(root), fe_one<fr_params>(), nthreads);
    fill_powers(shift.data(), n, root_of_unity(log_n + 1), inv(fr_from_u64(n)), nthreads);
    const bool parallel = n >= PARALLEL_MIN;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
    for (size_t i = 0; i < n; i++) c[i] = mul(a[i], b[i]);
    for (fr *poly : {a.data(), b.data(), c}) {
        ntt_core(poly, log_n, backward.data(), nthreads);
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
        for (size_t i = 0; i < n; i++) poly[i] = mul(poly[i], shift[i]);
        ntt_core(poly, log_n, forward.data(), nthreads);
    }
#pragma omp parallel for schedule(static) num_threads(nthreads) if (parallel)
    for (size_t i = 0; i < n; i++) c[i] = from_montgomery(sub(mul(a[i], b[i]), c[i]));
    return PN_OK;
}

}  // namespace

#endif
