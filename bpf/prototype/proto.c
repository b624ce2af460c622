// Prototype loader: open object, load (verifier log on request), fill maps, attach, read ringbuf.
//
//   ./proto [-o proto.bpf.o] [-p btf|raw] [-v LEVEL] [-s SCENARIO] [-c NCONTAINS] -- CMD...
//
// scenario demo  : policies  0 = uid 0 & comm == "cat"          (event openat)
//                            1 = pathname == /etc/hostname | pathname /tmp/*
//                            2 = uid in [1000,2000] & pathname contains "shadow"
// scenario miss  : getppid in events, uid 0 scope + comm field exact/prefix/contains, no match
// scenario hit   : as miss but comm prefix "bench" matches -> one ringbuf record per call
// scenario none  : events empty (program attached, exits after one hash lookup)
// CMD runs (sh -c) after attach; records are drained with poll + periodic consume.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "abi.h"

struct record {
	__u64 ts;
	__u64 matched;
	__u32 pid;
	__u32 uid;
	__u32 syscall;
	__s32 ret;
	char comm[16];
	char str[64];
};

static long nrec;
static int quiet;

static int on_rec(void *ctx, void *data, size_t sz)
{
	struct record *r = data;
	nrec++;
	if (!quiet)
		printf("rec: sys=%u ret=%d pid=%u uid=%u comm=%-10s matched=%#llx str=\"%.64s\"\n", r->syscall,
		       r->ret, r->pid, r->uid, r->comm, (unsigned long long)r->matched, r->str);
	return 0;
}

static int fd(struct bpf_object *o, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o, name);
	if (!m) {
		fprintf(stderr, "no map %s\n", name);
		exit(1);
	}
	return bpf_map__fd(m);
}

static void upd(int mfd, const void *k, const void *v)
{
	if (bpf_map_update_elem(mfd, k, v, BPF_ANY)) {
		perror("bpf_map_update_elem");
		exit(1);
	}
}

static void str_entry(struct bpf_object *o, __u32 ev, __u16 field, const char *s, __u64 eq, __u64 ne)
{
	struct str_key k = { .event = ev, .field = field };
	struct eq_bits b = { eq, ne };
	strncpy(k.str, s, sizeof(k.str) - 1);
	upd(fd(o, "rule_str"), &k, &b);
}

#ifndef LPM_STR_MAX
#define LPM_STR_MAX 248
#endif
struct lpm_str_key_small {
	__u32 prefixlen;
	__u32 event;
	__u16 field;
	__u16 pad;
	char str[LPM_STR_MAX];
};

static void prefix_entry(struct bpf_object *o, __u32 ev, __u16 field, const char *s, __u64 eq, __u64 ne)
{
	struct lpm_str_key_small k = { .event = ev, .field = field };
	struct eq_bits b = { eq, ne };
	strncpy(k.str, s, sizeof(k.str) - 1);
	k.prefixlen = (8 + strlen(s)) * 8;
	upd(fd(o, "rule_prefix"), &k, &b);
}

static void contains_entry(struct bpf_object *o, __u32 idx, const char *s, __u64 eq, __u64 ne)
{
	struct contains_entry c = { .eq = eq, .ne = ne, .len = strlen(s) };
	strncpy(c.str, s, sizeof(c.str) - 1);
	upd(fd(o, "rule_contains"), &idx, &c);
}

static void fill(struct bpf_object *o, const char *scen, int ncontains)
{
	__u32 zero = 0;
	struct scope_config sc = {};
	struct event_config ev = {};
	struct field_config fc = {};
	struct field_key fk = {};

	if (!strcmp(scen, "demo")) {
		__u32 openat = 257;
		sc.policies = 0x7;
		sc.eq_enabled[SCOPE_UID] = 0x1 | 0x4;
		sc.eq_match_missing[SCOPE_UID] = 0x4; /* policy 2 has no uid = values */
		sc.ranged[SCOPE_UID] = 0x4;
		sc.range_first[SCOPE_UID] = 0;
		sc.range_count[SCOPE_UID] = 3;
		struct range_entry re[3] = { { 0, 0 }, { 1000, 0x4 }, { 2001, 0 } };
		for (__u32 i = 0; i < 3; i++)
			upd(fd(o, "scope_ranges"), &i, &re[i]);
		__u32 uid0 = 0;
		struct eq_bits b = { .eq = 0x1 };
		upd(fd(o, "scope_uid"), &uid0, &b);
		upd(fd(o, "scope_config"), &zero, &sc);

		ev.policies = 0x7;
		ev.field_count = 2;
		ev.fields[0] = FIELD_COMM; /* context comm */
		ev.fields[1] = 1;	   /* openat pathname (last, so the record shows it) */
		upd(fd(o, "events"), &openat, &ev);

		fk = (struct field_key){ .event = openat, .field = 1 };
		fc = (struct field_config){ .enabled = 0x6, .contains_first = 0, .contains_count = 1,
					    .kinds = FIELD_KIND_EXACT | FIELD_KIND_PREFIX | FIELD_KIND_CONTAINS };
		upd(fd(o, "rule_fields"), &fk, &fc);
		fk.field = FIELD_COMM;
		fc = (struct field_config){ .enabled = 0x1, .kinds = FIELD_KIND_EXACT };
		upd(fd(o, "rule_fields"), &fk, &fc);

		str_entry(o, openat, 1, "/etc/hostname", 0x2, 0);
		prefix_entry(o, openat, 1, "/tmp/", 0x2, 0);
		contains_entry(o, 0, "shadow", 0x4, 0);
		str_entry(o, openat, FIELD_COMM, "cat", 0x1, 0);
		return;
	}
	if (!strcmp(scen, "none"))
		return;
	/* miss / hit: getppid, policy 0: uid == 0, comm exact/prefix/contains */
	__u32 getppid = 110, uid0 = 0;
	sc.policies = 0x1;
	sc.eq_enabled[SCOPE_UID] = 0x1;
	struct eq_bits b = { .eq = 0x1 };
	upd(fd(o, "scope_uid"), &uid0, &b);
	upd(fd(o, "scope_config"), &zero, &sc);
	ev.policies = 0x1;
	ev.field_count = 1;
	ev.fields[0] = FIELD_COMM;
	upd(fd(o, "events"), &getppid, &ev);
	fk = (struct field_key){ .event = getppid, .field = FIELD_COMM };
	fc = (struct field_config){ .enabled = 0x1, .contains_first = 0, .contains_count = ncontains,
				    .kinds = FIELD_KIND_EXACT | FIELD_KIND_PREFIX | FIELD_KIND_CONTAINS };
	upd(fd(o, "rule_fields"), &fk, &fc);
	str_entry(o, getppid, FIELD_COMM, "nomatch", 0x1, 0);
	prefix_entry(o, getppid, FIELD_COMM, !strcmp(scen, "hit") ? "ben" : "xyz", 0x1, 0);
	for (int i = 0; i < ncontains; i++) {
		char p[32];
		snprintf(p, sizeof(p), "zz%02dqq", i);
		contains_entry(o, i, p, 0x1, 0);
	}
}

