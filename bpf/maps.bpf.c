// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The one definition of every map; the other objects declare them `extern`. */
#define TRACEE_DEFINE_MAPS
#include "tracee.bpf.h"
#include "sockets.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* This object's generation (tracee.bpf.h `active`), set by the loader. */
const volatile __u32 generation = 0;
