// The pairing check of Groth16 verification (pairing.h), exported for
// zkp/native.py. Built with bn254.h's portable C field product: a pairing
// product takes milliseconds, so it goes without bn254.cpp's choice of
// kernels.

#include "kernels.h"
#include "pairing.h"

using namespace pn;

extern "C" {

// prod_i e(P_i, Q_i) == 1 for n pairs: g1 is (n, 2, 4) affine G1 points, g2
// (n, 2, 2, 4) affine G2 points ([x|y][c0|c1]), coordinates in Montgomery
// form below q, all-zero for infinity; a pair with a point at infinity is
// skipped (its pairing is 1), as in py_ecc. The points must be on their
// curves and Q_i in the order-r subgroup: the caller checks, this does not.
// Returns 1 if the product is one, 0 if not, -PN_ERR_NULL or
// -PN_ERR_COORDINATE for bad arguments.
__attribute__((visibility("default"))) int pn_pairing_product_is_one(const uint64_t *g1, const uint64_t *g2,
                                                                     size_t n) {
    if (n && (!g1 || !g2)) return -PN_ERR_NULL;
    for (size_t i = 0; i < 2 * n; i++)
        if (!is_reduced<fq_params>(g1 + 4 * i)) return -PN_ERR_COORDINATE;
    for (size_t i = 0; i < 4 * n; i++)
        if (!is_reduced<fq_params>(g2 + 4 * i)) return -PN_ERR_COORDINATE;
    pairing::fq12 f = pairing::fq12_one();
    for (size_t i = 0; i < n; i++) {
        const uint64_t *a = g1 + 8 * i, *b = g2 + 16 * i;
        affine<fq> p{fq{{a[0], a[1], a[2], a[3]}}, fq{{a[4], a[5], a[6], a[7]}}};
        affine<fq2> q{fq2{fq{{b[0], b[1], b[2], b[3]}}, fq{{b[4], b[5], b[6], b[7]}}},
                      fq2{fq{{b[8], b[9], b[10], b[11]}}, fq{{b[12], b[13], b[14], b[15]}}}};
        if (is_infinity(p) || is_infinity(q)) continue;
        f = pairing::mul(f, pairing::miller_loop(p, q));
    }
    return pairing::eq(pairing::final_exponentiation(f), pairing::fq12_one()) ? 1 : 0;
}

}  // extern "C"
