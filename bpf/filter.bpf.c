// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Rule filters: for each field any rule of the event filters (events[id].fields), one
 * lookup per kind in use (integer hash + interval table; exact hash, prefix and suffix
 * tries, substring patterns). A field's result is `pass | ~enabled`; the event's is the AND.
 */
#include "tracee.bpf.h"
#include "range.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* 6.18: returns the offset of s2 in s1, or -ENOENT. Both strings NUL-terminated. */
extern int bpf_strstr(const char *s1__ign, const char *s2__ign) __ksym __weak;

#define MAX_CONTAINS 32
#define LPM_HEADER_BYTES 8

static __always_inline struct key_scratch *keys(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_keys, &zero);
}


/* An integer field of the event: argument, return value or context. */
static __always_inline int int_value(struct pending *p, __u16 field, __u64 *v)
{
	struct event_record *r = &p->rec;
	if (field < FIELD_RETVAL) {
		*v = p->ints[field & (MAX_ARGS - 1)];
		return 1;
	}
	switch (field) {
	case FIELD_RETVAL: *v = r->retval; return 1;
	case FIELD_TIMESTAMP: *v = r->timestamp_ns; return 1;
	case FIELD_PROCESSOR_ID: *v = r->cpu; return 1;
	case FIELD_PID: *v = r->pid; return 1;
	case FIELD_TID: *v = r->tid; return 1;
	case FIELD_PPID: *v = r->ppid; return 1;
	case FIELD_HOST_TID: *v = r->host_tid; return 1;
	case FIELD_HOST_PID: *v = r->host_pid; return 1;
	case FIELD_HOST_PPID: *v = r->host_ppid; return 1;
	case FIELD_UID: *v = r->uid; return 1;
	case FIELD_MNTNS: *v = r->mntns; return 1;
	case FIELD_PIDNS: *v = r->pidns; return 1;
	case FIELD_CGROUP_ID: *v = r->cgroup_id; return 1;
	case FIELD_CONTAINER: *v = (p->key_slot ? p->owner_container : in_container()) != 0; return 1;
	case FIELD_HOST: *v = (p->key_slot ? p->owner_container : in_container()) == 0; return 1;
	case FIELD_SYSCALL: *v = r->syscall; return 1;
	}
	return 0;
}

/* A global function, so the search is verified once. */
__noinline __u64 rule_range(__u32 first, __u32 count, __u64 value)
{
	return range_bits(&rule_ranges, first, count, value);
}

__noinline __u64 int_field(struct pending *p, __u32 event, __u16 field, struct field_config *fc)
{
	if (!p || !fc)
		return ~0ULL;
	__u64 v = 0;
	if (field >= FIELD_MASKED_BASE && field < FIELD_MASKED_BASE + FIELD_RETVAL)
		v = p->ints[(field - FIELD_MASKED_BASE) & (MAX_ARGS - 1)] & fc->mask;
	else if (!int_value(p, field, &v))
		return ~0ULL;
	struct int_key key = { .event = event, .field = field, .value = v };
	__u64 range = 0;
	if (fc->ranged) {
		__u64 biased = fc->kinds & FIELD_KIND_SIGNED ? v ^ (1ULL << 63) : v;
		range = rule_range(fc->range_first, fc->range_count, biased);
	}
	return dimension(bpf_map_lookup_elem(&rule_int, &key), fc->enabled, fc->match_missing,
			 fc->ranged, range);
}

struct reverse {
	struct key_scratch *k;
};

/* The length lives in map memory (k->walk.off): the verifier does not track it, so the
 * callback is verified once instead of once per possible length. */
static long reverse_step(__u64 i, struct reverse *rv)
{
	struct key_scratch *k = rv->k;
	if (!k || i >= ABI_LPM_STR_MAX)
		return 1;
	k->rev.str[i & 255] = k->path[(k->walk.off - 1 - i) & 255];
	return 0;
}

struct contains_search {
	struct str_scratch *s;
	__u32 first;
	__u64 eq;
	__u64 ne;
};

static long contains_step(__u64 i, struct contains_search *c)
{
	__u32 idx = c->first + i;
	struct contains_entry *ce = bpf_map_lookup_elem(&rule_contains, &idx);
	struct str_scratch *s = c->s;
	if (!ce || !s)
		return 1;
	if (bpf_strstr(s->str, ce->str) >= 0) {
		c->eq |= ce->eq;
		c->ne |= ce->ne;
	}
	return 0;
}

/* The exact-string and prefix lookups of a string value of `len` bytes in `s` (whose
 * event and field are set): the policies they give, ORed into *eq and *ne. */
