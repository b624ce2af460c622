// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets: cgroup_skb ingress and egress programs on the cgroup v2 root, which see every
 * socket's packets both ways, each decided for its socket's owner (sockets.bpf.h).
 *
 * The record carries the fields the rule filters read (addresses, ports, the DNS question
 * name, an HTTP request's method, path and host) in their slots, and the packet itself from
 * the IP header (bounded); the loader decodes the rest (loader/src/packet.rs).
 */
#include "sockets.bpf.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The packet events the image selects (PACKET_* bits), set by the loader: a packet of a
 * kind no event wants costs its header reads and nothing more. */
const volatile __u32 packet_events = 0;

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58

#define CAPTURE_HEADERS 128
#define CAPTURE_PAYLOAD 1024
#define DNS_NAME_MAX 255

/* ---- packets ---- */

struct packet {
	__u32 len;
	__u32 l4_off;
	__u32 payload_off; /* TCP/UDP payload (DNS: its message), 0 when none */
	__u16 sport;
	__u16 dport;
	__u8 v6;
	__u8 proto;
	__u8 ingress;
	__u8 dns_qr; /* DNS: 1 request, 2 response */
	__u8 http;   /* HTTP: 1 request, 2 response */
	__u8 pad[3];
	__u64 saddr; /* IPv4 as a number (host order), or IPV6_ADDR_VALUE */
	__u64 daddr;
};

static __always_inline int parse(struct __sk_buff *skb, struct packet *k)
{
	k->len = skb->len;
	__u8 l4 = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct {
			__u8 vihl;
			__u8 tos;
			__u16 tot_len;
			__u16 id;
			__u16 frag;
			__u8 ttl;
			__u8 proto;
			__u16 check;
			__u32 saddr;
			__u32 daddr;
		} ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 0;
		k->saddr = bpf_ntohl(ip.saddr);
		k->daddr = bpf_ntohl(ip.daddr);
		k->proto = ip.proto;
		k->l4_off = (ip.vihl & 0xf) * 4;
		/* A fragment past the first has no transport header. */
		if (bpf_ntohs(ip.frag) & 0x1fff)
			return 1;
		l4 = ip.proto;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct {
			__u32 vtcfl;
			__u16 plen;
			__u8 next;
			__u8 hop;
		} ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 0;
		k->v6 = 1;
		k->saddr = IPV6_ADDR_VALUE;
		k->daddr = IPV6_ADDR_VALUE;
		k->proto = ip6.next;
		k->l4_off = 40;
		l4 = ip6.next;
	} else {
		return 0;
	}
	if (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP) {
		__u16 ports[2];
		if (bpf_skb_load_bytes(skb, k->l4_off, ports, sizeof(ports)))
			return 1;
		k->sport = bpf_ntohs(ports[0]);
		k->dport = bpf_ntohs(ports[1]);
		if (l4 == IPPROTO_UDP) {
			k->payload_off = k->l4_off + 8;
		} else {
			__u8 doff = 0;
			if (bpf_skb_load_bytes(skb, k->l4_off + 12, &doff, 1))
				return 1;
			k->payload_off = k->l4_off + (doff >> 4) * 4;
		}
		if (k->payload_off >= k->len)
			k->payload_off = 0;
	}
	return 1;
}

