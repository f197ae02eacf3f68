// The BN254 optimal ate pairing, for Groth16 verification: the tower
// Fq6 = Fq2[v]/(v^3 - (9 + u)), Fq12 = Fq6[w]/(w^2 - v), the Miller loop
// and the final exponentiation, on top of bn254.h's Fq and Fq2. Host only;
// kernels_pairing.cpp exports the one entry point, pn_pairing_product_is_one.
//
// Correctness first: lines come from affine points of the twist (one Fq2
// inversion per step), products of Fq12 elements are general ones, and the
// final exponentiation is f^(p^6 - 1) (a conjugate over an inverse) raised
// to (p^2 + 1)(p^4 - p^2 + 1)/r by square-and-multiply. A pairing product of
// four pairs takes a few milliseconds, against a second in py_ecc.

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

// f^(p^6): w^(p^6) = -w, as v is not a square in Fq6.
static inline fq12 conj(const fq12 &a) { return fq12{a.c0, neg(a.c1)}; }

// 1 / (a0 + a1 w) = (a0 - a1 w) / (a0^2 - v a1^2)
static inline fq12 inv(const fq12 &a) {
    fq6 t = inv(sub(mul(a.c0, a.c0), mul_by_v(mul(a.c1, a.c1))));
    return fq12{mul(a.c0, t), neg(mul(a.c1, t))};
}

static inline bool eq(const fq12 &a, const fq12 &b) { return eq(a.c0, b.c0) && eq(a.c1, b.c1); }

// a^e, e little-endian limbs, square-and-multiply from the top bit.
static inline fq12 pow(const fq12 &a, const uint64_t *e, int limbs) {
    fq12 r = fq12_one();
    bool started = false;
    for (int i = limbs * 64 - 1; i >= 0; i--) {
        if (started) r = sqr(r);
        if ((e[i / 64] >> (i % 64)) & 1) {
            r = started ? mul(r, a) : a;
            started = true;
        }
    }
    return r;
}

// ------------------------------------------------------------ Miller loop
//
// Q on the twist E': y^2 = x^3 + 3/(9 + u) maps into E(Fq12) by
// (x, y) -> (x w^2, y w^3), with w^6 = 9 + u. The line through T and Q (or
// the tangent at T), slope l on the twist, evaluated at P = (xP, yP), is
//   yP - l xP w + (l xT - yT) w^3,   w^3 = v w,
// up to factors in proper subfields, which the final exponentiation kills.

typedef affine<fq2> g2a;

static inline fq12 line(const fq2 &slope, const g2a &t, const fq &xp, const fq &yp) {
    fq12 l;
    l.c0 = fq6{fq2{yp, fe_zero<fq_params>()}, fq2_zero(), fq2_zero()};
    fq2 s = pn::neg(slope);
    l.c1 = fq6{fq2{mul(s.c0, xp), mul(s.c1, xp)}, pn::sub(pn::mul(slope, t.x), t.y), fq2_zero()};
    return l;
}

// The vertical line x = xT: xP - xT w^2 (T + Q or 2T is infinity).
static inline fq12 vertical(const g2a &t, const fq &xp) {
    fq12 l;
    l.c0 = fq6{fq2{xp, fe_zero<fq_params>()}, pn::neg(t.x), fq2_zero()};
    l.c1 = fq6{fq2_zero(), fq2_zero(), fq2_zero()};
    return l;
}

// f *= line through T and Q at P; T += Q. `t_inf` marks T at infinity.
static inline void add_step(fq12 &f, g2a &t, bool &t_inf, const g2a &q, const fq &xp, const fq &yp) {
    if (t_inf) {
        t = q;
        t_inf = false;
        return;
    }
    if (pn::eq(t.x, q.x)) {
        if (pn::eq(t.y, q.y) && !is_zero(t.y)) {
            // T = Q: the tangent.
            fq2 xx = pn::sqr(t.x);
            fq2 slope = pn::mul(pn::add(pn::dbl(xx), xx), pn::inv(pn::dbl(t.y)));
            f = mul(f, line(slope, t, xp, yp));
            fq2 x3 = pn::sub(pn::sqr(slope), pn::dbl(t.x));
            t = g2a{x3, pn::sub(pn::mul(slope, pn::sub(t.x, x3)), t.y)};
        } else {
            f = mul(f, vertical(t, xp));
            t_inf = true;
        }
        return;
    }
    fq2 slope = pn::mul(pn::sub(q.y, t.y), pn::inv(pn::sub(q.x, t.x)));
    f = mul(f, line(slope, t, xp, yp));
    fq2 x3 = pn::sub(pn::sub(pn::sqr(slope), t.x), q.x);
    t = g2a{x3, pn::sub(pn::mul(slope, pn::sub(t.x, x3)), t.y)};
}

