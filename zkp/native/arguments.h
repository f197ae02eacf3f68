// Checks of the caller's arrays and thread counts, shared by the kernels.
// Host only; included by each kernels_*.cpp, hence the anonymous namespace.

#ifndef PN_ARGUMENTS_H
#define PN_ARGUMENTS_H

#include <omp.h>

#include "bn254.h"
#include "kernels.h"

static_assert(sizeof(pn::fr) == 32 && sizeof(pn::fq2) == 64, "field elements must be bare limbs");
static_assert(sizeof(pn::affine<pn::fq>) == 64 && sizeof(pn::affine<pn::fq2>) == 128,
              "points must be bare limbs");

namespace {

using namespace pn;

int thread_count(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Canonical form: arithmetic on unreduced limbs gives wrong answers
// silently, and the check is a compare per element.
bool valid(const fq &a) { return is_reduced<fq_params>(a.l); }
bool valid(const fr &a) { return is_reduced<fr_params>(a.l); }
bool valid(const fq2 &a) { return valid(a.c0) && valid(a.c1); }
template <class F> bool valid(const affine<F> &p) { return valid(p.x) && valid(p.y); }

template <class T> bool all_valid(const T *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!valid(a[i])) return false;
    return true;
}

// Scalars are standard-form integers below r (Fr's modulus, not Montgomery).
bool scalars_valid(const uint64_t *scalars, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_reduced<fr_params>(scalars + 4 * i)) return false;
    return true;
}

}  // namespace

#endif