/* The kinds of this packet the image selects (PACKET_* bits). */
static __always_inline __u32 packet_kinds(struct __sk_buff *skb, struct packet *k)
{
	__u32 kinds = PACKET_RAW | (k->v6 ? PACKET_IPV6 : PACKET_IPV4);
	if (k->proto == IPPROTO_TCP)
		kinds |= PACKET_TCP;
	else if (k->proto == IPPROTO_UDP)
		kinds |= PACKET_UDP;
	else if (k->proto == IPPROTO_ICMP && !k->v6)
		kinds |= PACKET_ICMP;
	else if (k->proto == IPPROTO_ICMPV6 && k->v6)
		kinds |= PACKET_ICMPV6;
	__u32 wanted = packet_events;
	if (k->payload_off && (k->sport == 53 || k->dport == 53) &&
	    (wanted & (PACKET_DNS | PACKET_DNS_REQUEST | PACKET_DNS_RESPONSE))) {
		/* DNS over TCP: a two-byte length before the message. */
		if (k->proto == IPPROTO_TCP)
			k->payload_off += 2;
		/* A DNS header with one question (Tracee decodes nothing else): flags, counts. */
		__u8 h[4] = {};
		if (k->payload_off + 12 <= k->len &&
		    !bpf_skb_load_bytes(skb, k->payload_off + 2, h, sizeof(h)) && h[2] == 0 &&
		    h[3] == 1 && ((h[0] >> 3) & 0xf) <= 2) {
			k->dns_qr = h[0] & 0x80 ? 2 : 1;
			kinds |= PACKET_DNS | (k->dns_qr == 1 ? PACKET_DNS_REQUEST : PACKET_DNS_RESPONSE);
		}
	}
	if (k->proto == IPPROTO_TCP && k->payload_off && k->payload_off + 5 <= k->len &&
	    (wanted & (PACKET_HTTP | PACKET_HTTP_REQUEST | PACKET_HTTP_RESPONSE))) {
		char w[8] = {};
		__u32 n = k->len - k->payload_off > 8 ? 8 : 5;
		if (!bpf_skb_load_bytes(skb, k->payload_off, w, n & 8 ? 8 : 5)) {
			if (w[0] == 'H' && w[1] == 'T' && w[2] == 'T' && w[3] == 'P' && w[4] == '/')
				k->http = 2;
			else if ((w[0] == 'G' && w[1] == 'E' && w[2] == 'T' && w[3] == ' ') ||
				 (w[0] == 'P' && w[1] == 'O' && w[2] == 'S' && w[3] == 'T' && w[4] == ' ') ||
				 (w[0] == 'P' && w[1] == 'U' && w[2] == 'T' && w[3] == ' ') ||
				 (w[0] == 'H' && w[1] == 'E' && w[2] == 'A' && w[3] == 'D' && w[4] == ' ') ||
				 (w[0] == 'D' && w[1] == 'E' && w[2] == 'L' && w[3] == 'E') ||
				 (w[0] == 'P' && w[1] == 'A' && w[2] == 'T' && w[3] == 'C') ||
				 (w[0] == 'O' && w[1] == 'P' && w[2] == 'T' && w[3] == 'I'))
				k->http = 1;
			if (k->http)
				kinds |= PACKET_HTTP |
					 (k->http == 1 ? PACKET_HTTP_REQUEST : PACKET_HTTP_RESPONSE);
		}
	}
	return kinds & wanted;
}

/* The DNS question's name, lowercase and dotted, from its labels (a bpf_loop callback over
 * map memory). */
struct name_walk {
	struct key_scratch *k;
	struct pending *q;
	__u32 out;    /* bytes written at q->args[start ..] */
	__u32 start;
	__u32 left;   /* bytes left in the current label */
	__u32 done;
};

static long name_step(__u64 i, struct name_walk *w)
{
	struct key_scratch *k = w->k;
	struct pending *q = w->q;
	if (!k || !q || i >= DNS_NAME_MAX)
		return 1;
	__u8 c = k->path[i & 511];
	__u32 at = w->start + w->out;
	if (at >= ARGS_BUF)
		return 1;
	if (w->left == 0) {
		if (c == 0 || c >= 0x40) { /* the end, or a pointer: not in a question */
			w->done = 1;
			return 1;
		}
		w->left = c;
		if (w->out > 0) {
			q->args[at & (ARGS_BUF - 1)] = '.';
			w->out++;
		}
		return 0;
	}
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	q->args[at & (ARGS_BUF - 1)] = c;
	w->out++;
	w->left--;
	return 0;
}

/* Appends the DNS question name as string argument `index` (an empty string if there is
 * none or it is malformed). */
