// The gpu backend's CUDA kernels, loaded with cupy.RawModule by
// zkp/backends/gpu.py, which holds the order they run in and why. Each is a
// loop over independent items (launch.cuh) around one function of msm.cuh,
// ntt.cuh or bn254.h, so that the tests can run this file on the host.
//
// Arrays are the .zkey's layout as uint64 limbs (bn254.h): field elements
// and coordinates in Montgomery form, scalars in standard form; XYZZ points
// are x, y, zz, zzz. Counts and indices are uint64 unless named otherwise.

#include "launch.cuh"
#include "msm.cuh"
#include "ntt.cuh"

using namespace pn;

// ------------------------------------------------------------------ MSM

// entries[w * n + j] for the n points in use: point j is the key's point
// index[j], whose scalar is scalars[index[j]]; n * windows < 2^32.
PN_KERNEL pn_msm_entries(const uint64_t *scalars, const uint32_t *index, uint64_t n, uint32_t c,
                         uint32_t windows, uint64_t *entries) {
    PN_FOR(t, n * windows) {
        uint32_t w = (uint32_t)t / (uint32_t)n, j = (uint32_t)t % (uint32_t)n;
        entries[t] = msm_entry(scalars + 4 * (uint64_t)index[j], j, w, c);
    }
}

#define PN_CURVE_KERNELS(G, F)                                                                          \
    /* Segment s of the buckets' sorted entries (start: buckets + 1 offsets into entries; first:     \
       buckets + 1 running totals of segments of at most `limit` entries): its points' sum. */       \
    PN_KERNEL pn_##G##_bucket_entries(const uint64_t *bases, const uint64_t *entries, const uint64_t *start, \
                                      const uint64_t *first, uint32_t buckets, uint32_t limit,            \
                                      uint64_t segments, uint64_t *out) {                                 \
        PN_FOR(s, segments) {                                                                             \
            reinterpret_cast<xyzz<F> *>(out)[s] =                                                         \
                sum_entries(reinterpret_cast<const affine<F> *>(bases), entries,                          \
                            segment_items(start, first, buckets, limit, s));                              \
        }                                                                                                 \
    }                                                                                                     \
    /* The same over partial sums: buckets whose entries took several segments. */                       \
    PN_KERNEL pn_##G##_bucket_partials(const uint64_t *partials, const uint64_t *start, const uint64_t *first, \
                                       uint32_t buckets, uint32_t limit, uint64_t segments, uint64_t *out) { \
        PN_FOR(s, segments) {                                                                             \
            reinterpret_cast<xyzz<F> *>(out)[s] = sum_partials(                                           \
                reinterpret_cast<const xyzz<F> *>(partials), segment_items(start, first, buckets, limit, s)); \
        }                                                                                                 \
    }                                                                                                     \
    /* The first level of the window sums, over each window's 2^(c-1) + 1 items from the buckets'     \
       sums (partials[first[key]]), in `segments` segments per window. */                              \
    PN_KERNEL pn_##G##_window_first(const uint64_t *partials, const uint64_t *first, uint32_t c,           \
                                    uint32_t windows, uint32_t log_k, uint64_t segments, uint64_t *p,      \
                                    uint64_t *t) {                                                        \
        const bucket_items<F> items{reinterpret_cast<const xyzz<F> *>(partials), first, c};              \
        PN_FOR(i, windows * segments) {                                                                   \
            window_segment<F>(items, nullptr, ((uint64_t)1 << (c - 1)) + 1, log_k, 0,                     \
                              (uint32_t)(i / segments), i % segments, reinterpret_cast<xyzz<F> *>(p) + i, \
                              reinterpret_cast<xyzz<F> *>(t) + i);                                        \
        }                                                                                                 \
    }                                                                                                     \
    /* A later level, over the previous level's m sums per window. */                                   \
    PN_KERNEL pn_##G##_window_next(const uint64_t *prev_p, const uint64_t *prev_t, uint64_t m, uint32_t windows, \
                                   uint32_t log_k, uint32_t shift, uint64_t segments, uint64_t *p,         \
                                   uint64_t *t) {                                                         \
        const level_items<F> items{reinterpret_cast<const xyzz<F> *>(prev_t), m};                         \
        PN_FOR(i, windows * segments) {                                                                   \
            window_segment<F>(items, reinterpret_cast<const xyzz<F> *>(prev_p), m, log_k, shift,          \
                              (uint32_t)(i / segments), i % segments, reinterpret_cast<xyzz<F> *>(p) + i, \
                              reinterpret_cast<xyzz<F> *>(t) + i);                                        \
        }                                                                                                 \
    }                                                                                                     \
    PN_KERNEL pn_##G##_to_affine(const uint64_t *points, uint64_t n, uint64_t *out) {                       \
        PN_FOR(i, n) {                                                                                    \
            reinterpret_cast<affine<F> *>(out)[i] = to_affine(reinterpret_cast<const xyzz<F> *>(points)[i]); \
        }                                                                                                 \
    }

