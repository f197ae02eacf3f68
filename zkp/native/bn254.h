// BN254 field and curve arithmetic shared by the CPU library (bn254.cpp and
// the kernels it calls) and the CUDA kernels: every function compiles for
// host and device, so this header uses no std library, exceptions or heap;
// it includes <stdint.h> (whose types NVRTC, CuPy's run-time CUDA compiler,
// lacks and gets here instead), and <x86intrin.h> for x86-64 hosts only.
//
// Layout is the one .zkey files store, so arrays are used where they lie:
// an element of Fq or Fr is 4 little-endian uint64 limbs in Montgomery form
// (x * 2^256 mod p); Fq2 = Fq[u]/(u^2 + 1) is c0 then c1; an affine point is
// x then y, all-zero meaning infinity (no curve point has x = y = 0).

#ifndef PN_BN254_H
#define PN_BN254_H

#ifdef __CUDACC_RTC__
typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#else
#include <stdint.h>
#endif
#if !defined(__CUDA_ARCH__) && defined(__x86_64__)
#include <x86intrin.h>
#endif

#ifdef __CUDACC__
#define PN_HD __host__ __device__ __forceinline__
#define PN_LEAF
// A function called, not inlined, on the GPU: see mul_32.
#define PN_HD_CALL __host__ __device__ __noinline__
#else
#define PN_HD static inline
// GCC leaves the field operations out of line in the large curve and
// bucket routines, and the calls, with operands forced through memory, cost
// a fifth of an MSM; forcing just these inline does not bloat the build as
// forcing every PN_HD function does.
#define PN_LEAF __attribute__((always_inline))
#define PN_HD_CALL static inline
#endif

#ifdef __CUDA_ARCH__
// Arrays in registers must be indexed by constants, or they spill to memory.
#define PN_UNROLL _Pragma("unroll")
#else
#define PN_UNROLL
#endif

