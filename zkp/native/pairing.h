// The BN254 optimal ate pairing, for Groth16 verification: the tower
// Fq6 = Fq2[v]/(v^3 - (9 + u)), Fq12 = Fq6[w]/(w^2 - v), lines of G2 points
// (prepared once per point, so a verification key's fixed points are
// prepared once per key), the Miller loop of many pairs at once, the final
// exponentiation, and G2's subgroup check. On top of bn254.h's Fq and Fq2;
// host only, included by each kernels_*.cpp through verify.h, so it runs on
// the field product those chose.
//
// The Miller loop keeps T in homogeneous projective coordinates: no
// inversion per step (Costello, Lange and Naehrig 2010, "Faster pairing
// computations on curves with high-degree twists", the formulas arkworks
// uses for a D-type twist), and each line is sparse in Fq12, so multiplying
// it in costs 13 Fq2 products instead of 18. Pairs share the squarings of
// the accumulator: n pairs cost one loop's squarings plus n lines a step.
// The final exponentiation's hard part is Fuentes-Castaneda, Knapp and
// Rodriguez-Henriquez's (2011) chain of three exponentiations by the curve
// parameter x; it computes e^(2x(6x^2 + 3x + 1)) rather than e, a power
// coprime to r, so whether a product of pairings is one is unchanged.

#ifndef PN_PAIRING_H
#define PN_PAIRING_H

#include "bn254.h"

