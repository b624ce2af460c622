/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every map the compiler's image fills (docs/image-format.md, "Maps"). Sizes here are
 * placeholders: the loader sets max_entries from the image before loading, and checks the
 * key and value sizes against the image's.
 */
#ifndef TRACEE_MAPS_BPF_H
#define TRACEE_MAPS_BPF_H

#include "abi.h"

#define IMAGE_HASH(name, key_t, value_t)                                                \
	struct {                                                                         \
		__uint(type, BPF_MAP_TYPE_HASH);                                         \
		__uint(max_entries, 1);                                                  \
		__type(key, key_t);                                                      \
		__type(value, value_t);                                                  \
	} name SEC(".maps")

#define IMAGE_ARRAY(name, value_t)                                                      \
	struct {                                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                        \
		__uint(max_entries, 1);                                                  \
		__type(key, __u32);                                                      \
		__type(value, value_t);                                                  \
	} name SEC(".maps")

#define IMAGE_LPM(name)                                                                 \
	struct {                                                                         \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                     \
		__uint(max_entries, 1);                                                  \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                    \
		__type(key, struct lpm_str_key);                                         \
		__type(value, struct eq_bits);                                           \
	} name SEC(".maps")

typedef char comm_key_t[ABI_COMM_LEN];
typedef char uts_key_t[ABI_UTS_LEN];

IMAGE_ARRAY(scope_config, struct scope_config);
IMAGE_HASH(scope_uid, __u32, struct eq_bits);
IMAGE_HASH(scope_pid, __u32, struct eq_bits);
IMAGE_HASH(scope_mntns, __u64, struct eq_bits);
IMAGE_HASH(scope_pidns, __u64, struct eq_bits);
IMAGE_HASH(scope_uts, uts_key_t, struct eq_bits);
IMAGE_HASH(scope_comm, comm_key_t, struct eq_bits);
IMAGE_HASH(scope_tree, __u32, struct eq_bits);
IMAGE_HASH(scope_exe, struct scope_exe_key, struct eq_bits);
IMAGE_ARRAY(scope_ranges, struct range_entry);
IMAGE_HASH(events, __u32, struct event_config);
IMAGE_HASH(rule_fields, struct field_key, struct field_config);
IMAGE_HASH(rule_int, struct int_key, struct eq_bits);
IMAGE_HASH(rule_str, struct str_key, struct eq_bits);
IMAGE_LPM(rule_prefix);
IMAGE_LPM(rule_suffix);
IMAGE_ARRAY(rule_contains, struct contains_entry);
IMAGE_ARRAY(rule_ranges, struct range_entry);

#endif /* TRACEE_MAPS_BPF_H */
