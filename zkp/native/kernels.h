// The boundary between the exported C ABI (bn254.cpp) and the kernels, which
// are compiled twice from the same sources: kernels_portable.cpp with the C
// field product of bn254.h, for any 64-bit CPU, and kernels_adx.cpp with its
// x86-64 BMI2/ADX assembly (half the time per product, an MSM 1.3 to 1.5
// times as fast). bn254.cpp calls through the table the CPU can run. Host only.

#ifndef PN_KERNELS_H
#define PN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Return codes of every entry point; bn254.cpp's pn_error_message words them.
enum {
    PN_OK = 0,
    PN_ERR_NULL,
    PN_ERR_SCALAR,
    PN_ERR_COORDINATE,
    PN_ERR_ELEMENT,
    PN_ERR_SIZE,
    PN_ERR_RECORD,
    PN_ERR_WITNESS,
    PN_ERR_MEMORY,
    PN_ERR_KERNELS,
    PN_ERR_INFINITY,
    PN_ERR_KEY,
};

// pn_g1_mul_many and pn_g2_mul_many share the MSM's shape, with one base.
typedef int pn_msm_fn(const uint64_t *bases, const uint64_t *scalars, size_t n, uint64_t *out, int threads);
typedef int pn_ntt_fn(uint64_t *values, size_t log_n, int inverse, int threads);
typedef int pn_h_fn(const void *coefficients, size_t n_coefficients, const uint64_t *witness, size_t n_vars,
                    size_t domain_size, uint64_t *out, int threads);
typedef int pn_binary_fn(const uint64_t *a, const uint64_t *b, void *out, size_t n);
typedef int pn_unary_fn(const uint64_t *a, void *out, size_t n);
// Groth16 verification (verify.h).
typedef int pn_pairing_fn(const uint64_t *g1, const uint64_t *g2, size_t n);
typedef size_t pn_key_words_fn(size_t n_ic);
typedef int pn_prepare_key_fn(const uint64_t *g1, size_t n_ic, const uint64_t *g2, uint64_t *out);
typedef int pn_batch_check_fn(const uint64_t *key, size_t key_len, const uint64_t *s, const uint64_t *a,
                              const uint64_t *b, const uint64_t *c, const uint64_t *r, size_t n);

struct pn_kernels {
    const char *name;
    pn_msm_fn *msm_g1, *msm_g2, *g1_mul_many, *g2_mul_many;
    pn_ntt_fn *fr_ntt;
    pn_h_fn *groth16_h;
    pn_binary_fn *fp_mul, *fp_add, *fp_sub, *fr_mul, *fr_add, *fr_sub, *fp2_mul, *g1_add, *g2_add;
    pn_unary_fn *fp_inv, *fp_to_montgomery, *fp_from_montgomery, *fr_inv, *fr_to_montgomery,
        *fr_from_montgomery, *fp2_sqr, *g1_double, *g1_negate, *g1_is_on_curve, *g2_double, *g2_negate,
        *g2_is_on_curve, *g1_check, *g2_check;
    pn_pairing_fn *pairing_product_is_one;
    pn_key_words_fn *groth16_key_words;
    pn_prepare_key_fn *groth16_prepare_key;
    pn_batch_check_fn *groth16_batch_check;
};

// Hidden: shared between this library's files, not part of its ABI.
#define PN_INTERNAL __attribute__((visibility("hidden")))
extern const pn_kernels pn_portable_kernels PN_INTERNAL;
#if defined(__x86_64__)
extern const pn_kernels pn_adx_kernels PN_INTERNAL;
#endif

#endif