static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	const char *obj_path = "proto.bpf.o", *flavor = "btf", *scen = "demo";
	int vlevel = 0, ncontains = 4, opt;
	while ((opt = getopt(argc, argv, "o:p:v:s:c:q")) != -1) {
		switch (opt) {
		case 'o': obj_path = optarg; break;
		case 'p': flavor = optarg; break;
		case 'v': vlevel = atoi(optarg); break;
		case 's': scen = optarg; break;
		case 'c': ncontains = atoi(optarg); break;
		case 'q': quiet = 1; break;
		default: return 2;
		}
	}
	libbpf_set_print(libbpf_print);

	static char log[64 << 20];
	LIBBPF_OPTS(bpf_object_open_opts, oo, .kernel_log_buf = vlevel ? log : NULL,
		    .kernel_log_size = vlevel ? sizeof(log) : 0, .kernel_log_level = vlevel);
	struct bpf_object *o = bpf_object__open_file(obj_path, &oo);
	if (!o) {
		perror("open");
		return 1;
	}
	const char *want = !strcmp(flavor, "raw") ? "on_exit_raw" : !strcmp(flavor, "empty") ? "on_exit_empty" : "on_exit_btf";
	struct bpf_program *p, *prog = NULL;
	bpf_object__for_each_program(p, o) {
		int me = !strcmp(bpf_program__name(p), want);
		bpf_program__set_autoload(p, me);
		if (me)
			prog = p;
	}
	int err = bpf_object__load(o);
	if (vlevel)
		fprintf(stderr, "---- verifier log (%s) ----\n%s\n", want, log);
	if (err) {
		fprintf(stderr, "load failed: %d\n", err);
		return 1;
	}
	struct bpf_prog_info info = {};
	__u32 il = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &il);
	fprintf(stderr, "loaded %s from %s: xlated %u bytes, jited %u bytes, verified_insns %u\n", want,
		obj_path, info.xlated_prog_len, info.jited_prog_len, info.verified_insns);

	fill(o, scen, ncontains);

	struct ring_buffer *rb = ring_buffer__new(fd(o, "rb"), on_rec, NULL, NULL);
	struct bpf_link *l = bpf_program__attach(prog);
	if (!l) {
		perror("attach");
		return 1;
	}
	pid_t child = -1;
	if (optind < argc) {
		char cmd[4096] = "";
		for (int i = optind; i < argc; i++) {
			strncat(cmd, argv[i], sizeof(cmd) - strlen(cmd) - 2);
			strcat(cmd, " ");
		}
		child = fork();
		if (child == 0) {
			execl("/bin/sh", "sh", "-c", cmd, NULL);
			_exit(127);
		}
	}
	int done = 0, status;
	for (int tail = 0; tail < 5;) {
		ring_buffer__poll(rb, 100); /* NO_WAKEUP records never wake this */
		ring_buffer__consume(rb);   /* so drain explicitly every 100 ms */
		if (!done && child > 0 && waitpid(child, &status, WNOHANG) == child)
			done = 1;
		if (done || child <= 0)
			tail++;
	}
	ring_buffer__consume(rb);
	bpf_link__destroy(l);

	__u64 tot[4] = {};
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v = calloc(ncpu, sizeof(__u64));
	for (__u32 k = 0; k < 4; k++) {
		bpf_map_lookup_elem(fd(o, "stats"), &k, v);
		for (int c = 0; c < ncpu; c++)
			tot[k] += v[c];
	}
	fprintf(stderr, "records read %ld; stats: events hit %llu, submitted %llu, rb drops %llu, strstr errors %llu\n",
		nrec, (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
		(unsigned long long)tot[3]);
	ring_buffer__free(rb);
	bpf_object__close(o);
	return 0;
}