static __noinline int put_dns_name(struct pending *q, struct __sk_buff *skb, __u32 qoff,
				   __u32 index)
{
	if (!q || index >= MAX_ARGS)
		return 0;
	struct key_scratch *k = keys_of(q);
	if (!k)
		return 0;
	__u32 off = q->used;
	if (off > ARGS_BUF - sizeof(struct arg_header) - DNS_NAME_MAX - 1)
		return 0;
	__u32 avail = skb->len > qoff ? skb->len - qoff : 0;
	if (avail > DNS_NAME_MAX + 1)
		avail = DNS_NAME_MAX + 1;
	__builtin_memset(k->path, 0, 260);
	if (avail < 1 || bpf_skb_load_bytes(skb, qoff, k->path, avail))
		avail = 0;
	struct name_walk w = { .k = k, .q = q, .start = off + sizeof(struct arg_header) };
	if (avail)
		bpf_loop(DNS_NAME_MAX, name_step, &w, 0);
	long n = w.done ? w.out + 1 : 1;
	finish_str(q, index, off, n);
	return 0;
}

/* An HTTP request's method, path (without the query) and Host header (lowercase, without its
 * port), read from its first
 * HTTP_SCAN bytes (a bpf_loop callback over map memory): the strings are built in the
 * scratch at HTTP_METHOD_AT, HTTP_PATH_AT, HTTP_HOST_AT. */
#define HTTP_SCAN 512
#define HTTP_STR_MAX 255
#define HTTP_METHOD_AT 1024
#define HTTP_PATH_AT 1280
#define HTTP_HOST_AT 1536
enum { H_METHOD, H_PATH, H_SKIP_LINE, H_LINE_START, H_NAME, H_HOST_SPACE, H_HOST, H_DONE };

struct http_walk {
	struct key_scratch *k;
	__u32 n;
	__u32 state;
	__u32 method_len;
	__u32 path_len;
	__u32 host_len;
	__u32 name_at; /* bytes of "host:" matched at the start of a header line */
};

static long http_step(__u64 i, struct http_walk *w)
{
	struct key_scratch *k = w->k;
	if (!k || i >= w->n || i >= HTTP_SCAN || w->state == H_DONE)
		return 1;
	char c = k->path[i & (HTTP_SCAN - 1)];
	switch (w->state) {
	case H_METHOD:
		if (c == ' ')
			w->state = H_PATH;
		else if (w->method_len < 16)
			k->path[(HTTP_METHOD_AT + w->method_len++) & 2047] = c;
		return 0;
	case H_PATH:
		if (c == ' ' || c == '?' || c == '#' || c == '\r')
			w->state = H_SKIP_LINE;
		else if (w->path_len < HTTP_STR_MAX)
			k->path[(HTTP_PATH_AT + w->path_len++) & 2047] = c;
		return 0;
	case H_SKIP_LINE:
		if (c == '\n') {
			w->state = H_LINE_START;
			w->name_at = 0;
		}
		return 0;
	case H_LINE_START:
	case H_NAME: {
		if (c == '\r' && w->state == H_LINE_START) { /* the blank line: headers end */
			w->state = H_DONE;
			return 1;
		}
		char lower = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
		char want = w->name_at == 0 ? 'h' : w->name_at == 1 ? 'o' : w->name_at == 2 ? 's' :
			    w->name_at == 3 ? 't' : ':';
		if (w->name_at < 5 && lower == want) {
			w->name_at++;
			w->state = w->name_at == 5 ? H_HOST_SPACE : H_NAME;
		} else {
			w->state = H_SKIP_LINE;
		}
		return 0;
	}
	case H_HOST_SPACE:
		if (c == ' ' || c == '\t')
			return 0;
		w->state = H_HOST;
		/* fall through: the first byte of the value */
	case H_HOST:
		/* The name without its port (an IPv6 literal keeps its brackets). */
		if (c == '\r' || c == '\n' || (c == ':' && k->path[HTTP_HOST_AT] != '[')) {
			w->state = H_DONE;
			return 1;
		}
		if (w->host_len < HTTP_STR_MAX) {
			char lower = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
			k->path[(HTTP_HOST_AT + w->host_len++) & 2047] = lower;
		}
		return 0;
	}
	return 1;
}

