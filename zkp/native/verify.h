// Groth16 verification: checks of points, a verification key prepared once,
// and the check of a batch of proofs against it with one final
// exponentiation. Host only; included by each kernels_*.cpp (through
// kernels_table.h), hence the anonymous namespace.
//
// A batch of n proofs (A_i, B_i, C_i) with public inputs x_i and scalars r_i
// holds when
//
//   prod_i e(r_i A_i, B_i) * e(-(sum_i r_i) alpha, beta)
//       * e(-sum_j s_j IC_j, gamma) * e(-sum_i r_i C_i, delta) = 1,
//   s_0 = sum_i r_i, s_j = sum_i r_i x_ij,
//
// n + 3 Miller loops sharing one accumulator, and one final exponentiation.
// Each valid proof satisfies e(A, B) = e(alpha, beta) e(vk_x, gamma) e(C, delta),
// so a batch of valid proofs holds for every choice of r_i; with r_i random and
// unknown to the provers, an invalid proof makes it fail but with probability
// about 2^-(bits of r_i). One proof with r = 1 is the plain Groth16 check.

#ifndef PN_VERIFY_H
#define PN_VERIFY_H

#include <new>
#include <vector>

#include "arguments.h"
#include "bn254.h"
#include "kernels.h"
#include "msm.h"
#include "pairing.h"

