// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The ring buffer. Records are submitted without waking the reader: a wakeup per event
 * costs the traced process about 11 us on this VM. The reader is woken only by the record
 * that makes the queued bytes cross `wakeup_bytes`, and drains the rest on its own timer.
 * Every record the ring cannot take is counted (stats[STAT_LOST]), never silently dropped.
 */
#include "tracee.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load (a quarter of the ring by default). */
const volatile __u64 wakeup_bytes = 1 << 20;

/* The fill level is looked at every WAKEUP_SAMPLE records per CPU (a helper call each time
 * costs tens of ns); the reader is woken when the level is seen in the window just past
 * `wakeup_bytes`, which WAKEUP_SAMPLE records of at most 8 KiB cannot jump over. */
#define WAKEUP_SAMPLE 64
#define WAKEUP_WINDOW (WAKEUP_SAMPLE * 8192)

static __always_inline int send(struct pending *p, __u64 matched)
{
	__u32 used = p->used;
	if (used > ARGS_BUF)
		used = ARGS_BUF;
	p->rec.matched_policies = matched;
	p->rec.args_size = used;
	__u64 size = sizeof(struct event_record) + used;
	__u32 slot = STAT_SUBMITTED;
	__u64 *submitted = bpf_map_lookup_elem(&stats, &slot);
	if (!submitted)
		return 0;
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (*submitted % WAKEUP_SAMPLE == 0) {
		__u64 queued = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
		if (queued >= wakeup_bytes && queued < wakeup_bytes + WAKEUP_WINDOW)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&rb, &p->rec, size, flags))
		count_stat(STAT_LOST);
	else
		*submitted += 1;
	return 0;
}

__noinline int emit(struct pending *p, __u64 matched)
{
	if (!p || !matched)
		return 0;
	return send(p, matched);
}

/* Audit mode: a candidate event is sent whatever its decision. */
__noinline int emit_candidate(struct pending *p, __u64 matched)
{
	if (!p)
		return 0;
	return send(p, matched);
}