/* The request's method, path and host into their string slots (HTTP_*_SLOT). */
static __noinline int put_http_request(struct pending *q, struct __sk_buff *skb, __u32 off)
{
	if (!q)
		return 0;
	struct key_scratch *k = keys_of(q);
	if (!k)
		return 0;
	__u32 n = skb->len > off ? skb->len - off : 0;
	if (n > HTTP_SCAN)
		n = HTTP_SCAN;
	if (n < 1 || bpf_skb_load_bytes(skb, off, k->path, n))
		return 0;
	struct http_walk w = { .k = k, .n = n };
	bpf_loop(HTTP_SCAN, http_step, &w, 0);
	append_str(q, HTTP_METHOD_SLOT, &k->path[HTTP_METHOD_AT], w.method_len);
	append_str(q, HTTP_PATH_SLOT, &k->path[HTTP_PATH_AT], w.path_len);
	append_str(q, HTTP_HOST_SLOT, &k->path[HTTP_HOST_AT], w.host_len);
	return 0;
}

/* Appends the packet's first bytes (from the IP header) as the capture slot. */
static __noinline int put_capture(struct pending *q, struct __sk_buff *skb, __u32 cap)
{
	if (!q)
		return 0;
	__u32 off = q->used;
	if (off > ARGS_BUF - sizeof(struct arg_header) - CAPTURE_PAYLOAD)
		return 0;
	__u32 n = skb->len < cap ? skb->len : cap;
	if (n > CAPTURE_PAYLOAD)
		n = CAPTURE_PAYLOAD;
	if (n < 1 || bpf_skb_load_bytes(skb, 0, &q->args[off + sizeof(struct arg_header)], n))
		n = 0;
	header(q, off, PACKET_CAPTURE_SLOT, ARG_KIND_BYTES, n);
	counted(q, PACKET_CAPTURE_SLOT, off + sizeof(struct arg_header) + n);
	return 0;
}

/* Builds event `id` of this packet in q and sends it to the policies that take it. */
static __always_inline void packet_event(struct __sk_buff *skb, struct pending *q,
					 struct packet *k, __u32 id, __u64 scope, __u64 info)
{
	struct event_config *ev = bpf_map_lookup_elem(&events, &id);
	if (!ev)
		return;
	__u64 candidates = scope & ev->policies;
	if (!candidates)
		return;
	q->event = id;
	q->rec.event_id = id;
	q->used = 0;
	q->rec.args_num = 0;
	q->rec.args_size = 0;
	for (int i = 0; i < MAX_ARGS; i++)
		q->str_off[i] = STR_NONE;
	/* The filters' slots: addresses at SOCK_IP_SLOT + their field index (0, 1), ports at
	 * their fields (2, 3), the DNS question name at its field. */
	q->ints[SOCK_IP_SLOT] = k->saddr;
	q->ints[SOCK_IP_SLOT + 1] = k->daddr;
	q->ints[2] = k->sport;
	q->ints[3] = k->dport;
	__u32 cap = CAPTURE_HEADERS;
	if (id == EVENT_NET_PACKET_DNS || id == EVENT_NET_PACKET_DNS_REQUEST ||
	    id == EVENT_NET_PACKET_DNS_RESPONSE) {
		__u32 field = id == EVENT_NET_PACKET_DNS ? 5 : 1;
		put_dns_name(q, skb, k->payload_off + 12, field);
		cap = CAPTURE_PAYLOAD;
	} else if (id == EVENT_NET_PACKET_RAW || id == EVENT_NET_PACKET_HTTP ||
		   id == EVENT_NET_PACKET_HTTP_REQUEST || id == EVENT_NET_PACKET_HTTP_RESPONSE) {
		if (k->http == 1 && id != EVENT_NET_PACKET_RAW)
			put_http_request(q, skb, k->payload_off);
		cap = CAPTURE_PAYLOAD;
	}
	put_int(q, PACKET_INFO_SLOT, ARG_KIND_UINT, info);
	__u64 matched = rules_eval(q, ev, id, candidates, RULES_ALL);
	if (!matched)
		return;
	put_capture(q, skb, cap);
	emit(q, matched);
}

