// The C ABI of the BN254 library, loaded by zkp/native.py with ctypes.
// Arrays are the caller's numpy buffers in the .zkey layout (see bn254.h);
// nothing is converted on entry. Every function returns PN_OK (0) or an
// error code that pn_error_message words; `threads` <= 0 means all cores.
//
// Each call goes to the kernels the CPU can run best (see kernels.h).

#include <atomic>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kernels.h"

namespace {

const pn_kernels *best_kernels() {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & bit_BMI2) && (ebx & bit_ADX))
        return &pn_adx_kernels;
#endif
    return &pn_portable_kernels;
}

std::atomic<const pn_kernels *> active{best_kernels()};

const pn_kernels &kernels() { return *active.load(std::memory_order_relaxed); }

}  // namespace

extern "C" {

const char *pn_error_message(int code) {
    switch (code) {
        case PN_OK: return "success";
        case PN_ERR_NULL: return "a required array pointer is null";
        case PN_ERR_SCALAR: return "a scalar is not below the group order r";
        case PN_ERR_COORDINATE: return "a point coordinate is not below the base field modulus q";
        case PN_ERR_ELEMENT: return "a field element is not below its modulus";
        case PN_ERR_SIZE:
            return "unsupported size: the domain must be a power of two, at most 2^27 (2^28 for an NTT)";
        case PN_ERR_RECORD:
            return "a coefficient record is out of range (matrix not 0 or 1, constraint >= domain size, "
                   "signal >= number of variables, or value >= r)";
        case PN_ERR_WITNESS: return "a witness value is not below r";
        case PN_ERR_MEMORY: return "out of memory";
        case PN_ERR_KERNELS: return "no such kernels, or this CPU cannot run them";
        case PN_ERR_INFINITY: return "a verification key's G2 point is the point at infinity";
        case PN_ERR_KEY: return "not a prepared verification key (its length does not match)";
        default: return "unknown error";
    }
}

// "adx" (x86-64 with BMI2 and ADX) or "portable".
const char *pn_kernels_name(void) { return kernels().name; }

// Switches every later call to the kernels named "adx" or "portable"; for
// tests and benchmarks, which compare the two. Not while other calls run.
int pn_select_kernels(const char *name) {
    if (!name) return PN_ERR_NULL;
    const pn_kernels *wanted = nullptr;
    if (std::strcmp(name, "portable") == 0) wanted = &pn_portable_kernels;
    if (std::strcmp(name, "adx") == 0 && best_kernels() != &pn_portable_kernels) wanted = best_kernels();
    if (!wanted) return PN_ERR_KERNELS;
    active.store(wanted, std::memory_order_relaxed);
    return PN_OK;
}

int pn_msm_g1(const uint64_t *bases, const uint64_t *scalars, size_t n, uint64_t *out, int threads) {
    return kernels().msm_g1(bases, scalars, n, out, threads);
}

int pn_msm_g2(const uint64_t *bases, const uint64_t *scalars, size_t n, uint64_t *out, int threads) {
    return kernels().msm_g2(bases, scalars, n, out, threads);
}

int pn_g1_mul_many(const uint64_t *base, const uint64_t *scalars, size_t n, uint64_t *out, int threads) {
    return kernels().g1_mul_many(base, scalars, n, out, threads);
}

int pn_g2_mul_many(const uint64_t *base, const uint64_t *scalars, size_t n, uint64_t *out, int threads) {
    return kernels().g2_mul_many(base, scalars, n, out, threads);
}

int pn_fr_ntt(uint64_t *values, size_t log_n, int inverse, int threads) {
    return kernels().fr_ntt(values, log_n, inverse, threads);
}

int pn_groth16_h(const void *coefficients, size_t n_coefficients, const uint64_t *witness, size_t n_vars,
                 size_t domain_size, uint64_t *out, int threads) {
    return kernels().groth16_h(coefficients, n_coefficients, witness, n_vars, domain_size, out, threads);
}

// Test-only primitives, elementwise over n elements or points.
#define PN_BINARY(name)                                                         \
    int pn_##name(const uint64_t *a, const uint64_t *b, void *out, size_t n) { \
        return kernels().name(a, b, out, n);                                    \
    }
#define PN_UNARY(name) \
    int pn_##name(const uint64_t *a, void *out, size_t n) { return kernels().name(a, out, n); }

PN_BINARY(fp_mul)
PN_BINARY(fp_add)
PN_BINARY(fp_sub)
PN_UNARY(fp_inv)
PN_UNARY(fp_to_montgomery)
PN_UNARY(fp_from_montgomery)
PN_BINARY(fr_mul)
PN_BINARY(fr_add)
PN_BINARY(fr_sub)
PN_UNARY(fr_inv)
PN_UNARY(fr_to_montgomery)
PN_UNARY(fr_from_montgomery)
PN_BINARY(fp2_mul)
PN_UNARY(fp2_sqr)
PN_BINARY(g1_add)
PN_UNARY(g1_double)
PN_UNARY(g1_negate)
PN_UNARY(g1_is_on_curve)
PN_BINARY(g2_add)
PN_UNARY(g2_double)
PN_UNARY(g2_negate)
PN_UNARY(g2_is_on_curve)

// Groth16 verification (verify.h). pn_g1_check and pn_g2_check write a status
// byte per point: 0 in the group, 1 a coordinate not below q, 2 not on the
// curve, 3 (G2) on the twist but outside the order-r subgroup.
PN_UNARY(g1_check)
PN_UNARY(g2_check)

// prod_i e(P_i, Q_i) == 1 for n pairs: g1 (n, 2, 4), g2 (n, 2, 2, 4), the Q_i
// in G2 (the caller checks); a pair with a point at infinity counts as 1.
// Returns 1 if the product is one, 0 if not, -PN_ERR_* for bad arguments.
int pn_pairing_product_is_one(const uint64_t *g1, const uint64_t *g2, size_t n) {
    return kernels().pairing_product_is_one(g1, g2, n);
}

// The words of a prepared key with n_ic IC points.
size_t pn_groth16_key_words(size_t n_ic) { return kernels().groth16_key_words(n_ic); }

// A verification key prepared for pn_groth16_batch_check: g1 is alpha then
// the n_ic IC points, g2 beta, gamma, delta, all checked beforehand.
int pn_groth16_prepare_key(const uint64_t *g1, size_t n_ic, const uint64_t *g2, uint64_t *out) {
    return kernels().groth16_prepare_key(g1, n_ic, g2, out);
}

// Whether n proofs with scalars r hold against the prepared key, s being the
// IC scalars (sum_i r_i, sum_i r_i x_i1, ...): 1, 0, or -PN_ERR_*. See verify.h.
int pn_groth16_batch_check(const uint64_t *key, size_t key_len, const uint64_t *s, const uint64_t *a,
                           const uint64_t *b, const uint64_t *c, const uint64_t *r, size_t n) {
    return kernels().groth16_batch_check(key, key_len, s, a, b, c, r, n);
}

}  // extern "C"
