// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The policy maps, so far without the programs that read them (those come with the event
 * hooks of issue 4). Loading this object proves the image's maps install into this kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
