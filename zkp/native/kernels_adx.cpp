// The kernels with bn254.h's BMI2/ADX assembly field product. The rest of
// the file is compiled for baseline x86-64, and bn254.cpp calls these only
// on CPUs that have both extensions.

#if defined(__x86_64__)
#define PN_MUL_ADX
#define PN_KERNELS_TABLE pn_adx_kernels
#define PN_KERNELS_NAME "adx"
#include "kernels_table.h"
#endif