namespace pn {

// ---------------------------------------------------------------- limbs

// The one 64x64 -> 128-bit multiply: returns the low word, *hi gets the high.
PN_HD PN_LEAF uint64_t mul_wide(uint64_t a, uint64_t b, uint64_t *hi) {
#ifdef __CUDA_ARCH__
    *hi = __umul64hi(a, b);
    return a * b;
#else
    unsigned __int128 p = (unsigned __int128)a * b;
    *hi = (uint64_t)(p >> 64);
    return (uint64_t)p;
#endif
}

// a + b + *carry and a - b - *borrow, carry and borrow 0 or 1. On x86-64
// the intrinsics compile to one adc / sbb each; GCC spills the equivalent
// unsigned __int128 sums to the stack instead.
PN_HD PN_LEAF uint64_t adc(uint64_t a, uint64_t b, uint64_t *carry) {
#if defined(__CUDA_ARCH__) || !defined(__x86_64__)
    uint64_t s = a + b;
    uint64_t c = s < a;
    uint64_t t = s + *carry;
    *carry = c + (t < s);
    return t;
#else
    unsigned long long t;
    *carry = _addcarry_u64((unsigned char)*carry, a, b, &t);
    return t;
#endif
}

PN_HD PN_LEAF uint64_t sbb(uint64_t a, uint64_t b, uint64_t *borrow) {
#if defined(__CUDA_ARCH__) || !defined(__x86_64__)
    uint64_t d = a - b;
    uint64_t c = a < b;
    uint64_t t = d - *borrow;
    *borrow = c + (d < *borrow);
    return t;
#else
    unsigned long long t;
    *borrow = _subborrow_u64((unsigned char)*borrow, a, b, &t);
    return t;
#endif
}

// a * b + c + *carry, which cannot overflow 128 bits; *carry gets the high word.
PN_HD PN_LEAF uint64_t mac(uint64_t a, uint64_t b, uint64_t c, uint64_t *carry) {
    uint64_t hi;
    uint64_t lo = mul_wide(a, b, &hi);
#ifdef __CUDA_ARCH__
    lo += c;
    hi += lo < c;
    lo += *carry;
    hi += lo < *carry;
    *carry = hi;
    return lo;
#else
    unsigned __int128 t = (((unsigned __int128)hi << 64) | lo) + c + *carry;
    *carry = (uint64_t)(t >> 64);
    return (uint64_t)t;
#endif
}

// ---------------------------------------------------------------- Fq, Fr

// Constants are scalar members rather than arrays: CUDA device code may read
// a constexpr scalar of the host, not a constexpr array.
struct fq_params {
    static constexpr uint64_t p0 = 0x3c208c16d87cfd47, p1 = 0x97816a916871ca8d,
                              p2 = 0xb85045b68181585d, p3 = 0x30644e72e131a029;
    // -p^-1 mod 2^64
    static constexpr uint64_t inv = 0x87d20782e4866389;
    // 2^512 mod p, to enter Montgomery form with one product
    static constexpr uint64_t r2_0 = 0xf32cfc5b538afa89, r2_1 = 0xb5e71911d44501fb,
                              r2_2 = 0x47ab1eff0a417ff6, r2_3 = 0x06d89f71cab8351f;
    // 2^256 mod p: one in Montgomery form
    static constexpr uint64_t one0 = 0xd35d438dc58f0d9d, one1 = 0x0a78eb28f5c70b3d,
                              one2 = 0x666ea36f7879462c, one3 = 0x0e0a77c19a07df2f;
};

struct fr_params {
    static constexpr uint64_t p0 = 0x43e1f593f0000001, p1 = 0x2833e84879b97091,
                              p2 = 0xb85045b68181585d, p3 = 0x30644e72e131a029;
    static constexpr uint64_t inv = 0xc2e1f593efffffff;
    static constexpr uint64_t r2_0 = 0x1bb8e645ae216da7, r2_1 = 0x53fe3ab1e35c59e3,
                              r2_2 = 0x8c49833d53bb8085, r2_3 = 0x0216d0b17f4e44a5;
    static constexpr uint64_t one0 = 0xac96341c4ffffffb, one1 = 0x36fc76959f60cd29,
                              one2 = 0x666ea36f7879462e, one3 = 0x0e0a77c19a07df2f;
};

// Distinct types per modulus, so that an Fq value cannot reach an Fr function.
template <class M> struct fe {
    uint64_t l[4];
};
typedef fe<fq_params> fq;
typedef fe<fr_params> fr;

template <class M> PN_HD fe<M> fe_one() { return fe<M>{{M::one0, M::one1, M::one2, M::one3}}; }
template <class M> PN_HD fe<M> fe_zero() { return fe<M>{{0, 0, 0, 0}}; }

template <class M> PN_HD PN_LEAF bool is_zero(const fe<M> &a) {
    return (a.l[0] | a.l[1] | a.l[2] | a.l[3]) == 0;
}

template <class M> PN_HD PN_LEAF bool eq(const fe<M> &a, const fe<M> &b) {
    return ((a.l[0] ^ b.l[0]) | (a.l[1] ^ b.l[1]) | (a.l[2] ^ b.l[2]) | (a.l[3] ^ b.l[3])) == 0;
}

// Whether the limbs are a canonical element (below p): callers check inputs with it.
template <class M> PN_HD bool is_reduced(const uint64_t *a) {
    uint64_t borrow = 0;
    sbb(a[0], M::p0, &borrow);
    sbb(a[1], M::p1, &borrow);
    sbb(a[2], M::p2, &borrow);
    sbb(a[3], M::p3, &borrow);
    return borrow != 0;
}

// t - p if t >= p, selected with a mask rather than a branch: whether t >= p
// is a coin flip on random data, which a branch predictor cannot learn.
template <class M> PN_HD PN_LEAF fe<M> reduce_once(uint64_t t0, uint64_t t1, uint64_t t2, uint64_t t3) {
    uint64_t borrow = 0;
    uint64_t d0 = sbb(t0, M::p0, &borrow);
    uint64_t d1 = sbb(t1, M::p1, &borrow);
    uint64_t d2 = sbb(t2, M::p2, &borrow);
    uint64_t d3 = sbb(t3, M::p3, &borrow);
    uint64_t keep = 0 - borrow;
    return fe<M>{{(t0 & keep) | (d0 & ~keep), (t1 & keep) | (d1 & ~keep),
                  (t2 & keep) | (d2 & ~keep), (t3 & keep) | (d3 & ~keep)}};
}

// p < 2^254, so a + b < 2^255 needs no fifth limb.
template <class M> PN_HD PN_LEAF fe<M> add(const fe<M> &a, const fe<M> &b) {
    uint64_t carry = 0;
    uint64_t s0 = adc(a.l[0], b.l[0], &carry);
    uint64_t s1 = adc(a.l[1], b.l[1], &carry);
    uint64_t s2 = adc(a.l[2], b.l[2], &carry);
    uint64_t s3 = adc(a.l[3], b.l[3], &carry);
    return reduce_once<M>(s0, s1, s2, s3);
}

template <class M> PN_HD PN_LEAF fe<M> sub(const fe<M> &a, const fe<M> &b) {
    uint64_t borrow = 0;
    uint64_t d0 = sbb(a.l[0], b.l[0], &borrow);
    uint64_t d1 = sbb(a.l[1], b.l[1], &borrow);
    uint64_t d2 = sbb(a.l[2], b.l[2], &borrow);
    uint64_t d3 = sbb(a.l[3], b.l[3], &borrow);
    uint64_t mask = 0 - borrow;
    uint64_t carry = 0;
    d0 = adc(d0, M::p0 & mask, &carry);
    d1 = adc(d1, M::p1 & mask, &carry);
    d2 = adc(d2, M::p2 & mask, &carry);
    d3 = adc(d3, M::p3 & mask, &carry);
    return fe<M>{{d0, d1, d2, d3}};
}

template <class M> PN_HD PN_LEAF fe<M> neg(const fe<M> &a) { return sub(fe_zero<M>(), a); }

template <class M> PN_HD PN_LEAF fe<M> dbl(const fe<M> &a) { return add(a, a); }

// Montgomery product a * b / 2^256 mod p, CIOS. Both moduli have a top limb
// below 2^62, so the running sum fits four limbs plus one word and the usual
// fifth carry word is dropped (the "no-carry" variant of gnark-crypto).
// Inputs must be below p; the output is.
template <class M> PN_HD fe<M> mul_portable(const fe<M> &a, const fe<M> &b) {
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t c = 0;
        uint64_t bi = b.l[i];
        t0 = mac(a.l[0], bi, t0, &c);
        t1 = mac(a.l[1], bi, t1, &c);
        t2 = mac(a.l[2], bi, t2, &c);
        t3 = mac(a.l[3], bi, t3, &c);
        uint64_t top = c;
        uint64_t m = t0 * M::inv;
        c = 0;
        mac(m, M::p0, t0, &c);
        t0 = mac(m, M::p1, t1, &c);
        t1 = mac(m, M::p2, t2, &c);
        t2 = mac(m, M::p3, t3, &c);
        t3 = top + c;
    }
    return reduce_once<M>(t0, t1, t2, t3);
}

