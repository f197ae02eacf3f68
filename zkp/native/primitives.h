// Elementwise field and curve operations, exported for the tests to compare
// with Python integers; inputs are checked as the real entry points check
// them. Host only; included by each kernels_*.cpp, hence the anonymous
// namespace.

#ifndef PN_PRIMITIVES_H
#define PN_PRIMITIVES_H

#include "arguments.h"
#include "bn254.h"
#include "kernels.h"

namespace {

using namespace pn;

template <class In, class Out, class Op> int map1(const uint64_t *a, void *out, size_t n, Op op) {
    if (n && (!a || !out)) return PN_ERR_NULL;
    const In *x = reinterpret_cast<const In *>(a);
    if (!all_valid(x, n)) return PN_ERR_ELEMENT;
    Out *y = static_cast<Out *>(out);
    for (size_t i = 0; i < n; i++) y[i] = op(x[i]);
    return PN_OK;
}

template <class In, class Out, class Op>
int map2(const uint64_t *a, const uint64_t *b, void *out, size_t n, Op op) {
    if (n && (!a || !b || !out)) return PN_ERR_NULL;
    const In *x = reinterpret_cast<const In *>(a);
    const In *y = reinterpret_cast<const In *>(b);
    if (!all_valid(x, n) || !all_valid(y, n)) return PN_ERR_ELEMENT;
    Out *z = static_cast<Out *>(out);
    for (size_t i = 0; i < n; i++) z[i] = op(x[i], y[i]);
    return PN_OK;
}

template <class F> int field_mul(const uint64_t *a, const uint64_t *b, void *out, size_t n) {
    return map2<F, F>(a, b, out, n, [](const F &x, const F &y) { return mul(x, y); });
}
template <class F> int field_add(const uint64_t *a, const uint64_t *b, void *out, size_t n) {
    return map2<F, F>(a, b, out, n, [](const F &x, const F &y) { return add(x, y); });
}
template <class F> int field_sub(const uint64_t *a, const uint64_t *b, void *out, size_t n) {
    return map2<F, F>(a, b, out, n, [](const F &x, const F &y) { return sub(x, y); });
}
template <class F> int field_sqr(const uint64_t *a, void *out, size_t n) {
    return map1<F, F>(a, out, n, [](const F &x) { return sqr(x); });
}
template <class F> int field_inv(const uint64_t *a, void *out, size_t n) {
    return map1<F, F>(a, out, n, [](const F &x) { return inv(x); });
}
template <class F> int field_to_montgomery(const uint64_t *a, void *out, size_t n) {
    return map1<F, F>(a, out, n, [](const F &x) { return to_montgomery(x); });
}
template <class F> int field_from_montgomery(const uint64_t *a, void *out, size_t n) {
    return map1<F, F>(a, out, n, [](const F &x) { return from_montgomery(x); });
}

// The affine point as XYZZ with Z = 3 rather than 1, so that the tests reach
// the terms of the projective formulas that Z = 1 would multiply away.
template <class F> xyzz<F> lift(const affine<F> &p) {
    if (is_infinity(p)) return xyzz_infinity<F>();
    F z;
    set_one(z);
    z = add(dbl(z), z);
    F zz = sqr(z), zzz = mul(zz, z);
    return xyzz<F>{mul(p.x, zz), mul(p.y, zzz), zz, zzz};
}

template <class F> int point_add(const uint64_t *a, const uint64_t *b, void *out, size_t n) {
    return map2<affine<F>, affine<F>>(a, b, out, n, [](const affine<F> &p, const affine<F> &q) {
        return to_affine(xyzz_add(lift(p), lift(q)));
    });
}
template <class F> int point_double(const uint64_t *a, void *out, size_t n) {
    return map1<affine<F>, affine<F>>(a, out, n,
                                      [](const affine<F> &p) { return to_affine(xyzz_double(lift(p))); });
}
template <class F> int point_negate(const uint64_t *a, void *out, size_t n) {
    return map1<affine<F>, affine<F>>(a, out, n, [](const affine<F> &p) { return negate(p); });
}
template <class F> int point_is_on_curve(const uint64_t *a, void *out, size_t n) {
    return map1<affine<F>, uint8_t>(a, out, n, [](const affine<F> &p) { return (uint8_t)is_on_curve(p); });
}

}  // namespace

#endif
