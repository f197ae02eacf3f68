// Multi-scalar multiplication (Pippenger) and fixed-base multiplication of
// many scalars, both built on batched affine additions. Host only; included
// by each kernels_*.cpp, hence the anonymous namespace.
//
// No C++ exception may cross the ABI: allocation happens before parallel
// regions, inside a try that turns std::bad_alloc into PN_ERR_MEMORY.

#ifndef PN_MSM_H
#define PN_MSM_H

#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "arguments.h"
#include "bn254.h"
#include "kernels.h"

namespace {

using namespace pn;

// ------------------------------------------------ batched affine addition

// Montgomery's trick over `count` independent sums: one inversion, then
// three products per sum. `pairs` supplies load(k, a, b) and store(k, sum);
// a pair is loaded twice (denominators, then sums) rather than kept, as
// loading is a copy and keeping would double the scratch memory. den and pre
// hold `count` elements each.
template <class F, class Pairs> void batch_add(const Pairs &pairs, size_t count, F *den, F *pre) {
    F acc;
    set_one(acc);
    for (size_t k = 0; k < count; k++) {
        affine<F> a, b;
        pairs.load(k, a, b);
        F d = pair_denominator(pair_kind(a, b), a, b);
        den[k] = d;
        pre[k] = acc;
        acc = mul(acc, d);
    }
    F acc_inv = inv(acc);
    for (size_t k = count; k-- > 0;) {
        F d = den[k];
        den[k] = mul(acc_inv, pre[k]);
        acc_inv = mul(acc_inv, d);
    }
    for (size_t k = 0; k < count; k++) {
        affine<F> a, b;
        pairs.load(k, a, b);
        pairs.store(k, pair_sum(pair_kind(a, b), a, b, den[k]));
    }
}

// out[i] = affine form of in[i], with one inversion for the lot.
template <class F> void batch_to_affine(const xyzz<F> *in, affine<F> *out, size_t n, F *pre) {
    F acc;
    set_one(acc);
    for (size_t i = 0; i < n; i++) {
        pre[i] = acc;
        if (!is_infinity(in[i])) acc = mul(acc, mul(in[i].zz, in[i].zzz));
    }
    F acc_inv = inv(acc);
    for (size_t i = n; i-- > 0;) {
        if (is_infinity(in[i])) {
            out[i] = affine_infinity<F>();
            continue;
        }
        F d = mul(in[i].zz, in[i].zzz);
        out[i] = to_affine(in[i], mul(acc_inv, pre[i]));
        acc_inv = mul(acc_inv, d);
    }
}

// ------------------------------------------------------------------ MSM

// Pippenger with signed windows of c bits: per window, every point goes to
// bucket |digit| (negated when the digit is), buckets are summed, and
// sum_b b * bucket_b comes from two running sums. Buckets are summed in
// affine coordinates, in rounds that add the points of every bucket in
// pairs, all pairs of a round sharing one inversion (batch_add); a bucket of
// m points takes ceil(log2 m) rounds and m - 1 additions, with no conflicts
// to schedule since pairs never share a point.

struct pair_ref {
    uint32_t a, b, dst;
};

// A round halves each bucket in place, pair (o+2j, o+2j+1) -> o+j, which
// batch_add's ascending final pass never overwrites before reading it.
template <class F> struct bucket_round {
    const pair_ref *refs;
    affine<F> *points;
    void load(size_t k, affine<F> &a, affine<F> &b) const {
        a = points[refs[k].a];
        b = points[refs[k].b];
    }
    void store(size_t k, const affine<F> &s) const { points[refs[k].dst] = s; }
};

template <class F> void prefetch(const affine<F> *p) {
    for (size_t line = 0; line < sizeof(affine<F>); line += 64)
        __builtin_prefetch(reinterpret_cast<const char *>(p) + line);
}

// Points gathered ahead of use while sorting into buckets: bases are read in
// random order, and each one missing the cache would stall the gather.
const size_t GATHER_AHEAD = 16;

template <class F> struct msm_scratch {
    std::vector<int32_t> digit;
    // Per bucket: first slot, points left, next free slot while sorting.
    std::vector<uint32_t> start, size, fill;
    std::vector<uint32_t> order, active;
    std::vector<pair_ref> refs;
    std::vector<affine<F>> points;
    std::vector<F> den, pre;

    void reserve(size_t len, unsigned c) {
        size_t buckets = (size_t)1 << (c - 1);
        digit.resize(len);
        order.resize(len);
        points.resize(len);
        refs.reserve(len / 2 + 1);
        den.resize(len / 2 + 1);
        pre.resize(len / 2 + 1);
        start.resize(buckets + 1);
        size.resize(buckets + 1);
        fill.resize(buckets + 1);
        active.reserve(buckets);
    }
};

// Window w of sum_i scalars[i] * bases[i] over one chunk of points.
template <class F>
xyzz<F> msm_window(const affine<F> *bases, const uint64_t *scalars, size_t len, unsigned w, unsigned c,
                   msm_scratch<F> &s) {
    const uint32_t buckets = 1u << (c - 1);
    std::fill(s.size.begin(), s.size.begin() + buckets + 1, 0);
    for (size_t i = 0; i < len; i++) {
        int32_t d = is_infinity(bases[i]) ? 0 : booth_digit(scalars + 4 * i, w, c);
        s.digit[i] = d;
        s.size[d < 0 ? -d : d]++;
    }
    uint32_t placed = 0;
    for (uint32_t b = 1; b <= buckets; b++) {
        s.start[b] = s.fill[b] = placed;
        placed += s.size[b];
    }
    // order: (index << 1) | negative, grouped by bucket.
    for (size_t i = 0; i < len; i++) {
        int32_t d = s.digit[i];
        if (d != 0) s.order[s.fill[d < 0 ? -d : d]++] = (uint32_t)(i << 1) | (d < 0);
    }
    for (uint32_t k = 0; k < placed; k++) {
        if (k + GATHER_AHEAD < placed) prefetch(bases + (s.order[k + GATHER_AHEAD] >> 1));
        uint32_t entry = s.order[k];
        s.points[k] = (entry & 1) ? negate(bases[entry >> 1]) : bases[entry >> 1];
    }

    s.active.clear();
    for (uint32_t b = 1; b <= buckets; b++)
        if (s.size[b] > 1) s.active.push_back(b);
    while (!s.active.empty()) {
        s.refs.clear();
        for (uint32_t b : s.active) {
            uint32_t o = s.start[b], m = s.size[b];
            for (uint32_t j = 0; j < m / 2; j++) s.refs.push_back({o + 2 * j, o + 2 * j + 1, o + j});
        }
        batch_add(bucket_round<F>{s.refs.data(), s.points.data()}, s.refs.size(), s.den.data(), s.pre.data());
        size_t still = 0;
        for (uint32_t b : s.active) {
            uint32_t o = s.start[b], m = s.size[b];
            // The odd point moves down only now: its new slot was a pair's input.
            if (m & 1) s.points[o + m / 2] = s.points[o + m - 1];
            s.size[b] = (m + 1) / 2;
            if (s.size[b] > 1) s.active[still++] = b;
        }
        s.active.resize(still);
    }

    xyzz<F> running = xyzz_infinity<F>(), total = xyzz_infinity<F>();
    for (uint32_t b = buckets; b >= 1; b--) {
        if (s.size[b]) running = xyzz_add_affine(running, s.points[s.start[b]]);
        total = xyzz_add(total, running);
    }
    return total;
}

unsigned windows_for(unsigned c) { return (255 + c - 1) / c; }

// Window size minimising (windows) x (points + bucket-reduction work), in
// units of one batched affine addition: the reduction costs a mixed and a
// full XYZZ addition (~25 products) per bucket against ~7 for a point.
unsigned msm_window_bits(size_t points) {
    unsigned best = 1;
    double best_cost = 0;
    for (unsigned c = 1; c <= 20; c++) {
        double cost = windows_for(c) * ((double)points + 3.5 * (double)((size_t)1 << (c - 1)));
        if (c == 1 || cost < best_cost) best = c, best_cost = cost;
    }
    return best;
}

template <class F>
int msm(const uint64_t *bases_raw, const uint64_t *scalars, size_t n, uint64_t *out, int threads) {
    if (!out || (n && (!bases_raw || !scalars))) return PN_ERR_NULL;
    const affine<F> *bases = reinterpret_cast<const affine<F> *>(bases_raw);
    if (!scalars_valid(scalars, n)) return PN_ERR_SCALAR;
    if (!all_valid(bases, n)) return PN_ERR_COORDINATE;
    affine<F> *result = reinterpret_cast<affine<F> *>(out);
    if (n == 0) {
        *result = affine_infinity<F>();
        return PN_OK;
    }

    const int nthreads = thread_count(threads);
    // Chunks bound the scratch memory, and give idle threads work when there
    // are fewer windows than threads; each chunk pays its own bucket reduction,
    // so none is made smaller than 2^14 points for balance alone.
    const size_t max_chunk = ((size_t)1 << 24) / sizeof(affine<F>);
    size_t chunks = ceil_div(n, max_chunk);
    size_t wanted = ceil_div(2 * (size_t)nthreads, windows_for(msm_window_bits(n)));
    if (wanted > chunks) chunks = std::max(chunks, std::min(wanted, n >> 14));
    const size_t chunk_len = ceil_div(n, chunks);
    const unsigned c = msm_window_bits(chunk_len);
    const unsigned nwin = windows_for(c);
    const size_t tasks = chunks * nwin;

    std::vector<xyzz<F>> partial;
    std::vector<msm_scratch<F>> scratch;
    try {
        partial.resize(tasks);
        scratch.resize(nthreads);
        for (auto &s : scratch) s.reserve(chunk_len, c);
    } catch (const std::bad_alloc &) {
        return PN_ERR_MEMORY;
    }

#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t t = 0; t < tasks; t++) {
        size_t chunk = t / nwin;
        unsigned w = (unsigned)(t % nwin);
        size_t lo = chunk * chunk_len, len = std::min(chunk_len, n - lo);
        partial[t] = msm_window(bases + lo, scalars + 4 * lo, len, w, c, scratch[omp_get_thread_num()]);
    }