namespace {

using namespace pn;

// A point's check, one status byte each (pn_g1_check, pn_g2_check).
enum { POINT_OK = 0, POINT_COORDINATE, POINT_OFF_CURVE, POINT_OUTSIDE_G2 };

template <class F> uint8_t point_status(const affine<F> &p) {
    if (!valid(p)) return POINT_COORDINATE;
    if (!is_on_curve(p)) return POINT_OFF_CURVE;
    return POINT_OK;
}

// G1 has cofactor 1: on the curve is in the group.
int g1_check(const uint64_t *points, void *status, size_t n) {
    if (n && (!points || !status)) return PN_ERR_NULL;
    const affine<fq> *p = reinterpret_cast<const affine<fq> *>(points);
    uint8_t *out = static_cast<uint8_t *>(status);
    for (size_t i = 0; i < n; i++) out[i] = point_status(p[i]);
    return PN_OK;
}

int g2_check(const uint64_t *points, void *status, size_t n) {
    if (n && (!points || !status)) return PN_ERR_NULL;
    const affine<fq2> *p = reinterpret_cast<const affine<fq2> *>(points);
    uint8_t *out = static_cast<uint8_t *>(status);
    for (size_t i = 0; i < n; i++) {
        out[i] = point_status(p[i]);
        if (out[i] == POINT_OK && !pairing::in_g2(p[i])) out[i] = POINT_OUTSIDE_G2;
    }
    return PN_OK;
}

// ------------------------------------------------------- fixed-base tables

// [k]P for the key's G1 points from a table of d 2^(jc) P, d = 1..2^(c-1),
// per window j of signed digits (booth_digit): 43 additions instead of 254
// doublings and ~127 additions.
const unsigned TABLE_BITS = 6;
const unsigned TABLE_WINDOWS = (255 + TABLE_BITS - 1) / TABLE_BITS;
const size_t TABLE_ENTRIES = (size_t)1 << (TABLE_BITS - 1);
const size_t TABLE_POINTS = TABLE_WINDOWS * TABLE_ENTRIES;

void build_table(const affine<fq> &p, affine<fq> *table, xyzz<fq> *scratch, fq *pre) {
    xyzz<fq> base = to_xyzz(p);
    for (unsigned j = 0; j < TABLE_WINDOWS; j++) {
        xyzz<fq> *row = scratch + j * TABLE_ENTRIES;
        affine<fq> base_affine = to_affine(base);
        row[0] = base;
        for (size_t d = 1; d < TABLE_ENTRIES; d++) row[d] = xyzz_add_affine(row[d - 1], base_affine);
        for (unsigned i = 0; i < TABLE_BITS; i++) base = xyzz_double(base);
    }
    batch_to_affine(scratch, table, TABLE_POINTS, pre);
}

xyzz<fq> table_mul(const affine<fq> *table, const uint64_t *k) {
    xyzz<fq> acc = xyzz_infinity<fq>();
    for (unsigned j = 0; j < TABLE_WINDOWS; j++) {
        int32_t d = booth_digit(k, j, TABLE_BITS);
        if (d > 0) acc = xyzz_add_affine(acc, table[j * TABLE_ENTRIES + d - 1]);
        if (d < 0) acc = xyzz_add_affine(acc, negate(table[j * TABLE_ENTRIES - d - 1]));
    }
    return acc;
}

// [k]P by double-and-add from k's top bit: the proofs' points, with k the
// batch's 128-bit scalars.
xyzz<fq> scalar_mul(const affine<fq> &p, const uint64_t *k) {
    xyzz<fq> acc = xyzz_infinity<fq>();
    int top = 255;
    while (top >= 0 && !((k[top / 64] >> (top % 64)) & 1)) top--;
    for (int i = top; i >= 0; i--) {
        acc = xyzz_double(acc);
        if ((k[i / 64] >> (i % 64)) & 1) acc = xyzz_add_affine(acc, p);
    }
    return acc;
}

// ------------------------------------------------------- the prepared key
//
// One buffer of uint64 words, made by groth16_prepare_key and read only by
// groth16_batch_check: the number of IC points, the lines of beta, gamma
// and delta, and the tables of alpha and of each IC point.

const size_t LINE_WORDS = sizeof(pairing::line) / 8;
const size_t TABLE_WORDS = TABLE_POINTS * sizeof(affine<fq>) / 8;

size_t key_words(size_t n_ic) { return 1 + 3 * pairing::LINES * LINE_WORDS + (1 + n_ic) * TABLE_WORDS; }

struct key_view {
    const pairing::line *lines[3];  // beta, gamma, delta
    const affine<fq> *alpha_table, *ic_tables;
};

key_view view(const uint64_t *key) {
    const pairing::line *lines = reinterpret_cast<const pairing::line *>(key + 1);
    const uint64_t *after_lines = key + 1 + 3 * pairing::LINES * LINE_WORDS;
    const affine<fq> *tables = reinterpret_cast<const affine<fq> *>(after_lines);
    return key_view{{lines, lines + pairing::LINES, lines + 2 * pairing::LINES}, tables,
                    tables + TABLE_POINTS};
}

// g1: alpha then the n_ic IC points, (1 + n_ic, 2, 4); g2: beta, gamma, delta,
// (3, 2, 2, 4). The points must have passed g1_check and g2_check, and the G2
// points must not be infinity (a key's never are). `out` holds key_words(n_ic).
int groth16_prepare_key(const uint64_t *g1, size_t n_ic, const uint64_t *g2, uint64_t *out) {
    if (!g1 || !g2 || !out) return PN_ERR_NULL;
    const affine<fq> *p = reinterpret_cast<const affine<fq> *>(g1);
    const affine<fq2> *q = reinterpret_cast<const affine<fq2> *>(g2);
    if (!all_valid(p, 1 + n_ic) || !all_valid(q, 3)) return PN_ERR_COORDINATE;
    for (int i = 0; i < 3; i++)
        if (is_infinity(q[i])) return PN_ERR_INFINITY;
    std::vector<xyzz<fq>> scratch;
    std::vector<fq> pre;
    try {
        scratch.resize(TABLE_POINTS);
        pre.resize(TABLE_POINTS);
    } catch (const std::bad_alloc &) {
        return PN_ERR_MEMORY;
    }
    out[0] = n_ic;
    pairing::line *lines = reinterpret_cast<pairing::line *>(out + 1);
    for (int i = 0; i < 3; i++) pairing::prepare(q[i], lines + i * pairing::LINES);
    affine<fq> *tables = reinterpret_cast<affine<fq> *>(out + 1 + 3 * pairing::LINES * LINE_WORDS);
    for (size_t i = 0; i < 1 + n_ic; i++)
        build_table(p[i], tables + i * TABLE_POINTS, scratch.data(), pre.data());
    return PN_OK;
}

// ------------------------------------------------------- pairing products

// prod_i e(P_i, Q_i) * prod_j e(F_j, fixed_j) == 1: pairs of affine points,
// the Q_i in G2, prepared here, and pairs of a G1 point and a prepared
// point's lines. A pair with a point at infinity is 1 and left out. 1, 0 or
// -PN_ERR_MEMORY.
int product_is_one(const affine<fq> *p, const affine<fq2> *q, size_t n, const affine<fq> *fixed_p,
                   const pairing::line *const *fixed, size_t n_fixed) {
    std::vector<affine<fq>> points;
    std::vector<pairing::line> lines;
    std::vector<const pairing::line *> refs;
    try {
        points.reserve(n + n_fixed);
        lines.resize(n * pairing::LINES);
        refs.reserve(n + n_fixed);
    } catch (const std::bad_alloc &) {
        return -PN_ERR_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_infinity(p[i]) || is_infinity(q[i])) continue;
        pairing::prepare(q[i], &lines[i * pairing::LINES]);
        points.push_back(p[i]);
        refs.push_back(&lines[i * pairing::LINES]);
    }
    for (size_t j = 0; j < n_fixed; j++) {
        if (is_infinity(fixed_p[j])) continue;
        points.push_back(fixed_p[j]);
        refs.push_back(fixed[j]);
    }
    pairing::fq12 f = pairing::miller_loop(points.data(), refs.data(), points.size());
    return pairing::eq(pairing::final_exponentiation(f), pairing::fq12_one()) ? 1 : 0;
}

