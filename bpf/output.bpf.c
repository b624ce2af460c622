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

/* Set by the loader: does the image have detections? Without, `emit` sends at once (no
 * lookup of the event's config per record) and the verifier drops the detection code. */
const volatile __u32 detections_loaded = 1;

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

/* One detection: the record as the event `event`, detected from `from`. */
static __always_inline void send_detection(struct pending *p, __u32 event, __u32 from,
					   __u64 policies)
{
	p->rec.event_id = event;
	p->rec.detected_from = event == from ? 0 : from;
	send(p, policies);
}

/* The walk over one chunk's matching pairs (a bpf_loop callback: an unrolled loop of 64
 * would have the verifier walk every iteration). */
struct detect_walk {
	struct pending *p;
	struct detect_chunk *dc;
	__u64 left;     /* the chunk's matching pairs not looked at yet */
	__u64 policies; /* the policies the detections may go to */
	__u64 pending;  /* the policies of `current` matched so far */
	__u32 id;
	__u32 current;
};

static long detect_step(__u64 i, struct detect_walk *w)
{
	__u64 left = w->left;
	struct detect_chunk *dc = w->dc;
	if (!left || !dc)
		return 1;
	__u64 low = left & -left;
	w->left = left & ~low;
	__u32 b = __builtin_popcountll(low - 1) & (ABI_DETECT_PAIRS - 1);
	__u64 policy = dc->policy[b] & w->policies;
	if (!policy)
		return 0;
	__u32 event = dc->event[b];
	if (event != w->current && w->pending) {
		send_detection(w->p, w->current, w->id, w->pending);
		w->pending = 0;
	}
	w->current = event;
	w->pending |= policy;
	return 0;
}

/*
 * The detections on a complete base record (docs/detectors.md). Each chunk's pseudo event
 * holds up to 64 (detector, policy) pairs as the bits of its rules, so one pass over the
 * record's fields decides them all. A pair counts when its policy is among `policies` (its
 * scope admitted the task, and the base event's gate let the record be built for it). One
 * record per detector: the pairs are sorted by detector, and each detector's policies go up
 * together.
 */
static __always_inline void detect(struct pending *p, struct event_config *ev, __u32 id,
				   __u64 policies)
{
	__u32 chunks = ev->detect_chunks;
	__u32 first = ev->detect_first;
	struct detect_walk w = { .p = p, .policies = policies, .id = id };
	for (__u32 c = 0; c < ABI_DETECT_MAX_CHUNKS; c++) {
		if (c >= chunks)
			break;
		__u32 index = first + c;
		__u32 pseudo = ABI_DETECT_PSEUDO_BASE + index;
		struct event_config *pc = bpf_map_lookup_elem(&events, &pseudo);
		w.dc = bpf_map_lookup_elem(&detect_chunks, &index);
		if (!pc || !w.dc)
			continue;
		w.left = rules_eval(p, pc, pseudo, pc->policies, RULES_ALL);
		if (w.left)
			bpf_loop(ABI_DETECT_PAIRS, detect_step, &w, 0);
	}
	if (w.pending)
		send_detection(p, w.current, id, w.pending);
	p->rec.event_id = id;
	p->rec.detected_from = 0;
}

/* Before the context is read: may a pair of the chunks match on the arguments alone? (A
 * pair's policy is not checked: a yes may still come to nothing.) */
__noinline int detect_may(struct pending *p, struct event_config *ev, __u64 policies)
{
	if (!detections_loaded || !p || !ev || !policies)
		return 0;
	__u32 chunks = ev->detect_chunks;
	__u32 first = ev->detect_first;
	for (__u32 c = 0; c < ABI_DETECT_MAX_CHUNKS; c++) {
		if (c >= chunks)
			break;
		__u32 pseudo = ABI_DETECT_PSEUDO_BASE + first + c;
		struct event_config *pc = bpf_map_lookup_elem(&events, &pseudo);
		if (pc && rules_eval(p, pc, pseudo, pc->policies, RULES_ARGS))
			return 1;
	}
	return 0;
}

/* The record, to the policies that print it, and its detections. An event some detection is
 * built from (events[id].detect) is printed only for the policies with a rule of their own on
 * it. */
__noinline int emit(struct pending *p, __u64 matched)
{
	if (!p || !matched)
		return 0;
	if (!detections_loaded)
		return send(p, matched);
	__u32 id = p->rec.event_id;
	struct event_config *ev = bpf_map_lookup_elem(&events, &id);
	if (!ev || !(matched & ev->detect))
		return send(p, matched);
	__u64 shown = matched & ~ev->detect_only;
	if (shown)
		send(p, shown);
	detect(p, ev, id, matched & ev->detect);
	return 0;
}

/* Audit mode: a candidate event is sent whatever its decision. */
__noinline int emit_candidate(struct pending *p, __u64 matched)
{
	if (!p)
		return 0;
	return send(p, matched);
}