static __always_inline int packet(struct __sk_buff *skb, __u8 ingress)
{
	if (!active_now())
		return 1;
	struct packet k = { .ingress = ingress };
	if (!parse(skb, &k))
		return 1;
	__u32 kinds = packet_kinds(skb, &k);
	if (!kinds)
		return 1;
	struct sock_owner *o = 0;
	struct bpf_sock *sk = skb->sk;
	if (sk) {
		sk = bpf_sk_fullsock(sk);
		if (sk)
			o = bpf_sk_storage_get(&sock_owners, sk, 0, 0);
	}
	/* A socket decided by an older generation, sending from its owner's process (its
	 * first packet since a reload): decided again now, as the owner is the current task. */
	if (!ingress && o && o->gen[generation & 1] != generation &&
	    o->ctx.host_pid == bpf_get_current_pid_tgid() >> 32)
		own(o);
	__u64 scope = owner_scope(o);
	if (!scope)
		return 1;
	__u32 *depth = 0, level = NET_NEST;
	struct pending *q = enter_level(&depth, &level);
	if (!q)
		goto out;
	begin_owned(q, EVENT_NET_PACKET_RAW, level, o);
	__u64 info = (__u64)ingress | ((__u64)(skb->ifindex & 0xffffff) << 8) | ((__u64)k.len << 32);
	if (kinds & PACKET_RAW)
		packet_event(skb, q, &k, EVENT_NET_PACKET_RAW, scope, info);
	if (kinds & PACKET_IPV4)
		packet_event(skb, q, &k, EVENT_NET_PACKET_IPV4, scope, info);
	if (kinds & PACKET_IPV6)
		packet_event(skb, q, &k, EVENT_NET_PACKET_IPV6, scope, info);
	if (kinds & PACKET_TCP)
		packet_event(skb, q, &k, EVENT_NET_PACKET_TCP, scope, info);
	if (kinds & PACKET_UDP)
		packet_event(skb, q, &k, EVENT_NET_PACKET_UDP, scope, info);
	if (kinds & PACKET_ICMP)
		packet_event(skb, q, &k, EVENT_NET_PACKET_ICMP, scope, info);
	if (kinds & PACKET_ICMPV6)
		packet_event(skb, q, &k, EVENT_NET_PACKET_ICMPV6, scope, info);
	if (kinds & PACKET_DNS)
		packet_event(skb, q, &k, EVENT_NET_PACKET_DNS, scope, info);
	if (kinds & PACKET_DNS_REQUEST)
		packet_event(skb, q, &k, EVENT_NET_PACKET_DNS_REQUEST, scope, info);
	if (kinds & PACKET_DNS_RESPONSE)
		packet_event(skb, q, &k, EVENT_NET_PACKET_DNS_RESPONSE, scope, info);
	if (kinds & PACKET_HTTP)
		packet_event(skb, q, &k, EVENT_NET_PACKET_HTTP, scope, info);
	if (kinds & PACKET_HTTP_REQUEST)
		packet_event(skb, q, &k, EVENT_NET_PACKET_HTTP_REQUEST, scope, info);
	if (kinds & PACKET_HTTP_RESPONSE)
		packet_event(skb, q, &k, EVENT_NET_PACKET_HTTP_RESPONSE, scope, info);
out:
	leave_level(depth, level);
	return 1;
}

SEC("cgroup_skb/ingress")
int tr_skb_ingress(struct __sk_buff *skb)
{
	return packet(skb, 1);
}

SEC("cgroup_skb/egress")
int tr_skb_egress(struct __sk_buff *skb)
{
	return packet(skb, 0);
}