namespace pn {
namespace pairing {

// ------------------------------------------------------------------ Fq6

struct fq6 {
    fq2 c0, c1, c2;
};

struct fq12 {
    fq6 c0, c1;
};

static inline fq2 fq2_zero() {
    fq2 z;
    set_zero(z);
    return z;
}

static inline fq2 fq2_one() {
    fq2 o;
    set_one(o);
    return o;
}

// a * (9 + u) = (9 a0 - a1) + (a0 + 9 a1) u
static inline fq2 mul_by_xi(const fq2 &a) {
    fq a8_0 = dbl(dbl(dbl(a.c0)));
    fq a8_1 = dbl(dbl(dbl(a.c1)));
    fq a9_0 = add(a8_0, a.c0);
    fq a9_1 = add(a8_1, a.c1);
    return fq2{sub(a9_0, a.c1), add(a.c0, a9_1)};
}

static inline fq2 conj(const fq2 &a) { return fq2{a.c0, neg(a.c1)}; }

static inline fq2 mul_by_fq(const fq2 &a, const fq &s) { return fq2{mul(a.c0, s), mul(a.c1, s)}; }

static inline fq6 add(const fq6 &a, const fq6 &b) {
    return fq6{pn::add(a.c0, b.c0), pn::add(a.c1, b.c1), pn::add(a.c2, b.c2)};
}
static inline fq6 sub(const fq6 &a, const fq6 &b) {
    return fq6{pn::sub(a.c0, b.c0), pn::sub(a.c1, b.c1), pn::sub(a.c2, b.c2)};
}
static inline fq6 neg(const fq6 &a) { return fq6{pn::neg(a.c0), pn::neg(a.c1), pn::neg(a.c2)}; }

// Karatsuba over Fq2: six Fq2 products.
static inline fq6 mul(const fq6 &a, const fq6 &b) {
    fq2 t0 = pn::mul(a.c0, b.c0), t1 = pn::mul(a.c1, b.c1), t2 = pn::mul(a.c2, b.c2);
    fq2 c0 = pn::sub(pn::sub(pn::mul(pn::add(a.c1, a.c2), pn::add(b.c1, b.c2)), t1), t2);
    fq2 c1 = pn::sub(pn::sub(pn::mul(pn::add(a.c0, a.c1), pn::add(b.c0, b.c1)), t0), t1);
    fq2 c2 = pn::sub(pn::sub(pn::mul(pn::add(a.c0, a.c2), pn::add(b.c0, b.c2)), t0), t2);
    return fq6{pn::add(t0, mul_by_xi(c0)), pn::add(c1, mul_by_xi(t2)), pn::add(c2, t1)};
}

// a * (b0 + b1 v): five Fq2 products.
static inline fq6 mul_by_01(const fq6 &a, const fq2 &b0, const fq2 &b1) {
    fq2 t0 = pn::mul(a.c0, b0), t1 = pn::mul(a.c1, b1);
    fq2 c0 = pn::add(mul_by_xi(pn::mul(a.c2, b1)), t0);
    fq2 c1 = pn::sub(pn::sub(pn::mul(pn::add(b0, b1), pn::add(a.c0, a.c1)), t0), t1);
    fq2 c2 = pn::add(pn::sub(pn::mul(pn::add(a.c0, a.c2), b0), t0), t1);
    return fq6{c0, c1, c2};
}

// a * v = (xi a2, a0, a1)
static inline fq6 mul_by_v(const fq6 &a) { return fq6{mul_by_xi(a.c2), a.c0, a.c1}; }

static inline fq6 inv(const fq6 &a) {
    fq2 A = pn::sub(pn::sqr(a.c0), mul_by_xi(pn::mul(a.c1, a.c2)));
    fq2 B = pn::sub(mul_by_xi(pn::sqr(a.c2)), pn::mul(a.c0, a.c1));
    fq2 C = pn::sub(pn::sqr(a.c1), pn::mul(a.c0, a.c2));
    fq2 F = pn::add(pn::mul(a.c0, A), mul_by_xi(pn::add(pn::mul(a.c2, B), pn::mul(a.c1, C))));
    fq2 t = pn::inv(F);
    return fq6{pn::mul(A, t), pn::mul(B, t), pn::mul(C, t)};
}

static inline bool eq(const fq6 &a, const fq6 &b) {
    return pn::eq(a.c0, b.c0) && pn::eq(a.c1, b.c1) && pn::eq(a.c2, b.c2);
}

// ------------------------------------------------------------------ Fq12

static inline fq12 fq12_one() { return fq12{fq6{fq2_one(), fq2_zero(), fq2_zero()}, fq6{fq2_zero(), fq2_zero(), fq2_zero()}}; }

// Karatsuba over Fq6, w^2 = v: three Fq6 products.
static inline fq12 mul(const fq12 &a, const fq12 &b) {
    fq6 t0 = mul(a.c0, b.c0), t1 = mul(a.c1, b.c1);
    fq6 c1 = sub(sub(mul(add(a.c0, a.c1), add(b.c0, b.c1)), t0), t1);
    return fq12{add(t0, mul_by_v(t1)), c1};
}

// (a0 + a1 w)^2 = (a0 + a1)(a0 + v a1) - t - v t + 2 t w, t = a0 a1: two Fq6 products.
static inline fq12 sqr(const fq12 &a) {
    fq6 t = mul(a.c0, a.c1);
    fq6 c0 = sub(sub(mul(add(a.c0, a.c1), add(a.c0, mul_by_v(a.c1))), t), mul_by_v(t));
    return fq12{c0, add(t, t)};
}

// a * (b0 + b3 w + b4 v w), the shape of a line: 13 Fq2 products.
static inline fq12 mul_by_034(const fq12 &a, const fq2 &b0, const fq2 &b3, const fq2 &b4) {
    fq6 t0{pn::mul(a.c0.c0, b0), pn::mul(a.c0.c1, b0), pn::mul(a.c0.c2, b0)};
    fq6 t1 = mul_by_01(a.c1, b3, b4);
    fq6 c1 = sub(sub(mul_by_01(add(a.c0, a.c1), pn::add(b0, b3), b4), t0), t1);
    return fq12{add(t0, mul_by_v(t1)), c1};
}

// f^(p^6): w^(p^6) = -w, as v is not a square in Fq6. On the norm-one
// elements the final exponentiation's first step leaves, it is the inverse.
static inline fq12 conj(const fq12 &a) { return fq12{a.c0, neg(a.c1)}; }

// 1 / (a0 + a1 w) = (a0 - a1 w) / (a0^2 - v a1^2)
static inline fq12 inv(const fq12 &a) {
    fq6 t = inv(sub(mul(a.c0, a.c0), mul_by_v(mul(a.c1, a.c1))));
    return fq12{mul(a.c0, t), neg(mul(a.c1, t))};
}

static inline bool eq(const fq12 &a, const fq12 &b) { return eq(a.c0, b.c0) && eq(a.c1, b.c1); }

// gamma_k = xi^(k (p - 1) / 6), k = 1..5, Montgomery form: f = sum_k a_k w^k
// (a_k in Fq2, w^6 = xi) has f^p = sum_k conj(a_k) gamma_k w^k. gamma_2 and
// gamma_3 also map twist points (psi, below).
static inline fq2 gamma(int k) {
    static const fq2 table[5] = {
        fq2{fq{{0xaf9ba69633144907, 0xca6b1d7387afb78a, 0x11bded5ef08a2087, 0x02f34d751a1f3a7c}},
            fq{{0xa222ae234c492d72, 0xd00f02a4565de15b, 0xdc2ff3a253dfc926, 0x10a75716b3899551}}},
        fq2{fq{{0xb5773b104563ab30, 0x347f91c8a9aa6454, 0x7a007127242e0991, 0x1956bcd8118214ec}},
            fq{{0x6e849f1ea0aa4757, 0xaa1c7b6d89f89141, 0xb6e713cdfae0ca3a, 0x26694fbb4e82ebc3}}},
        fq2{fq{{0xe4bbdd0c2936b629, 0xbb30f162e133bacb, 0x31a9d1b6f9645366, 0x253570bea500f8dd}},
            fq{{0xa1d77ce45ffe77c7, 0x07affd117826d1db, 0x6d16bd27bb7edc6b, 0x2c87200285defecc}}},
        fq2{fq{{0x7361d77f843abe92, 0xa5bb2bd3273411fb, 0x9c941f314b3e2399, 0x15df9cddbb9fd3ec}},
            fq{{0x5dddfd154bd8c949, 0x62cb29a5a4445b60, 0x37bc870a0c7dd2b9, 0x24830a9d3171f0fd}}},
        fq2{fq{{0xc970692f41690fe7, 0xe240342127694b0b, 0x32bee66b83c459e8, 0x12aabced0ab08841}},
            fq{{0x0d485d2340aebfa9, 0x05193418ab2fcc57, 0xd3b0a40b8a4910f5, 0x2f21ebb535d2925a}}}};
    return table[k - 1];
}

// f^p. In the struct, c0 = (a0, a2, a4) and c1 = (a1, a3, a5): v = w^2.
static inline fq12 frobenius(const fq12 &f) {
    return fq12{fq6{conj(f.c0.c0), pn::mul(conj(f.c0.c1), gamma(2)), pn::mul(conj(f.c0.c2), gamma(4))},
                fq6{pn::mul(conj(f.c1.c0), gamma(1)), pn::mul(conj(f.c1.c1), gamma(3)),
                    pn::mul(conj(f.c1.c2), gamma(5))}};
}

// ------------------------------------------------------------ Miller loop
//
// Q on the twist E': y^2 = x^3 + 3/(9 + u) maps into E(Fq12) by
// (x, y) -> (x w^2, y w^3). A line through points of the twist, evaluated at
// P = (xP, yP) of G1, is c0 yP + c1 xP w + c2 v w up to a factor in Fq2,
// which the final exponentiation removes; `line` holds (c0, c1, c2), which
// depend on Q only.

struct line {
    fq2 c0, c1, c2;
};

// 6x + 2 for the BN parameter x = 4965661367192848881: 65 bits.
static const uint64_t ATE_LOOP_LO = 0x9d797039be763ba8ull;  // bits 0..63; bit 64 is set
static const uint64_t BN_X = 4965661367192848881ull;

// Lines per prepared point: a doubling for each of the 64 bits below the top
// one, an addition for each set bit, and the two additions of pi(Q), -pi^2(Q).
static const int LINES = 64 + __builtin_popcountll(ATE_LOOP_LO) + 2;

// T in homogeneous projective coordinates: (X : Y : Z) is (X/Z, Y/Z).
struct g2h {
    fq2 x, y, z;
};

static inline fq one_half() {
    return fq{{0x87bee7d24f060572, 0xd0fd2add2f1c6ae5, 0x8f5f7492fcfd4f44, 0x1f37631a3d9cbfac}};
}

// T = 2T; the tangent at T.
static inline line double_step(g2h &t) {
    fq2 b_twist;
    curve_b(b_twist);
    fq2 a = mul_by_fq(pn::mul(t.x, t.y), one_half());
    fq2 b = pn::sqr(t.y), c = pn::sqr(t.z);
    fq2 e = pn::mul(b_twist, pn::add(pn::dbl(c), c));
    fq2 f = pn::add(pn::dbl(e), e);
    fq2 g = mul_by_fq(pn::add(b, f), one_half());
    fq2 h = pn::sub(pn::sqr(pn::add(t.y, t.z)), pn::add(b, c));
    fq2 i = pn::sub(e, b);
    fq2 j = pn::sqr(t.x);
    fq2 ee = pn::sqr(e);
    t.x = pn::mul(a, pn::sub(b, f));
    t.y = pn::sub(pn::sqr(g), pn::add(pn::dbl(ee), ee));
    t.z = pn::mul(b, h);
    return line{pn::neg(h), pn::add(pn::dbl(j), j), i};
}

// T = T + Q for affine Q; the line through T and Q.
static inline line add_step(g2h &t, const affine<fq2> &q) {
    fq2 theta = pn::sub(t.y, pn::mul(q.y, t.z));
    fq2 lambda = pn::sub(t.x, pn::mul(q.x, t.z));
    fq2 c = pn::sqr(theta), d = pn::sqr(lambda);
    fq2 e = pn::mul(lambda, d);
    fq2 f = pn::mul(t.z, c);
    fq2 g = pn::mul(t.x, d);
    fq2 h = pn::sub(pn::add(e, f), pn::dbl(g));
    fq2 y = pn::sub(pn::mul(theta, pn::sub(g, h)), pn::mul(e, t.y));
    t.x = pn::mul(lambda, h);
    t.y = y;
    t.z = pn::mul(t.z, e);
    return line{lambda, pn::neg(theta), pn::sub(pn::mul(theta, q.x), pn::mul(lambda, q.y))};
}

// psi(Q) = (conj(x) gamma_2, conj(y) gamma_3), the twisted Frobenius: on G2 it
// is multiplication by p.
static inline affine<fq2> psi(const affine<fq2> &q) {
    return affine<fq2>{pn::mul(conj(q.x), gamma(2)), pn::mul(conj(q.y), gamma(3))};
}

// xi^((p^2 - 1) / 3), in Fq: -pi^2(Q) = (x xi^((p^2 - 1) / 3), y).
static inline fq frob2_x() {
    return fq{{0x3350c88e13e80b9c, 0x7dce557cdb5e56b9, 0x6001b4b8b615564a, 0x2682e617020217e0}};
}

// The LINES lines of the Miller loop of Q, a point of G2 other than infinity:
// those of f_{6x+2,Q}, then through [6x+2]Q and pi(Q), then through that sum
// and -pi^2(Q).
static inline void prepare(const affine<fq2> &q, line *out) {
    g2h t{q.x, q.y, fq2_one()};
    for (int i = 63; i >= 0; i--) {
        *out++ = double_step(t);
        if ((ATE_LOOP_LO >> i) & 1) *out++ = add_step(t, q);
    }
    *out++ = add_step(t, psi(q));
    *out++ = add_step(t, affine<fq2>{mul_by_fq(q.x, frob2_x()), q.y});
}

// f *= the line at P.
static inline void ell(fq12 &f, const line &l, const affine<fq> &p) {
    f = mul_by_034(f, mul_by_fq(l.c0, p.y), mul_by_fq(l.c1, p.x), l.c2);
}

// prod_i f_i(P_i) for n pairs of a G1 point (not infinity) and a prepared G2
// point's lines: one accumulator, squared once a step for all the pairs.
static inline fq12 miller_loop(const affine<fq> *p, const line *const *lines, size_t n) {
    fq12 f = fq12_one();
    int k = 0;
    for (int i = 63; i >= 0; i--) {
        if (i != 63) f = sqr(f);
        for (size_t j = 0; j < n; j++) ell(f, lines[j][k], p[j]);
        k++;
        if ((ATE_LOOP_LO >> i) & 1) {
            for (size_t j = 0; j < n; j++) ell(f, lines[j][k], p[j]);
            k++;
        }
    }
    for (int last = 0; last < 2; last++, k++)
        for (size_t j = 0; j < n; j++) ell(f, lines[j][k], p[j]);
    return f;
}

// --------------------------------------------------- final exponentiation

// a^x, square-and-multiply below x's top bit, bit 62.
static inline fq12 pow_x(const fq12 &a) {
    fq12 r = a;
    for (int i = 61; i >= 0; i--) {
        r = sqr(r);
        if ((BN_X >> i) & 1) r = mul(r, a);
    }
    return r;
}

// (a^x)^-1 for a of norm one, whose inverse is its conjugate.
static inline fq12 pow_neg_x(const fq12 &a) { return conj(pow_x(a)); }

// f^((p^12 - 1) / r * 2x(6x^2 + 3x + 1)). f != 0. The easy part
// f^((p^6 - 1)(p^2 + 1)) leaves an element of norm one; the hard part raises
// it to 2x(6x^2 + 3x + 1)(p^4 - p^2 + 1)/r through x-powers and Frobenius maps.
static inline fq12 final_exponentiation(const fq12 &f) {
    fq12 t = mul(conj(f), inv(f));
    fq12 r = mul(frobenius(frobenius(t)), t);
    fq12 y0 = pow_neg_x(r);
    fq12 y1 = sqr(y0);
    fq12 y2 = sqr(y1);
    fq12 y3 = mul(y2, y1);
    fq12 y4 = pow_neg_x(y3);
    fq12 y5 = sqr(y4);
    fq12 y6 = conj(pow_neg_x(y5));
    y3 = conj(y3);
    fq12 y7 = mul(y6, y4);
    fq12 y8 = mul(y7, y3);
    fq12 y9 = mul(y8, y1);
    fq12 y10 = mul(y8, y4);
    fq12 y11 = mul(y10, r);
    fq12 y13 = mul(frobenius(y9), y11);
    fq12 y14 = mul(frobenius(frobenius(y8)), y13);
    fq12 y15 = frobenius(frobenius(frobenius(mul(conj(r), y9))));
    return mul(y15, y14);
}

// ------------------------------------------------------------------ G2

// psi on XYZZ coordinates: conjugation commutes with the quotients.
static inline xyzz<fq2> psi(const xyzz<fq2> &q) {
    return xyzz<fq2>{pn::mul(conj(q.x), gamma(2)), pn::mul(conj(q.y), gamma(3)), conj(q.zz), conj(q.zzz)};
}

static inline bool same_point(const xyzz<fq2> &a, const xyzz<fq2> &b) {
    if (is_infinity(a) || is_infinity(b)) return is_infinity(a) && is_infinity(b);
    return pn::eq(pn::mul(a.x, b.zz), pn::mul(b.x, a.zz)) && pn::eq(pn::mul(a.y, b.zzz), pn::mul(b.y, a.zzz));
}

// The test below holds for the BN parameters x with x != 4 mod 13 and x != 92 mod 97.
static_assert(BN_X % 13 != 4 && BN_X % 97 != 92, "the G2 membership test does not apply");

// Whether Q, on the twist, is in the order-r subgroup G2:
// [x + 1]Q + psi([x]Q) + psi^2([x]Q) = psi^3([2x]Q), a 63-bit multiplication
// rather than the 254 bits of [r]Q = 0 (Dai, Lin, Zhao and Zhou 2022, "Fast
// subgroup membership testing for G1, G2 and GT on pairing-friendly curves",
// the test for BN curves; on G2, psi is multiplication by p). Infinity is in G2.
static inline bool in_g2(const affine<fq2> &q) {
    if (is_infinity(q)) return true;
    xyzz<fq2> xq = to_xyzz(q);
    for (int i = 61; i >= 0; i--) {
        xq = xyzz_double(xq);
        if ((BN_X >> i) & 1) xq = xyzz_add_affine(xq, q);
    }
    xyzz<fq2> psi_xq = psi(xq);
    xyzz<fq2> left = xyzz_add(xyzz_add(xyzz_add_affine(xq, q), psi_xq), psi(psi_xq));
    xyzz<fq2> right = psi(psi(psi(xyzz_double(xq))));
    return same_point(left, right);
}

}  // namespace pairing
}  // namespace pn

#endif
