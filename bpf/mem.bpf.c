// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory mappings without kprobes or LSM hooks, from the syscalls that make them: mmap
 * (do_mmap, security_mmap_file, shared_object_loaded, mem_prot_alert for a W+X mapping)
 * and mprotect/pkey_mprotect (security_file_mprotect, mem_prot_alert for Tracee's
 * protection changes). The mapping mprotect changes is found at entry with bpf_find_vma,
 * for its protection before the call and its file.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NR_mmap 9
#define NR_mprotect 10
#define NR_pkey_mprotect 329
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define PAGE_SHIFT 12

/* Tracee's mem_prot_alert kinds. */
#define ALERT_MMAP_W_X 1
#define ALERT_MPROT_X_ADD 2
#define ALERT_MPROT_W_ADD 3
#define ALERT_MPROT_W_REM 4

/* Spare `ints` slots of the pending record (past the syscall's six arguments). */
#define VMA_FLAGS NS_SLOT
#define VMA_FILE (NS_SLOT + 1)
#define VMA_FOUND (NS_SLOT + 2)

/* A mapping found with bpf_find_vma. */
struct vma_where {
	__u64 start;
	__u64 end;
	__u64 flags;
	__u64 file;
	__u32 found;
};

static long vma_where_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_where *w = data;
	w->start = vma->vm_start;
	w->end = vma->vm_end;
	w->flags = vma->vm_flags;
	w->file = (__u64)vma->vm_file;
	w->found = 1;
	return 0;
}

/* At the entry of mprotect and pkey_mprotect: the mapping at `addr`, before the change. */
static __always_inline int mem_entry(struct pending *p)
{
	if (!p || (p->event != NR_mprotect && p->event != NR_pkey_mprotect))
		return 0;
	struct vma_where s = {};
	bpf_find_vma(bpf_get_current_task_btf(), p->ints[0], vma_where_cb, &s, 0);
	p->ints[VMA_FLAGS] = s.flags;
	p->ints[VMA_FILE] = s.file;
	p->ints[VMA_FOUND] = s.found;
	return 0;
}

/* A file's path, dev, inode and ctime into four argument slots (path_i < 0: no path). */
static __always_inline void put_file(struct pending *q, int path_i, int dev_i, int ino_i,
				     int ctime_i, __u64 raw)
{
	if (!raw)
		return;
	struct file *file = bpf_rdonly_cast((void *)raw, bpf_core_type_id_kernel(struct file));
	struct inode *inode = file->f_inode;
	if (path_i >= 0)
		put_path(q, path_i, raw + bpf_core_field_offset(struct file, f_path));
	if (dev_i >= 0)
		put_int(q, dev_i, ARG_KIND_UINT, inode->i_sb->s_dev);
	if (ino_i >= 0)
		put_int(q, ino_i, ARG_KIND_UINT, inode->i_ino);
	if (ctime_i >= 0)
		put_int(q, ctime_i, ARG_KIND_UINT, inode_ctime(inode));
}

static __always_inline __u32 file_flags(__u64 raw)
{
	if (!raw)
		return 0;
	struct file *file = bpf_rdonly_cast((void *)raw, bpf_core_type_id_kernel(struct file));
	return file->f_flags;
}

static __always_inline int alert_event(struct pending *sys, __u32 alert, __u64 addr, __u64 len,
				       __u64 prot, __u64 prev, __u64 file)
{
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_MEM_PROT_ALERT, &ev, &candidates);
	if (!q)
		return 0;
	put_int(q, 0, ARG_KIND_UINT, alert);
	put_int(q, 1, ARG_KIND_UINT, addr);
	put_int(q, 2, ARG_KIND_UINT, len);
	put_i32(q, 3, prot);
	put_i32(q, 4, prev);
	put_file(q, 5, 6, 7, 8, file);
	return emit(q, rules_eval(q, ev, EVENT_MEM_PROT_ALERT, candidates, RULES_ALL));
}

