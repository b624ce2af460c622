/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Interval tables (docs/image-format.md, "How one dimension decides"). */
#ifndef TRACEE_RANGE_BPF_H
#define TRACEE_RANGE_BPF_H

#include "tracee.bpf.h"

/* Binary search steps: tables of up to 2^32 entries. bpf_loop keeps the verifier's work
 * constant (an unrolled search is explored path by path and exceeds its budget). */
#define RANGE_SEARCH_STEPS 32

struct range_search {
	void *map;
	__u32 first;
	__u32 lo;
	__u32 hi;
	__u32 failed;
	__u64 v;
};

static long range_step(__u64 i, struct range_search *c)
{
	if (c->lo >= c->hi)
		return 1;
	__u32 mid = c->lo + (c->hi - c->lo) / 2;
	__u32 idx = c->first + mid;
	struct range_entry *e = bpf_map_lookup_elem(c->map, &idx);
	if (!e) {
		c->failed = 1;
		return 1;
	}
	if (e->start <= c->v)
		c->lo = mid + 1;
	else
		c->hi = mid;
	return 0;
}

/* Bits of the last entry of the slice whose start <= v; 0 if none. */
static __always_inline __u64 range_bits(void *map, __u32 first, __u32 count, __u64 v)
{
	struct range_search c = { .map = map, .first = first, .lo = 0, .hi = count, .v = v };
	if (!count)
		return 0;
	bpf_loop(RANGE_SEARCH_STEPS, range_step, &c, 0);
	if (c.failed || c.lo == 0)
		return 0;
	__u32 idx = first + c.lo - 1;
	struct range_entry *e = bpf_map_lookup_elem(map, &idx);
	return e ? e->bits : 0;
}

/* One dimension: pass | ~enabled for value v given its equality bits (NULL: not listed). */
static __always_inline __u64 dimension(struct eq_bits *b, __u64 enabled, __u64 match_missing,
				       __u64 ranged, __u64 range)
{
	__u64 eq = b ? b->eq : 0, ne = b ? b->ne : 0;
	__u64 def = (match_missing & ~ranged) | range;
	return (eq | (def & ~ne)) | ~enabled;
}

#endif /* TRACEE_RANGE_BPF_H */