static __always_inline void exact_and_prefix(struct str_scratch *s, __u32 len,
					     struct field_config *fc, __u64 *eq, __u64 *ne)
{
	struct eq_bits *b;
	/* A value longer than any filter string cannot equal one. */
	if ((fc->kinds & FIELD_KIND_EXACT) && len < ABI_STR_MAX) {
		b = bpf_map_lookup_elem(&rule_str, &s->event);
		if (b) {
			*eq |= b->eq;
			*ne |= b->ne;
		}
	}
	if (fc->kinds & FIELD_KIND_PREFIX) {
		__u32 n = len > ABI_LPM_STR_MAX ? ABI_LPM_STR_MAX : len;
		s->prefixlen = (LPM_HEADER_BYTES + n) * 8;
		b = bpf_map_lookup_elem(&rule_prefix, s);
		if (b) {
			*eq |= b->eq;
			*ne |= b->ne;
		}
	}
}

/* A string array's entries, one by one (FIELD_KIND_ARRAY): a policy's `=` values match
 * when one entry matches, its `!=` values when none does. Exact strings, prefixes and
 * substrings; the compiler refuses suffixes on arrays. */
struct array_search {
	struct pending *p;
	struct key_scratch *k;
	struct field_config *fc;
	__u32 cursor; /* the next entry's length, as an offset into p->args */
	__u32 end;
	__u64 eq;
	__u64 ne;
};

static long array_step(__u64 i, struct array_search *a)
{
	struct pending *p = a->p;
	struct key_scratch *k = a->k;
	struct field_config *fc = a->fc;
	if (!p || !k || !fc)
		return 1;
	__u32 at = a->cursor;
	if (at + 2 > a->end || at > ARGS_BUF - 2)
		return 1;
	__u16 len = 0;
	bpf_probe_read_kernel(&len, sizeof(len), &p->args[at]);
	a->cursor = at + 2 + len;
	struct str_scratch *s = &k->fwd;
	__u32 copy = len > ABI_STR_MAX - 1 ? ABI_STR_MAX - 1 : len;
	if (fc->kinds & FIELD_KIND_EXACT)
		__builtin_memset(s->str, 0, sizeof(s->str));
	if (copy > 0)
		bpf_probe_read_kernel(s->str, copy & (ABI_STR_MAX - 1), (char *)p->args + at + 2);
	s->str[copy & (ABI_STR_MAX - 1)] = 0;
	exact_and_prefix(s, len, fc, &a->eq, &a->ne);
	if ((fc->kinds & FIELD_KIND_CONTAINS) && bpf_ksym_exists(bpf_strstr)) {
		__u32 count = fc->contains_count;
		for (__u32 c = 0; c < MAX_CONTAINS; c++) {
			if (c >= count)
				break;
			__u32 idx = fc->contains_first + c;
			struct contains_entry *ce = bpf_map_lookup_elem(&rule_contains, &idx);
			if (!ce)
				break;
			if (bpf_strstr(s->str, ce->str) >= 0) {
				a->eq |= ce->eq;
				a->ne |= ce->ne;
			}
		}
	}
	return 0;
}

static __always_inline __u64 array_field(struct pending *p, struct key_scratch *k,
					 struct field_config *fc, __u32 off, __u32 len)
{
	struct array_search a = { .p = p, .k = k, .fc = fc, .cursor = off, .end = off + len };
	bpf_loop(ARGV_MAX, array_step, &a, 0);
	__u64 def = fc->match_missing & ~fc->ranged;
	return (a.eq | (def & ~a.ne)) | ~fc->enabled;
}