static __always_inline int mmap_events(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	int ok = !(err < 0 && err > -4096);
	__u64 len = sys->ints[1], prot = sys->ints[2], flags = sys->ints[3];
	__u64 file = (flags & MAP_ANONYMOUS) ? 0 : fd_file(sys->ints[4]);
	struct event_config *ev;
	__u64 candidates;
	struct pending *q;

	/* security_mmap_file: every file mapping that reached the hook. */
	if (file && (ok || err == -EACCES || err == -EPERM)) {
		q = begin_derived(sys, EVENT_SECURITY_MMAP_FILE, &ev, &candidates);
		if (q) {
			put_file(q, 0, 2, 3, 4, file);
			put_i32(q, 1, file_flags(file));
			put_int(q, 5, ARG_KIND_UINT, prot);
			put_int(q, 6, ARG_KIND_UINT, flags);
			emit(q, rules_eval(q, ev, EVENT_SECURITY_MMAP_FILE, candidates, RULES_ALL));
		}
	}
	if (!ok)
		return 0;
	/* shared_object_loaded: an executable mapping of a file. */
	if (file && (prot & PROT_EXEC)) {
		q = begin_derived(sys, EVENT_SHARED_OBJECT_LOADED, &ev, &candidates);
		if (q) {
			put_file(q, 0, 2, 3, 4, file);
			put_i32(q, 1, file_flags(file));
			emit(q, rules_eval(q, ev, EVENT_SHARED_OBJECT_LOADED, candidates, RULES_ALL));
		}
	}
	/* do_mmap: every mapping made. */
	q = begin_derived(sys, EVENT_DO_MMAP, &ev, &candidates);
	if (q) {
		put_int(q, 0, ARG_KIND_UINT, ret);
		put_file(q, 1, 3, 4, 5, file);
		if (file)
			put_int(q, 2, ARG_KIND_UINT, file_flags(file));
		put_int(q, 6, ARG_KIND_UINT, sys->ints[5] >> PAGE_SHIFT);
		put_int(q, 7, ARG_KIND_UINT, len);
		put_int(q, 8, ARG_KIND_UINT, prot);
		put_int(q, 9, ARG_KIND_UINT, flags);
		emit(q, rules_eval(q, ev, EVENT_DO_MMAP, candidates, RULES_ALL));
	}
	/* mem_prot_alert: a mapping both writable and executable. */
	if ((prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC))
		alert_event(sys, ALERT_MMAP_W_X, ret, len, prot, 0, file);
	return 0;
}

static __always_inline int mprotect_events(struct pending *sys, __u64 ret)
{
	if (!sys->ints[VMA_FOUND] || (long)ret < 0)
		return 0;
	__u64 addr = sys->ints[0], len = sys->ints[1], prot = sys->ints[2];
	/* As Tracee: prev_prot is the mapping's vm_flags (VM_READ/WRITE/EXEC are the PROT_*
	 * bits; VM_MAY* and others above them). */
	__u64 prev = sys->ints[VMA_FLAGS];
	__u64 file = sys->ints[VMA_FILE];
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_FILE_MPROTECT, &ev, &candidates);
	if (q) {
		put_file(q, 0, -1, -1, 2, file);
		put_i32(q, 1, prot);
		put_i32(q, 3, prev);
		put_int(q, 4, ARG_KIND_UINT, addr);
		put_int(q, 5, ARG_KIND_UINT, len);
		if (sys->event == NR_pkey_mprotect)
			put_i32(q, 6, sys->ints[3]);
		emit(q, rules_eval(q, ev, EVENT_SECURITY_FILE_MPROTECT, candidates, RULES_ALL));
	}
	/* Tracee's protection-change alerts; the last that applies wins, as in Tracee. */
	__u32 alert = 0;
	if (!(prev & PROT_EXEC) && (prot & PROT_EXEC))
		alert = ALERT_MPROT_X_ADD;
	if ((prev & PROT_EXEC) && !(prev & PROT_WRITE) &&
	    (prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC))
		alert = ALERT_MPROT_W_ADD;
	if ((prev & PROT_WRITE) && (prot & PROT_EXEC) && !(prot & PROT_WRITE))
		alert = ALERT_MPROT_W_REM;
	if (alert && addr)
		alert_event(sys, alert, addr, len ? len : 4096, prot, prev, file);
	return 0;
}

/* The memory events at the exit of mmap, mprotect and pkey_mprotect. */
static __always_inline int mem_events(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	if (sys->event == NR_mmap)
		return mmap_events(sys, ret);
	return mprotect_events(sys, ret);
}

/* ---- suspicious_syscall_source, stack_pivot: where a checked syscall came from ---- */

/* Tracee's mapping kinds (without its golang heap and thread stacks, which need tracking
 * this loader does not do: those show as anonymous). */
