// The table of kernels one kernels_*.cpp exports under the name
// PN_KERNELS_TABLE, compiled with whichever field product that file chose.

#ifndef PN_KERNELS_TABLE_H
#define PN_KERNELS_TABLE_H

#include "kernels.h"
#include "msm.h"
#include "ntt.h"
#include "primitives.h"
#include "verify.h"

// Filled by name: a positional list would silently swap two entries of one type.
extern const pn_kernels PN_KERNELS_TABLE = [] {
    pn_kernels k{};
    k.name = PN_KERNELS_NAME;
    k.msm_g1 = msm<fq>;
    k.msm_g2 = msm<fq2>;
    k.g1_mul_many = mul_many<fq>;
    k.g2_mul_many = mul_many<fq2>;
    k.fr_ntt = fr_ntt;
    k.groth16_h = groth16_h;
    k.fp_mul = field_mul<fq>;
    k.fp_add = field_add<fq>;
    k.fp_sub = field_sub<fq>;
    k.fp_inv = field_inv<fq>;
    k.fp_to_montgomery = field_to_montgomery<fq>;
    k.fp_from_montgomery = field_from_montgomery<fq>;
    k.fr_mul = field_mul<fr>;
    k.fr_add = field_add<fr>;
    k.fr_sub = field_sub<fr>;
    k.fr_inv = field_inv<fr>;
    k.fr_to_montgomery = field_to_montgomery<fr>;
    k.fr_from_montgomery = field_from_montgomery<fr>;
    k.fp2_mul = field_mul<fq2>;
    k.fp2_sqr = field_sqr<fq2>;
    k.g1_add = point_add<fq>;
    k.g1_double = point_double<fq>;
    k.g1_negate = point_negate<fq>;
    k.g1_is_on_curve = point_is_on_curve<fq>;
    k.g2_add = point_add<fq2>;
    k.g2_double = point_double<fq2>;
    k.g2_negate = point_negate<fq2>;
    k.g2_is_on_curve = point_is_on_curve<fq2>;
    k.g1_check = g1_check;
    k.g2_check = g2_check;
    k.pairing_product_is_one = pairing_product_is_one;
    k.groth16_key_words = key_words;
    k.groth16_prepare_key = groth16_prepare_key;
    k.groth16_batch_check = groth16_batch_check;
    return k;
}();

#endif
