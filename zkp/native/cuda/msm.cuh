// The steps of the GPU's Pippenger MSM, as functions of one item each, for
// the kernels in kernels.cu; zkp/backends/gpu.py runs the steps in order:
//
// 1. entries: per (window w, point j) the signed digit d of the scalar
//    (booth_digit); an entry packs (bucket key << 32) | (j << 1) | (d < 0),
//    with key = w * 2^(c-1) + |d| - 1, or is NO_ENTRY for d = 0. Sorting the
//    64-bit entries (CuPy's radix sort) groups every bucket's points, and a
//    binary search per key (cupy.searchsorted) gives each bucket's range.
// 2. bucket sums: a long bucket (a circuit's witness has many equal values:
//    all its 0/1 signals land in bucket 1) would leave one thread adding for
//    all the others; so every bucket is cut into segments of at most L
//    entries, one thread per segment, and the partial sums of one bucket are
//    summed again in segments of L, until each bucket has one sum.
// 3. window sums sum_b b * B_b, as W = sum_i i * X_i over X_0 = 0 (no digit
//    is 0 in a bucket), X_b = B_b, reduced level by level: segment s of K
//    items gives L_s = sum_j j X_(sK+j) and T_s = sum_j X_(sK+j) with K
//    additions each (running sums), and W(X) = sum_s L_s + K * W(T). Each
//    level carries P = sum of the levels' L, scaled by their K^level, so the
//    window's sum is P once a level has one segment.
// 4. the windows' sums, to affine; the host adds up 2^(wc) times each.
//
// Points are XYZZ while summed (bn254.h): a mixed addition is 8M + 2S and
// needs no inversion.

#ifndef PN_CUDA_MSM_CUH
#define PN_CUDA_MSM_CUH

#include "launch.cuh"

namespace pn {

constexpr uint64_t NO_ENTRY = ~0ull;

// The curve operations of the loops below, called rather than inlined on the
// GPU, operands by value so that they stay in registers: inlined, each G2
// addition of a loop is some 40 Fq products of code, and ptxas took five
// minutes over kernels.cu instead of half a minute.
template <class F> PN_HD_CALL xyzz<F> add_call(xyzz<F> p, xyzz<F> q) { return xyzz_add(p, q); }
template <class F> PN_HD_CALL xyzz<F> add_affine_call(xyzz<F> p, affine<F> q) { return xyzz_add_affine(p, q); }
template <class F> PN_HD_CALL xyzz<F> double_call(xyzz<F> p) { return xyzz_double(p); }

PN_HD uint64_t msm_entry(const uint64_t *scalar, uint32_t point, uint32_t window, uint32_t c) {
    int32_t d = booth_digit(scalar, window, c);
    if (d == 0) return NO_ENTRY;
    uint64_t key = ((uint64_t)window << (c - 1)) | (uint32_t)((d < 0 ? -d : d) - 1);
    return (key << 32) | ((uint64_t)point << 1) | (uint64_t)(d < 0);
}

// The bucket whose segments include segment s: the last b < buckets with
// first[b] <= s. first is a running total of segments per bucket, so empty
// buckets repeat the first segment of the next one and are passed over.
PN_HD uint32_t segment_owner(const uint64_t *first, uint32_t buckets, uint64_t s) {
    uint32_t lo = 0, hi = buckets;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (first[mid] <= s) lo = mid;
        else hi = mid;
    }
    return lo;
}

// The items [lo, hi) of segment s: at most `limit` of its bucket's items
// start[b] .. start[b + 1].
struct segment_range {
    uint64_t lo, hi;
};

PN_HD segment_range segment_items(const uint64_t *start, const uint64_t *first, uint32_t buckets,
                                  uint32_t limit, uint64_t s) {
    uint32_t b = segment_owner(first, buckets, s);
    uint64_t lo = start[b] + (s - first[b]) * limit;
    uint64_t end = start[b + 1];
    return segment_range{lo, lo + limit < end ? lo + limit : end};
}

template <class F>
PN_HD xyzz<F> sum_entries(const affine<F> *bases, const uint64_t *entries, segment_range r) {
    xyzz<F> acc = xyzz_infinity<F>();
    for (uint64_t e = r.lo; e < r.hi; e++) {
        uint32_t v = (uint32_t)entries[e];
        affine<F> p = bases[v >> 1];
        acc = add_affine_call(acc, (v & 1) ? negate(p) : p);
    }
    return acc;
}

template <class F> PN_HD xyzz<F> sum_partials(const xyzz<F> *partials, segment_range r) {
    xyzz<F> acc = xyzz_infinity<F>();
    for (uint64_t e = r.lo; e < r.hi; e++) acc = add_call(acc, partials[e]);
    return acc;
}

// Item i of window w at the first level of step 3: X_0 = 0, X_b the sum of
// bucket b, which is partials[first[key]] unless the bucket is empty.
template <class F> struct bucket_items {
    const xyzz<F> *partials;
    const uint64_t *first;
    uint32_t c;
};

template <class F> PN_HD xyzz<F> item(const bucket_items<F> &items, uint32_t w, uint64_t i) {
    if (i == 0) return xyzz_infinity<F>();
    uint64_t key = ((uint64_t)w << (items.c - 1)) + i - 1;
    return items.first[key] < items.first[key + 1] ? items.partials[items.first[key]] : xyzz_infinity<F>();
}

// Item i of window w at later levels: the previous level's T, m per window.
template <class F> struct level_items {
    const xyzz<F> *t;
    uint64_t m;
};

template <class F> PN_HD xyzz<F> item(const level_items<F> &items, uint32_t w, uint64_t i) {
    return items.t[w * items.m + i];
}

// Segment s (of K = 2^log_k items) of window w at one level of step 3, over
// the level's m items: *t = sum_j X_(sK+j); *p = 2^shift * sum_j j X_(sK+j)
// plus the previous level's P of the same items (prev_p null at the first
// level). Running from the top item down, `acc` adds `running` before the
// item joins it, so item j is counted j times.
template <class F, class Items>
PN_HD void window_segment(const Items &items, const xyzz<F> *prev_p, uint64_t m, uint32_t log_k, uint32_t shift,
                          uint32_t w, uint64_t s, xyzz<F> *p, xyzz<F> *t) {
    const uint64_t k = (uint64_t)1 << log_k, lo = s * k;
    const uint64_t hi = lo + k < m ? lo + k : m;
    xyzz<F> running = xyzz_infinity<F>(), acc = xyzz_infinity<F>();
    for (uint64_t i = hi; i-- > lo;) {
        acc = add_call(acc, running);
        running = add_call(running, item(items, w, i));
    }
    for (uint32_t d = 0; d < shift; d++) acc = double_call(acc);
    if (prev_p)
        for (uint64_t i = lo; i < hi; i++) acc = add_call(acc, prev_p[w * m + i]);
    *p = acc;
    *t = running;
}

}  // namespace pn

#endif