#define VMA_FILE_BACKED 0
#define VMA_ANON 1
#define VMA_MAIN_STACK 2
#define VMA_HEAP 3
#define VMA_VDSO 4

static __always_inline int vma_kind(struct vma_where *w, struct task_struct *task)
{
	if (w->file)
		return VMA_FILE_BACKED;
	struct mm_struct *mm = task->mm;
	__u64 stack = mm->start_stack;
	if (w->start <= stack && stack <= w->end)
		return VMA_MAIN_STACK;
	if (w->start <= mm->brk && mm->start_brk <= w->end)
		return VMA_HEAP;
	if (w->start == (__u64)mm->context.vdso)
		return VMA_VDSO;
	return VMA_ANON;
}

static __always_inline void put_vma(struct pending *q, __u32 syscall, __u64 addr, int kind,
				    struct vma_where *w)
{
	put_int(q, 0, ARG_KIND_INT, syscall);
	put_int(q, 1, ARG_KIND_UINT, addr);
	const char *name = "anonymous";
	__u32 len = 9;
	switch (kind) {
	case VMA_FILE_BACKED: name = "file backed"; len = 11; break;
	case VMA_MAIN_STACK: name = "main stack"; len = 10; break;
	case VMA_HEAP: name = "heap"; len = 4; break;
	case VMA_VDSO: name = "vdso"; len = 4; break;
	}
	append_str(q, 2, name, len);
	put_int(q, 3, ARG_KIND_UINT, w->start);
	put_int(q, 4, ARG_KIND_UINT, w->end - w->start);
	put_int(q, 5, ARG_KIND_UINT, w->flags);
}

/*
 * At the exit of a syscall a rule checks (its registers are the caller's still):
 *  - suspicious_syscall_source: the calling instruction is not in a program's or library's
 *    code (not file backed, not the vdso): shellcode. Once per syscall, process and mapping.
 *  - stack_pivot: the stack pointer is outside the stack: in the heap, a file mapping, the
 *    vdso. Anonymous memory is left out, as Tracee does for threads whose stack it did not
 *    see created: it may be a thread's stack.
 */
static __always_inline int syscall_origin_events(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u64 ip = BPF_CORE_READ(regs, ip);
	__u64 sp = BPF_CORE_READ(regs, sp);
	__u32 nr = sys->event;
	struct task_struct *t = bpf_rdonly_cast(task, bpf_core_type_id_kernel(struct task_struct));
	struct event_config *ev;
	__u64 candidates;

	struct vma_where w = {};
	bpf_find_vma(task, ip, vma_where_cb, &w, 0);
	int kind = w.found ? vma_kind(&w, t) : VMA_ANON;
	if (w.found && kind != VMA_FILE_BACKED && kind != VMA_VDSO) {
		struct origin_key key = {
			.syscall = nr,
			.tgid = t->tgid,
			.start_time = t->group_leader->start_time,
			.vma_start = w.start,
		};
		__u8 one = 1;
		if (bpf_map_update_elem(&origin_seen, &key, &one, BPF_NOEXIST) == 0) {
			struct pending *q = begin_derived(sys, EVENT_SUSPICIOUS_SYSCALL_SOURCE, &ev,
							  &candidates);
			if (q) {
				put_vma(q, nr, ip, kind, &w);
				emit(q, rules_eval(q, ev, EVENT_SUSPICIOUS_SYSCALL_SOURCE, candidates,
						   RULES_ALL));
			}
		}
	}

	struct vma_where s = {};
	bpf_find_vma(task, sp, vma_where_cb, &s, 0);
	if (!s.found)
		return 0;
	kind = vma_kind(&s, t);
	if (kind == VMA_MAIN_STACK || kind == VMA_ANON)
		return 0;
	struct pending *q = begin_derived(sys, EVENT_STACK_PIVOT, &ev, &candidates);
	if (!q)
		return 0;
	put_vma(q, nr, sp, kind, &s);
	return emit(q, rules_eval(q, ev, EVENT_STACK_PIVOT, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_ENTRIES(MEM, {
	if (h & DERIVED_MEM)
		mem_entry(p);
})
DERIVED_HANDLERS(MEM, {
	if (h & DERIVED_MEM)
		mem_events(p, ret);
	else if (h & DERIVED_SYSCALL_ORIGIN)
		syscall_origin_events(p, ret);
})
