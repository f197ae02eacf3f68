// The gpu backend's arithmetic and kernels compiled for the host, for the
// tests only (tests/zkp/test_gpu_host.py builds this file with g++, and with
// nvcc's host compiler when nvcc is there; it is not part of the package).
//
// It includes kernels.cu itself, whose kernels become plain C functions
// (launch.cuh), and adds elementwise entry points for the field and curve
// operations the kernels use, with the GPU's field product (mul_32). Inputs
// are trusted: the tests pass reduced elements and points on the curve.

#include "kernels.cu"

namespace {

template <class T> const T *as(const uint64_t *p) { return reinterpret_cast<const T *>(p); }
template <class T> T *as(uint64_t *p) { return reinterpret_cast<T *>(p); }

// The affine point as XYZZ with Z = 3 rather than 1, so that the formulas'
// Z terms are not multiplications by one.
template <class F> xyzz<F> lift(const affine<F> &p) {
    if (is_infinity(p)) return xyzz_infinity<F>();
    F z;
    set_one(z);
    z = add(dbl(z), z);
    F zz = sqr(z), zzz = mul(zz, z);
    return xyzz<F>{mul(p.x, zz), mul(p.y, zzz), zz, zzz};
}

// k * p for a standard-form 256-bit k, double-and-add from the top bit.
template <class F> affine<F> scalar_mul(const affine<F> &p, const uint64_t *k) {
    xyzz<F> acc = xyzz_infinity<F>();
    for (int bit = 255; bit >= 0; bit--) {
        acc = xyzz_double(acc);
        if ((k[bit / 64] >> (bit % 64)) & 1) acc = xyzz_add_affine(acc, p);
    }
    return to_affine(acc);
}

}  // namespace

#define PN_FIELD_CHECKS(NAME, F)                                                                              \
    extern "C" void pn_check_##NAME##_mul(const uint64_t *a, const uint64_t *b, uint64_t n, uint64_t *out) { \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = mul(as<F>(a)[i], as<F>(b)[i]);                      \
    }                                                                                                         \
    extern "C" void pn_check_##NAME##_add(const uint64_t *a, const uint64_t *b, uint64_t n, uint64_t *out) { \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = add(as<F>(a)[i], as<F>(b)[i]);                      \
    }                                                                                                         \
    extern "C" void pn_check_##NAME##_sub(const uint64_t *a, const uint64_t *b, uint64_t n, uint64_t *out) { \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = sub(as<F>(a)[i], as<F>(b)[i]);                      \
    }                                                                                                         \
    extern "C" void pn_check_##NAME##_sqr(const uint64_t *a, uint64_t n, uint64_t *out) {                    \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = sqr(as<F>(a)[i]);                                   \
    }                                                                                                         \
    extern "C" void pn_check_##NAME##_inv(const uint64_t *a, uint64_t n, uint64_t *out) {                    \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = inv(as<F>(a)[i]);                                   \
    }

PN_FIELD_CHECKS(fq, fq)
PN_FIELD_CHECKS(fr, fr)
PN_FIELD_CHECKS(fq2, fq2)

#define PN_MONTGOMERY_CHECKS(NAME, F)                                                                  \
    extern "C" void pn_check_##NAME##_to_montgomery(const uint64_t *a, uint64_t n, uint64_t *out) {   \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = to_montgomery(as<F>(a)[i]);                  \
    }                                                                                                  \
    extern "C" void pn_check_##NAME##_from_montgomery(const uint64_t *a, uint64_t n, uint64_t *out) { \
        for (uint64_t i = 0; i < n; i++) as<F>(out)[i] = from_montgomery(as<F>(a)[i]);                \
    }

PN_MONTGOMERY_CHECKS(fq, fq)
PN_MONTGOMERY_CHECKS(fr, fr)

// Curve operations on affine points in and out: add (both operands XYZZ),
// add_affine (XYZZ plus affine, the bucket sums' addition), double, and
// mul by a standard-form scalar.
#define PN_CURVE_CHECKS(G, F)                                                                                \
    extern "C" void pn_check_##G##_add(const uint64_t *a, const uint64_t *b, uint64_t n, uint64_t *out) {   \
        for (uint64_t i = 0; i < n; i++)                                                                     \
            as<affine<F>>(out)[i] = to_affine(xyzz_add(lift(as<affine<F>>(a)[i]), lift(as<affine<F>>(b)[i]))); \
    }                                                                                                        \
    extern "C" void pn_check_##G##_add_affine(const uint64_t *a, const uint64_t *b, uint64_t n,            \
                                              uint64_t *out) {                                              \
        for (uint64_t i = 0; i < n; i++)                                                                     \
            as<affine<F>>(out)[i] = to_affine(xyzz_add_affine(lift(as<affine<F>>(a)[i]), as<affine<F>>(b)[i])); \
    }                                                                                                        \
    extern "C" void pn_check_##G##_double(const uint64_t *a, uint64_t n, uint64_t *out) {                   \
        for (uint64_t i = 0; i < n; i++) as<affine<F>>(out)[i] = to_affine(xyzz_double(lift(as<affine<F>>(a)[i]))); \
    }                                                                                                        \
    extern "C" void pn_check_##G##_mul(const uint64_t *a, const uint64_t *k, uint64_t n, uint64_t *out) {   \
        for (uint64_t i = 0; i < n; i++) as<affine<F>>(out)[i] = scalar_mul(as<affine<F>>(a)[i], k + 4 * i); \
    }

PN_CURVE_CHECKS(g1, fq)
PN_CURVE_CHECKS(g2, fq2)

// The signed digits of n scalars in windows of c bits, windows per scalar each.
extern "C" void pn_check_digits(const uint64_t *scalars, uint64_t n, uint32_t c, uint32_t windows, int32_t *out) {
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t w = 0; w < windows; w++) out[i * windows + w] = booth_digit(scalars + 4 * i, w, c);
}