    xyzz<F> acc = xyzz_infinity<F>();
    for (unsigned w = nwin; w-- > 0;) {
        for (unsigned i = 0; i < c; i++) acc = xyzz_double(acc);
        for (size_t chunk = 0; chunk < chunks; chunk++) acc = xyzz_add(acc, partial[chunk * nwin + w]);
    }
    *result = to_affine(acc);
    return PN_OK;
}

// ---------------------------------------------------- fixed-base products

// out[i] = scalars[i] * base from a table of d * 2^(jw) * base for every
// window j and digit 1 <= d <= 2^(w-1): with signed digits each product is
// a sum of one table entry per window, no doublings. Products are built
// window by window for a chunk of scalars at once, so each window's
// additions are one batch_add sharing an inversion, and the table slice a
// window touches stays in cache.

template <class F> struct fixed_round {
    const affine<F> *table;  // this window's 2^(w-1) entries
    const uint64_t *scalars;
    affine<F> *acc;
    unsigned window, bits;
    void load(size_t k, affine<F> &a, affine<F> &b) const {
        a = acc[k];
        int32_t d = booth_digit(scalars + 4 * k, window, bits);
        b = d == 0 ? affine_infinity<F>() : d > 0 ? table[d - 1] : negate(table[-d - 1]);
    }
    void store(size_t k, const affine<F> &s) const { acc[k] = s; }
};