static inline void double_step(fq12 &f, g2a &t, bool &t_inf, const fq &xp, const fq &yp) {
    if (t_inf) return;
    if (is_zero(t.y)) {
        f = mul(f, vertical(t, xp));
        t_inf = true;
        return;
    }
    fq2 xx = pn::sqr(t.x);
    fq2 slope = pn::mul(pn::add(pn::dbl(xx), xx), pn::inv(pn::dbl(t.y)));
    f = mul(f, line(slope, t, xp, yp));
    fq2 x3 = pn::sub(pn::sqr(slope), pn::dbl(t.x));
    t = g2a{x3, pn::sub(pn::mul(slope, pn::sub(t.x, x3)), t.y)};
}

// 6x + 2 for the BN parameter x = 4965661367192848881: 65 bits.
static const uint64_t ATE_LOOP_LO = 0x9d797039be763ba8ull;  // bits 0..63; bit 64 is set

// xi^((p - 1) / 3), xi^((p - 1) / 2), xi^((p^2 - 1) / 3) in Montgomery form;
// xi^((p^2 - 1) / 2) = -1.
static inline fq2 frob_x1() {
    return fq2{fq{{0xb5773b104563ab30, 0x347f91c8a9aa6454, 0x7a007127242e0991, 0x1956bcd8118214ec}},
               fq{{0x6e849f1ea0aa4757, 0xaa1c7b6d89f89141, 0xb6e713cdfae0ca3a, 0x26694fbb4e82ebc3}}};
}
static inline fq2 frob_y1() {
    return fq2{fq{{0xe4bbdd0c2936b629, 0xbb30f162e133bacb, 0x31a9d1b6f9645366, 0x253570bea500f8dd}},
               fq{{0xa1d77ce45ffe77c7, 0x07affd117826d1db, 0x6d16bd27bb7edc6b, 0x2c87200285defecc}}};
}
static inline fq2 frob_x2() {
    return fq2{fq{{0x3350c88e13e80b9c, 0x7dce557cdb5e56b9, 0x6001b4b8b615564a, 0x2682e617020217e0}},
               fe_zero<fq_params>()};
}

// The Miller loop of the optimal ate pairing: f_{6x+2,Q}(P) times the lines
// through [6x+2]Q and pi(Q), then through that sum and -pi^2(Q).
static inline fq12 miller_loop(const affine<fq> &p, const g2a &q) {
    fq12 f = fq12_one();
    g2a t = q;
    bool t_inf = false;
    for (int i = 63; i >= 0; i--) {
        f = sqr(f);
        double_step(f, t, t_inf, p.x, p.y);
        if ((ATE_LOOP_LO >> i) & 1) add_step(f, t, t_inf, q, p.x, p.y);
    }
    g2a q1{pn::mul(conj(q.x), frob_x1()), pn::mul(conj(q.y), frob_y1())};
    g2a nq2{pn::mul(q.x, frob_x2()), q.y};
    add_step(f, t, t_inf, q1, p.x, p.y);
    add_step(f, t, t_inf, nq2, p.x, p.y);
    return f;
}

// (p^2 + 1)(p^4 - p^2 + 1)/r, 1268 bits, little-endian limbs.
static const uint64_t FINAL_EXP_HARD[20] = {
    0x5250a54036e3f812, 0xa5635f1596789051, 0xd1138bf54d5bd1d4, 0xa8ce2533be36c7a2, 0x94f69f6b84e09bf6,
    0x42ad1f5e50ef3644, 0x0fcc420e48c3454c, 0x758e4408ecc9952c, 0xc901bf1887c6042c, 0xa733cd65b14bb3b5,
    0xdf6d76bdcf51b0d8, 0xca64c0fd82eb59e1, 0x1d2e5726e39276a1, 0xc2d1ea74a391cae9, 0x07409206c82d647e,
    0x051c6d1aa5afdd17, 0xb37f601919667af5, 0x150e578c5084015b, 0xfbdea556c23998e4, 0x000fd14cc52f5b83};

// f^((p^12 - 1)/r) = (f^(p^6 - 1))^((p^2 + 1)(p^4 - p^2 + 1)/r). f != 0.
static inline fq12 final_exponentiation(const fq12 &f) {
    fq12 g = mul(conj(f), inv(f));
    return pow(g, FINAL_EXP_HARD, 20);
}

}  // namespace pairing
}  // namespace pn

#endif