__noinline __u64 str_field(struct pending *p, __u32 event, __u16 field, struct field_config *fc)
{
	if (!p || !fc)
		return ~0ULL;
	struct key_scratch *k = keys_of(p);
	if (!k)
		return ~0ULL;
	struct str_scratch *s = &k->fwd;
	/* The string is `len` bytes at byte `pos` of *p (kept as an offset so every access is
	 * a bounded offset into p, which the verifier can check). */
	__u32 pos, len;

	if (field < FIELD_RETVAL) {
		__u32 i = field & (MAX_ARGS - 1);
		__u32 off = p->str_off[i];
		if (off == STR_NONE || off > ARGS_BUF)
			return ~fc->enabled; /* no such string: no policy filtering it passes */
		pos = __builtin_offsetof(struct pending, args) + off;
		len = p->str_len[i];
		if (fc->kinds & FIELD_KIND_ARRAY) {
			s->pad = 0;
			s->event = event;
			s->field = field;
			return array_field(p, k, fc, off, len);
		}
	} else if (field == FIELD_COMM) {
		pos = __builtin_offsetof(struct pending, rec.comm);
		len = ABI_COMM_LEN;
	} else if (field == FIELD_HOST_NAME) {
		pos = __builtin_offsetof(struct pending, rec.uts);
		len = ABI_UTS_LEN;
	} else {
		return ~0ULL;
	}
	/* Only the exact-match hash reads the whole key; the tries stop at prefixlen and
	 * bpf_strstr at the NUL, so the rest of the 256 bytes is cleared only for it. */
	if (fc->kinds & FIELD_KIND_EXACT)
		__builtin_memset(s, 0, sizeof(*s));
	s->pad = 0;
	s->event = event;
	s->field = field;
	if (len > ARGS_BUF)
		len = ARGS_BUF;
	barrier_var(pos);
	if (pos > sizeof(struct pending) - ABI_STR_MAX)
		return ~0ULL;
	if (field >= FIELD_CONTEXT_BASE) {
		/* Fixed buffers (comm, uts) end at their first NUL. */
		long n = bpf_probe_read_kernel_str(s->str, ABI_UTS_LEN, (char *)p + pos);
		len = n > 0 ? n - 1 : 0;
	} else {
		__u32 copy = len > ABI_STR_MAX - 1 ? ABI_STR_MAX - 1 : len;
		barrier_var(copy);
		if (copy > 0 && copy < ABI_STR_MAX)
			bpf_probe_read_kernel(s->str, copy, (char *)p + pos);
		s->str[copy & (ABI_STR_MAX - 1)] = 0;
	}

	__u64 eq = 0, ne = 0;
	struct eq_bits *b;
	exact_and_prefix(s, len, fc, &eq, &ne);
	if (fc->kinds & FIELD_KIND_SUFFIX) {
		struct str_scratch *r = &k->rev;
		__u32 n = len > ABI_LPM_STR_MAX ? ABI_LPM_STR_MAX : len;
		r->pad = 0;
		r->event = event;
		r->field = field;
		r->prefixlen = (LPM_HEADER_BYTES + n) * 8;
		/* The last n bytes, last first (copied once, reversed in the scratch). */
		__u32 tail = pos + (len - n);
		barrier_var(tail);
		if (n > 0 && n <= ABI_LPM_STR_MAX && tail <= sizeof(struct pending) - ABI_LPM_STR_MAX)
			bpf_probe_read_kernel(k->path, n, (char *)p + tail);
		k->walk.off = n;
		struct reverse rv = { .k = k };
		bpf_loop(n, reverse_step, &rv, 0);
		b = bpf_map_lookup_elem(&rule_suffix, r);
		if (b) {
			eq |= b->eq;
			ne |= b->ne;
		}
	}
	if ((fc->kinds & FIELD_KIND_CONTAINS) && bpf_ksym_exists(bpf_strstr)) {
		struct contains_search c = { .s = s, .first = fc->contains_first };
		__u32 count = fc->contains_count;
		bpf_loop(count < MAX_CONTAINS ? count : MAX_CONTAINS, contains_step, &c, 0);
		eq |= c.eq;
		ne |= c.ne;
	}
	__u64 def = fc->match_missing & ~fc->ranged;
	return (eq | (def & ~ne)) | ~fc->enabled;
}

/* `ev` is events[event], which the caller has looked up already. */
__noinline __u64 rules_eval(struct pending *p, struct event_config *ev, __u32 event,
			    __u64 policies, __u32 classes)
{
	if (!p || !ev)
		return 0;
	__u64 result = policies & ev->policies;
	__u32 count = ev->field_count;
	for (__u32 i = 0; i < ABI_MAX_EVENT_FIELDS; i++) {
		if (i >= count || !result)
			break;
		struct field_key fk = { .event = event, .field = ev->fields[i] };
		__u32 class = fk.field < FIELD_RETVAL || fk.field >= FIELD_MASKED_BASE ? RULES_ARGS :
			      fk.field == FIELD_RETVAL ? RULES_RETVAL :
							 RULES_CONTEXT;
		if (!(classes & class))
			continue;
		struct field_config *fc = bpf_map_lookup_elem(&rule_fields, &fk);
		/* A field none of the policies still in filters cannot turn one away. */
		if (!fc || !(result & fc->enabled))
			continue;
		if (fc->kinds & FIELD_KIND_INT)
			result &= int_field(p, event, fk.field, fc);
		else
			result &= str_field(p, event, fk.field, fc);
	}
	return result;
}