#if defined(PN_MUL_ADX) && !defined(__CUDA_ARCH__)
// The same CIOS in x86-64 assembly for CPUs with BMI2 and ADX (the host
// library builds a second copy of its kernels with PN_MUL_ADX defined and
// picks one at run time): MULX leaves the flags alone, and ADCX / ADOX carry
// through CF and OF separately, so the low and high halves of each row of
// products are summed in two interleaved carry chains. C cannot express
// this and GCC does not derive it, and it halves the time of a product.
// The four rounds rotate the running sum through r0..r4 instead of moving
// it: after round i the sum is r(i+1)..r(i+4) mod 5, the result r4 r0 r1 r2.
template <class M> PN_HD PN_LEAF fe<M> mul_adx(const fe<M> &a, const fe<M> &b) {
    static const uint64_t p[5] = {M::p0, M::p1, M::p2, M::p3, M::inv};
    uint64_t r0, r1, r2, r3, r4, lo, hi, zero;
    __asm__(
        "movq %[b0], %%rdx\n\t"
        "mulxq %[a0], %[r0], %[r1]\n\t"
        "mulxq %[a1], %[lo], %[r2]\n\t"
        "addq %[lo], %[r1]\n\t"
        "mulxq %[a2], %[lo], %[r3]\n\t"
        "adcq %[lo], %[r2]\n\t"
        "mulxq %[a3], %[lo], %[r4]\n\t"
        "adcq %[lo], %[r3]\n\t"
        "adcq $0, %[r4]\n\t"
        "movq %[r0], %%rdx\n\t"
        "imulq %[inv], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[p0], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "mulxq %[p1], %[lo], %[r0]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "adoxq %[hi], %[r1]\n\t"
        "mulxq %[p2], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "adoxq %[r0], %[r2]\n\t"
        "mulxq %[p3], %[lo], %[r0]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[hi], %[r3]\n\t"
        "adcxq %[zero], %[r4]\n\t"
        "adoxq %[r0], %[r4]\n\t"
        "movq %[b1], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[a0], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r1]\n\t"
        "adcxq %[hi], %[r2]\n\t"
        "mulxq %[a1], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r2]\n\t"
        "adcxq %[hi], %[r3]\n\t"
        "mulxq %[a2], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r3]\n\t"
        "adcxq %[hi], %[r4]\n\t"
        "mulxq %[a3], %[lo], %[r0]\n\t"
        "adoxq %[lo], %[r4]\n\t"
        "adoxq %[zero], %[r0]\n\t"
        "adcxq %[zero], %[r0]\n\t"
        "movq %[r1], %%rdx\n\t"
        "imulq %[inv], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[p0], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "mulxq %[p1], %[lo], %[r1]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "adoxq %[hi], %[r2]\n\t"
        "mulxq %[p2], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[r1], %[r3]\n\t"
        "mulxq %[p3], %[lo], %[r1]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[hi], %[r4]\n\t"
        "adcxq %[zero], %[r0]\n\t"
        "adoxq %[r1], %[r0]\n\t"
        "movq %[b2], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[a0], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r2]\n\t"
        "adcxq %[hi], %[r3]\n\t"
        "mulxq %[a1], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r3]\n\t"
        "adcxq %[hi], %[r4]\n\t"
        "mulxq %[a2], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r4]\n\t"
        "adcxq %[hi], %[r0]\n\t"
        "mulxq %[a3], %[lo], %[r1]\n\t"
        "adoxq %[lo], %[r0]\n\t"
        "adoxq %[zero], %[r1]\n\t"
        "adcxq %[zero], %[r1]\n\t"
        "movq %[r2], %%rdx\n\t"
        "imulq %[inv], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[p0], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "mulxq %[p1], %[lo], %[r2]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[hi], %[r3]\n\t"
        "mulxq %[p2], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[r2], %[r4]\n\t"
        "mulxq %[p3], %[lo], %[r2]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "adoxq %[hi], %[r0]\n\t"
        "adcxq %[zero], %[r1]\n\t"
        "adoxq %[r2], %[r1]\n\t"
        "movq %[b3], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[a0], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r3]\n\t"
        "adcxq %[hi], %[r4]\n\t"
        "mulxq %[a1], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r4]\n\t"
        "adcxq %[hi], %[r0]\n\t"
        "mulxq %[a2], %[lo], %[hi]\n\t"
        "adoxq %[lo], %[r0]\n\t"
        "adcxq %[hi], %[r1]\n\t"
        "mulxq %[a3], %[lo], %[r2]\n\t"
        "adoxq %[lo], %[r1]\n\t"
        "adoxq %[zero], %[r2]\n\t"
        "adcxq %[zero], %[r2]\n\t"
        "movq %[r3], %%rdx\n\t"
        "imulq %[inv], %%rdx\n\t"
        "xorl %k[zero], %k[zero]\n\t"
        "mulxq %[p0], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "mulxq %[p1], %[lo], %[r3]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[hi], %[r4]\n\t"
        "mulxq %[p2], %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "adoxq %[r3], %[r0]\n\t"
        "mulxq %[p3], %[lo], %[r3]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "adoxq %[hi], %[r1]\n\t"
        "adcxq %[zero], %[r2]\n\t"
        "adoxq %[r3], %[r2]\n\t"
        : [r0] "=&r"(r0), [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [r4] "=&r"(r4),
          [lo] "=&r"(lo), [hi] "=&r"(hi), [zero] "=&r"(zero)
        : [a0] "m"(a.l[0]), [a1] "m"(a.l[1]), [a2] "m"(a.l[2]), [a3] "m"(a.l[3]),
          [b0] "m"(b.l[0]), [b1] "m"(b.l[1]), [b2] "m"(b.l[2]), [b3] "m"(b.l[3]),
          [p0] "m"(p[0]), [p1] "m"(p[1]), [p2] "m"(p[2]), [p3] "m"(p[3]), [inv] "m"(p[4])
        : "rdx", "cc");
    return reduce_once<M>(r4, r0, r1, r2);
}
#endif

// The same CIOS on eight 32-bit limbs, for GPUs (the CUDA kernels define
// PN_MUL_32): a GPU multiplies 32 x 32 -> 64 bits in one instruction
// (IMAD.WIDE) and a 64-bit product takes several, and a 64-bit running sum
// of one 32-bit product and two 32-bit words cannot overflow, so no carry
// needs detecting by comparison. nvcc makes a tenth fewer instructions of it
// for sm_90 than of mul_portable. Same limbs in memory: limb i of 32 bits is
// half i % 2 of 64-bit limb i / 2. The GPU calls it rather than inlining it
// (PN_HD_CALL) in every formula, which kept ptxas busy for minutes; the
// operands come by value, as a reference would put them in memory.
template <class M> PN_HD_CALL fe<M> mul_32(fe<M> a, fe<M> b) {
    const uint32_t p[8] = {(uint32_t)M::p0, (uint32_t)(M::p0 >> 32), (uint32_t)M::p1,
                           (uint32_t)(M::p1 >> 32), (uint32_t)M::p2, (uint32_t)(M::p2 >> 32),
                           (uint32_t)M::p3, (uint32_t)(M::p3 >> 32)};
    const uint32_t inv = (uint32_t)M::inv;
    uint32_t x[8], y[8], t[8];
    PN_UNROLL
    for (int i = 0; i < 4; i++) {
        x[2 * i] = (uint32_t)a.l[i];
        x[2 * i + 1] = (uint32_t)(a.l[i] >> 32);
        y[2 * i] = (uint32_t)b.l[i];
        y[2 * i + 1] = (uint32_t)(b.l[i] >> 32);
        t[2 * i] = t[2 * i + 1] = 0;
    }
    PN_UNROLL
    for (int i = 0; i < 8; i++) {
        uint64_t c = 0;
        PN_UNROLL
        for (int j = 0; j < 8; j++) {
            c += (uint64_t)x[j] * y[i] + t[j];
            t[j] = (uint32_t)c;
            c >>= 32;
        }
        uint32_t top = (uint32_t)c;
        // -p^-1 mod 2^32 is the low word of -p^-1 mod 2^64.
        uint32_t m = t[0] * inv;
        c = ((uint64_t)m * p[0] + t[0]) >> 32;
        PN_UNROLL
        for (int j = 1; j < 8; j++) {
            c += (uint64_t)m * p[j] + t[j];
            t[j - 1] = (uint32_t)c;
            c >>= 32;
        }
        t[7] = top + (uint32_t)c;
    }
    return reduce_once<M>((uint64_t)t[0] | (uint64_t)t[1] << 32, (uint64_t)t[2] | (uint64_t)t[3] << 32,
                          (uint64_t)t[4] | (uint64_t)t[5] << 32, (uint64_t)t[6] | (uint64_t)t[7] << 32);
}

template <class M> PN_HD PN_LEAF fe<M> mul(const fe<M> &a, const fe<M> &b) {
#if defined(PN_MUL_ADX) && !defined(__CUDA_ARCH__)
    return mul_adx(a, b);
#elif defined(PN_MUL_32)
    return mul_32(a, b);
#else
    return mul_portable(a, b);
#endif
}

template <class M> PN_HD PN_LEAF fe<M> sqr(const fe<M> &a) { return mul(a, a); }

template <class M> PN_HD fe<M> to_montgomery(const fe<M> &a) {
    return mul(a, fe<M>{{M::r2_0, M::r2_1, M::r2_2, M::r2_3}});
}

template <class M> PN_HD fe<M> from_montgomery(const fe<M> &a) {
    return mul(a, fe<M>{{1, 0, 0, 0}});
}

// a^e for a standard-form exponent e, square-and-multiply from the top bit.
template <class M> PN_HD fe<M> pow(const fe<M> &a, const uint64_t e[4]) {
    fe<M> r = fe_one<M>();
    for (int i = 255; i >= 0; i--) {
        r = sqr(r);
        if ((e[i / 64] >> (i % 64)) & 1) r = mul(r, a);
    }
    return r;
}

// a^(p-2), which is 1/a for a != 0 and 0 for a = 0.
template <class M> PN_HD fe<M> inv(const fe<M> &a) {
    const uint64_t e[4] = {M::p0 - 2, M::p1, M::p2, M::p3};
    return pow(a, e);
}

template <class M> PN_HD void set_one(fe<M> &a) { a = fe_one<M>(); }
template <class M> PN_HD void set_zero(fe<M> &a) { a = fe_zero<M>(); }

// ---------------------------------------------------------------- Fq2

struct fq2 {
    fq c0, c1;
};

PN_HD bool is_zero(const fq2 &a) { return is_zero(a.c0) && is_zero(a.c1); }
PN_HD bool eq(const fq2 &a, const fq2 &b) { return eq(a.c0, b.c0) && eq(a.c1, b.c1); }
PN_HD fq2 add(const fq2 &a, const fq2 &b) { return fq2{add(a.c0, b.c0), add(a.c1, b.c1)}; }
PN_HD fq2 sub(const fq2 &a, const fq2 &b) { return fq2{sub(a.c0, b.c0), sub(a.c1, b.c1)}; }
PN_HD fq2 neg(const fq2 &a) { return fq2{neg(a.c0), neg(a.c1)}; }
PN_HD fq2 dbl(const fq2 &a) { return fq2{dbl(a.c0), dbl(a.c1)}; }

// Karatsuba: three Fq products instead of four.
PN_HD fq2 mul(const fq2 &a, const fq2 &b) {
    fq v0 = mul(a.c0, b.c0);
    fq v1 = mul(a.c1, b.c1);
    fq cross = mul(add(a.c0, a.c1), add(b.c0, b.c1));
    return fq2{sub(v0, v1), sub(sub(cross, v0), v1)};
}

// (c0 + c1 u)^2 = (c0 + c1)(c0 - c1) + 2 c0 c1 u: two Fq products.
PN_HD fq2 sqr(const fq2 &a) {
    fq c0 = mul(add(a.c0, a.c1), sub(a.c0, a.c1));
    fq c1 = mul(a.c0, a.c1);
    return fq2{c0, dbl(c1)};
}

// 1 / (c0 + c1 u) = (c0 - c1 u) / (c0^2 + c1^2); zero maps to zero.
PN_HD fq2 inv(const fq2 &a) {
    fq t = inv(add(sqr(a.c0), sqr(a.c1)));
    return fq2{mul(a.c0, t), neg(mul(a.c1, t))};
}

PN_HD void set_one(fq2 &a) { a = fq2{fe_one<fq_params>(), fe_zero<fq_params>()}; }
PN_HD void set_zero(fq2 &a) { a = fq2{fe_zero<fq_params>(), fe_zero<fq_params>()}; }

// ---------------------------------------------------------------- curves

// b of y^2 = x^3 + b: 3 on G1, 3 / (9 + u) on the G2 twist; Montgomery form.
PN_HD void curve_b(fq &b) {
    b = fq{{0x7a17caa950ad28d7, 0x1f6ac17ae15521b9, 0x334bea4e696bd284, 0x2a1f6744ce179d8e}};
}
PN_HD void curve_b(fq2 &b) {
    b = fq2{fq{{0x3bf938e377b802a8, 0x020b1b273633535d, 0x26b7edf049755260, 0x2514c6324384a86d}},
            fq{{0x38e7ecccd1dcff67, 0x65f0b37d93ce0d3e, 0xd749d0dd22ac00aa, 0x0141b9ce4a688d4d}}};
}

template <class F> struct affine {
    F x, y;
};

// Extended Jacobian "XYZZ" coordinates: x = X/ZZ, y = Y/ZZZ with ZZ^3 = ZZZ^2;
// ZZ = 0 is infinity. Their mixed addition (8M + 2S) is the cheapest for
// bucket sums, and they need no "a" coefficient (a = 0 here anyway).
template <class F> struct xyzz {
    F x, y, zz, zzz;
};

template <class F> PN_HD bool is_infinity(const affine<F> &p) { return is_zero(p.x) && is_zero(p.y); }
template <class F> PN_HD bool is_infinity(const xyzz<F> &p) { return is_zero(p.zz); }

template <class F> PN_HD affine<F> affine_infinity() {
    affine<F> p;
    set_zero(p.x);
    set_zero(p.y);
    return p;
}

template <class F> PN_HD xyzz<F> xyzz_infinity() {
    xyzz<F> p;
    set_zero(p.x);
    set_one(p.y);
    set_zero(p.zz);
    set_zero(p.zzz);
    return p;
}

// -0 = 0 keeps infinity all-zero.
template <class F> PN_HD affine<F> negate(const affine<F> &p) { return affine<F>{p.x, neg(p.y)}; }

template <class F> PN_HD xyzz<F> negate(const xyzz<F> &p) { return xyzz<F>{p.x, neg(p.y), p.zz, p.zzz}; }

template <class F> PN_HD bool is_on_curve(const affine<F> &p) {
    if (is_infinity(p)) return true;
    F b;
    curve_b(b);
    return eq(sqr(p.y), add(mul(sqr(p.x), p.x), b));
}

template <class F> PN_HD xyzz<F> to_xyzz(const affine<F> &p) {
    if (is_infinity(p)) return xyzz_infinity<F>();
    xyzz<F> r;
    r.x = p.x;
    r.y = p.y;
    set_one(r.zz);
    set_one(r.zzz);
    return r;
}

// dbl-2008-s-1 with a = 0; infinity and 2-torsion points (y = 0) give ZZ = 0.
template <class F> PN_HD xyzz<F> xyzz_double(const xyzz<F> &p) {
    F u = dbl(p.y);
    F v = sqr(u);
    F w = mul(u, v);
    F s = mul(p.x, v);
    F xx = sqr(p.x);
    F m = add(dbl(xx), xx);
    xyzz<F> r;
    r.x = sub(sqr(m), dbl(s));
    r.y = sub(mul(m, sub(s, r.x)), mul(w, p.y));
    r.zz = mul(v, p.zz);
    r.zzz = mul(w, p.zzz);
    return r;
}

// mdbl-2008-s-1: the double of an affine point, ZZ = V and ZZZ = W directly.
template <class F> PN_HD xyzz<F> xyzz_double_affine(const affine<F> &p) {
    F u = dbl(p.y);
    F v = sqr(u);
    F w = mul(u, v);
    F s = mul(p.x, v);
    F xx = sqr(p.x);
    F m = add(dbl(xx), xx);
    xyzz<F> r;
    r.x = sub(sqr(m), dbl(s));
    r.y = sub(mul(m, sub(s, r.x)), mul(w, p.y));
    r.zz = v;
    r.zzz = w;
    return r;
}

// madd-2008-s: p + q for affine q.
template <class F> PN_HD xyzz<F> xyzz_add_affine(const xyzz<F> &p, const affine<F> &q) {
    if (is_infinity(q)) return p;
    if (is_infinity(p)) return to_xyzz(q);
    F u2 = mul(q.x, p.zz);
    F s2 = mul(q.y, p.zzz);
    F pp_ = sub(u2, p.x);
    F rr = sub(s2, p.y);
    if (is_zero(pp_)) return is_zero(rr) ? xyzz_double_affine(q) : xyzz_infinity<F>();
    F pp = sqr(pp_);
    F ppp = mul(pp_, pp);
    F qq = mul(p.x, pp);
    xyzz<F> r;
    r.x = sub(sub(sqr(rr), ppp), dbl(qq));
    r.y = sub(mul(rr, sub(qq, r.x)), mul(p.y, ppp));
    r.zz = mul(p.zz, pp);
    r.zzz = mul(p.zzz, ppp);
    return r;
}

// add-2008-s.
template <class F> PN_HD xyzz<F> xyzz_add(const xyzz<F> &p, const xyzz<F> &q) {
    if (is_infinity(q)) return p;
    if (is_infinity(p)) return q;
    F u1 = mul(p.x, q.zz);
    F u2 = mul(q.x, p.zz);
    F s1 = mul(p.y, q.zzz);
    F s2 = mul(q.y, p.zzz);
    F pp_ = sub(u2, u1);
    F rr = sub(s2, s1);
    if (is_zero(pp_)) return is_zero(rr) ? xyzz_double(p) : xyzz_infinity<F>();
    F pp = sqr(pp_);
    F ppp = mul(pp_, pp);
    F qq = mul(u1, pp);
    xyzz<F> r;
    r.x = sub(sub(sqr(rr), ppp), dbl(qq));
    r.y = sub(mul(rr, sub(qq, r.x)), mul(s1, ppp));
    r.zz = mul(mul(p.zz, q.zz), pp);
    r.zzz = mul(mul(p.zzz, q.zzz), ppp);
    return r;
}

// With z_inv = 1 / (ZZ * ZZZ), which batch inversion can supply.
template <class F> PN_HD affine<F> to_affine(const xyzz<F> &p, const F &z_inv) {
    if (is_infinity(p)) return affine_infinity<F>();
    return affine<F>{mul(p.x, mul(z_inv, p.zzz)), mul(p.y, mul(z_inv, p.zz))};
}

template <class F> PN_HD affine<F> to_affine(const xyzz<F> &p) {
    return to_affine(p, inv(mul(p.zz, p.zzz)));
}

// -------------------------------------------- batched affine addition

// Affine a + b costs one inversion; a batch of independent sums shares a
// single inversion (Montgomery's trick), leaving ~6 products per sum. A sum
// is split into: its kind, the denominator to invert, and the result from
// the inverted denominator. Kinds other than ADD and DOUBLE need no inverse
// and use 1 as denominator so that they do not zero the batch product.
enum { PAIR_ADD, PAIR_DOUBLE, PAIR_LEFT, PAIR_RIGHT, PAIR_INFINITY };

template <class F> PN_HD int pair_kind(const affine<F> &a, const affine<F> &b) {
    if (is_infinity(b)) return PAIR_LEFT;
    if (is_infinity(a)) return PAIR_RIGHT;
    if (!eq(a.x, b.x)) return PAIR_ADD;
    // Equal x: b = a or b = -a; a point with y = 0 has order 2 and doubles to infinity.
    return eq(a.y, b.y) && !is_zero(a.y) ? PAIR_DOUBLE : PAIR_INFINITY;
}

template <class F> PN_HD F pair_denominator(int kind, const affine<F> &a, const affine<F> &b) {
    if (kind == PAIR_ADD) return sub(b.x, a.x);
    if (kind == PAIR_DOUBLE) return dbl(a.y);
    F one;
    set_one(one);
    return one;
}

template <class F>
PN_HD affine<F> pair_sum(int kind, const affine<F> &a, const affine<F> &b, const F &den_inv) {
    if (kind == PAIR_LEFT) return a;
    if (kind == PAIR_RIGHT) return b;
    if (kind == PAIR_INFINITY) return affine_infinity<F>();
    F lambda;
    F x3;
    if (kind == PAIR_ADD) {
        lambda = mul(sub(b.y, a.y), den_inv);
        x3 = sub(sub(sqr(lambda), a.x), b.x);
    } else {
        F xx = sqr(a.x);
        lambda = mul(add(dbl(xx), xx), den_inv);
        x3 = sub(sqr(lambda), dbl(a.x));
    }
    return affine<F>{x3, sub(mul(lambda, sub(a.x, x3)), a.y)};
}

// ---------------------------------------------------------------- scalars

// Signed (Booth) window digit of a standard-form 256-bit scalar: window w of
// c bits, in [-2^(c-1), 2^(c-1)]. It reads bits [wc - 1, wc + c - 1] only, so
// each window is computed alone, with no carry chained from the window
// below; sum_w digit_w 2^(wc) = k as long as bit (nwin c - 1) of k is zero,
// which takes nwin = ceil(255 / c) windows for k < r < 2^254. c <= 30.
PN_HD int32_t booth_digit(const uint64_t k[4], unsigned w, unsigned c) {
    int lo = (int)(w * c) - 1;
    unsigned width = c + 1;
    uint64_t raw;
    if (lo < 0) {
        raw = (k[0] << 1) & ((1ull << width) - 1);
    } else {
        unsigned limb = (unsigned)lo / 64, off = (unsigned)lo % 64;
        raw = limb < 4 ? k[limb] >> off : 0;
        if (off + width > 64 && limb + 1 < 4) raw |= k[limb + 1] << (64 - off);
        raw &= (1ull << width) - 1;
    }
    return (int32_t)((raw >> 1) + (raw & 1)) - (int32_t)(((raw >> c) & 1) << c);
}

}  // namespace pn

#endif