// Window size minimising table construction (~2.5 units an entry) plus one
// batched addition per window per scalar; capped where the table outgrows
// the caches it is meant to live in.
unsigned fixed_window_bits(size_t n) {
    unsigned best = 1;
    double best_cost = 0;
    for (unsigned w = 1; w <= 14; w++) {
        double cost = windows_for(w) * ((double)n + 2.5 * (double)((size_t)1 << (w - 1)));
        if (w == 1 || cost < best_cost) best = w, best_cost = cost;
    }
    return best;
}

const size_t FIXED_CHUNK = 1024;

template <class F>
int mul_many(const uint64_t *base_raw, const uint64_t *scalars, size_t n, uint64_t *out_raw, int threads) {
    if (!base_raw || (n && (!scalars || !out_raw))) return PN_ERR_NULL;
    const affine<F> base = *reinterpret_cast<const affine<F> *>(base_raw);
    if (!valid(base)) return PN_ERR_COORDINATE;
    if (!scalars_valid(scalars, n)) return PN_ERR_SCALAR;
    if (n == 0) return PN_OK;
    affine<F> *out = reinterpret_cast<affine<F> *>(out_raw);

    const int nthreads = thread_count(threads);
    const unsigned w = fixed_window_bits(n), nwin = windows_for(w);
    const size_t entries = (size_t)1 << (w - 1);
    std::vector<affine<F>> window_base, table;
    std::vector<xyzz<F>> multiples;
    std::vector<std::vector<F>> den, pre;
    try {
        window_base.resize(nwin);
        table.resize(nwin * entries);
        multiples.resize(nwin * entries);
        den.assign(nthreads, std::vector<F>(std::max(FIXED_CHUNK, entries)));
        pre.assign(nthreads, std::vector<F>(std::max(FIXED_CHUNK, entries)));
    } catch (const std::bad_alloc &) {
        return PN_ERR_MEMORY;
    }

    xyzz<F> power = to_xyzz(base);
    for (unsigned j = 0; j < nwin; j++) {
        window_base[j] = to_affine(power);
        for (unsigned i = 0; i < w; i++) power = xyzz_double(power);
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (unsigned j = 0; j < nwin; j++) {
        xyzz<F> *row = multiples.data() + j * entries;
        row[0] = to_xyzz(window_base[j]);
        for (size_t d = 1; d < entries; d++) row[d] = xyzz_add_affine(row[d - 1], window_base[j]);
        batch_to_affine(row, table.data() + j * entries, entries, pre[omp_get_thread_num()].data());
    }

    const size_t chunks = ceil_div(n, FIXED_CHUNK);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        size_t lo = chunk * FIXED_CHUNK, len = std::min(FIXED_CHUNK, n - lo);
        int t = omp_get_thread_num();
        for (size_t i = 0; i < len; i++) out[lo + i] = affine_infinity<F>();
        for (unsigned j = 0; j < nwin; j++)
            batch_add(fixed_round<F>{table.data() + j * entries, scalars + 4 * lo, out + lo, j, w}, len,
                      den[t].data(), pre[t].data());
    }
    return PN_OK;
}

}  // namespace

#endif