// g1 (n, 2, 4) and g2 (n, 2, 2, 4) affine points, the G2 ones in G2 (not
// checked here). 1, 0 or -PN_ERR_*.
int pairing_product_is_one(const uint64_t *g1, const uint64_t *g2, size_t n) {
    if (n && (!g1 || !g2)) return -PN_ERR_NULL;
    const affine<fq> *p = reinterpret_cast<const affine<fq> *>(g1);
    const affine<fq2> *q = reinterpret_cast<const affine<fq2> *>(g2);
    if (!all_valid(p, n) || !all_valid(q, n)) return -PN_ERR_COORDINATE;
    return product_is_one(p, q, n, nullptr, nullptr, 0);
}

// ------------------------------------------------------- the batch check

// 1 if the batch holds, 0 if not, or -PN_ERR_*. key: groth16_prepare_key's,
// key_len words; s: the n_ic scalars s_j of the header; a, b, c: the n
// proofs' points, (n, 2, 4), (n, 2, 2, 4), (n, 2, 4), which must have passed
// g1_check and g2_check; r: the n scalars r_i. Scalars are standard form,
// below r.
int groth16_batch_check(const uint64_t *key, size_t key_len, const uint64_t *s, const uint64_t *a,
                        const uint64_t *b, const uint64_t *c, const uint64_t *r, size_t n) {
    if (!key || !s || (n && (!a || !b || !c || !r))) return -PN_ERR_NULL;
    if (key_len < 1 || key[0] > key_len || key_len != key_words(key[0])) return -PN_ERR_KEY;
    const size_t n_ic = key[0];
    const affine<fq> *pa = reinterpret_cast<const affine<fq> *>(a);
    const affine<fq2> *pb = reinterpret_cast<const affine<fq2> *>(b);
    const affine<fq> *pc = reinterpret_cast<const affine<fq> *>(c);
    if (!all_valid(pa, n) || !all_valid(pb, n) || !all_valid(pc, n)) return -PN_ERR_COORDINATE;
    if (!scalars_valid(s, n_ic) || !scalars_valid(r, n)) return -PN_ERR_SCALAR;
    const key_view k = view(key);

    // r_i A_i, then -s_0 alpha, -sum_j s_j IC_j and -sum_i r_i C_i, all made
    // affine with one inversion.
    const size_t m = n + 3;
    std::vector<xyzz<fq>> g1;
    std::vector<affine<fq>> p;
    std::vector<fq> pre;
    try {
        g1.resize(m);
        p.resize(m);
        pre.resize(m);
    } catch (const std::bad_alloc &) {
        return -PN_ERR_MEMORY;
    }
    xyzz<fq> sum_c = xyzz_infinity<fq>();
    for (size_t i = 0; i < n; i++) {
        g1[i] = scalar_mul(pa[i], r + 4 * i);
        sum_c = xyzz_add(sum_c, scalar_mul(pc[i], r + 4 * i));
    }
    xyzz<fq> vk_x = xyzz_infinity<fq>();
    for (size_t j = 0; j < n_ic; j++)
        vk_x = xyzz_add(vk_x, table_mul(k.ic_tables + j * TABLE_POINTS, s + 4 * j));
    g1[n] = negate(table_mul(k.alpha_table, s));
    g1[n + 1] = negate(vk_x);
    g1[n + 2] = negate(sum_c);
    batch_to_affine(g1.data(), p.data(), m, pre.data());
    return product_is_one(p.data(), pb, n, p.data() + n, k.lines, 3);
}

}  // namespace

#endif
