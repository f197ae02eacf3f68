// The kernels with bn254.h's C field product, for any 64-bit CPU.

#define PN_KERNELS_TABLE pn_portable_kernels
#define PN_KERNELS_NAME "portable"
#include "kernels_table.h"