PN_CURVE_KERNELS(g1, fq)
PN_CURVE_KERNELS(g2, fq2)

// ------------------------------------------------------------------ NTT

// out[i] = first * g^i; g_first holds g then first.
PN_KERNEL pn_fr_powers(const uint64_t *g_first, uint64_t n, uint64_t *out) {
    const fr *gf = reinterpret_cast<const fr *>(g_first);
    PN_FOR(i, n) { reinterpret_cast<fr *>(out)[i] = power_at(gf[0], gf[1], i); }
}

// Swaps each pair (i, reverse(i)) once, from its smaller index.
PN_KERNEL pn_fr_bit_reverse(uint64_t *values, uint32_t log_n) {
    fr *a = reinterpret_cast<fr *>(values);
    PN_FOR(i, (uint64_t)1 << log_n) {
        uint32_t j = reverse_bits((uint32_t)i, log_n);
        if (i < j) {
            fr x = a[i];
            a[i] = a[j];
            a[j] = x;
        }
    }
}

PN_KERNEL pn_fr_ntt_stage(uint64_t *values, const uint64_t *twiddles, uint32_t log_n, uint32_t stage) {
    PN_FOR(k, (uint64_t)1 << (log_n - 1)) {
        ntt_butterfly(reinterpret_cast<fr *>(values), reinterpret_cast<const fr *>(twiddles), log_n, stage, k);
    }
}

// out[i] = a[i] * b[i]; out may be a.
PN_KERNEL pn_fr_mul(const uint64_t *a, const uint64_t *b, uint64_t n, uint64_t *out) {
    PN_FOR(i, n) {
        reinterpret_cast<fr *>(out)[i] = mul(reinterpret_cast<const fr *>(a)[i], reinterpret_cast<const fr *>(b)[i]);
    }
}

// a[i] *= s[0].
PN_KERNEL pn_fr_scale(uint64_t *a, const uint64_t *s, uint64_t n) {
    const fr factor = *reinterpret_cast<const fr *>(s);
    PN_FOR(i, n) { reinterpret_cast<fr *>(a)[i] = mul(reinterpret_cast<fr *>(a)[i], factor); }
}

// ------------------------------------------------------- Groth16 H step

// out[row] for the 2n rows of A and B on the domain (ntt.cuh's constraint_row).
PN_KERNEL pn_groth16_rows(const uint64_t *row_start, const uint32_t *signals, const uint64_t *values,
                          const uint64_t *witness, uint64_t rows, uint64_t *out) {
    PN_FOR(row, rows) {
        reinterpret_cast<fr *>(out)[row] = constraint_row(row_start, signals, reinterpret_cast<const fr *>(values),
                                                          reinterpret_cast<const fr *>(witness), row);
    }
}

// The H step's result on the odd coset, A.B - C, in standard form: the scalars of the H MSM.
PN_KERNEL pn_groth16_h(const uint64_t *a, const uint64_t *b, const uint64_t *c, uint64_t n, uint64_t *out) {
    const fr *x = reinterpret_cast<const fr *>(a), *y = reinterpret_cast<const fr *>(b),
             *z = reinterpret_cast<const fr *>(c);
    PN_FOR(i, n) { reinterpret_cast<fr *>(out)[i] = from_montgomery(sub(mul(x[i], y[i]), z[i])); }
}
