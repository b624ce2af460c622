// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * magic_write and dropped_executable from the write-family syscalls (write, writev,
 * pwrite64, pwritev, pwritev2). At entry, only a write that starts at offset 0 of a regular
 * file (with O_APPEND: of an empty one) keeps going, and its first bytes are read from user
 * memory; at exit, if the write succeeded, magic_write reports them and, when they start
 * with the ELF magic and the file is not on a memory-only filesystem, dropped_executable
 * reports the file. Everything else costs the write a few loads.
 *
 * The copies (sendfile, splice, copy_file_range: `cp`, `install`, Python's shutil.copy) move
 * the bytes between files inside the kernel, where no helper reads a file's pages. The same
 * offset-0 test decides them here; the loader reads the first bytes back from the written
 * file: magic_write goes up without `bytes`, dropped_executable (not on a memory-only
 * filesystem) with RECORD_FLAG_CHECK_ELF, and the loader prints it only for an ELF file.
 *
 * dirty_pipe_splice: a splice into a pipe that left the pipe's last buffer mergeable.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PIPE_BUF_FLAG_CAN_MERGE 0x10
#define PAGE_SIZE 4096
#define O_APPEND 02000
#define TMPFS_MAGIC 0x01021994
#define RAMFS_MAGIC 0x858458f6
#define HUGETLBFS_MAGIC 0x958458f6
#define NR_sendfile 40
#define NR_splice 275
#define NR_copy_file_range 326
/* p->magic_len of a qualifying copy: the bytes are in a file, not in user memory. */
#define MAGIC_FROM_FILE 0xff

static __always_inline int is_copy(__u32 nr)
{
	return nr == NR_sendfile || nr == NR_splice || nr == NR_copy_file_range;
}

/* The written fd: the third argument of splice and copy_file_range, else the first. */
static __always_inline __u64 out_fd(__u32 nr, __u64 a0, __u64 a2)
{
	return nr == NR_splice || nr == NR_copy_file_range ? a2 : a0;
}

struct iovec_user {
	__u64 base;
	__u64 len;
};

/* The open file behind fd, as an untrusted BTF pointer (plain loads), or NULL; *raw gets
 * its address as a number (for the global functions that take one). */
static __always_inline struct file *file_of(__u64 fd, __u64 *raw)
{
	__u64 file = fd_file(fd);
	*raw = file;
	if (!file)
		return 0;
	return bpf_rdonly_cast((void *)file, bpf_core_type_id_kernel(struct file));
}

/* &file->f_path as a number. */
static __always_inline __u64 path_of(__u64 raw_file)
{
	return raw_file + bpf_core_field_offset(struct file, f_path);
}

/* Does the write start at offset 0 of a regular file? a0, a2, a3: the syscall's first,
 * third and fourth arguments (the fd; the written fd of splice and copy_file_range; the
 * offset of pwrite64/pwritev/pwritev2, or the output offset pointer of splice and
 * copy_file_range). */
__noinline int magic_write_qualifies(__u32 nr, __u64 a0, __u64 a2, __u64 a3)
{
	__u64 raw;
	struct file *file = file_of(out_fd(nr, a0, a2), &raw);
	if (!file)
		return 0;
	struct inode *inode = file->f_inode;
	if ((inode->i_mode & S_IFMT) != S_IFREG)
		return 0;
	__u64 pos = a3;
	if (nr == NR_pwrite64)
		return pos == 0;
	/* pwritev/pwritev2: pos_l; -1 (pwritev2) means "the file position", like writev. */
	if ((nr == NR_pwritev || nr == NR_pwritev2) && (__s64)pos != -1)
		return pos == 0;
	/* splice, copy_file_range: an output offset given by pointer, else the file position. */
	if ((nr == NR_splice || nr == NR_copy_file_range) && a3) {
		__s64 off = -1;
		if (bpf_probe_read_user(&off, sizeof(off), (const void *)a3))
			return 0;
		return off == 0;
	}
	if (file->f_flags & O_APPEND)
		return inode->i_size == 0;
	return file->f_pos == 0;
}

__noinline int magic_write_entry(struct pending *p, __u32 nr)
{
	if (!p)
		return 0;
	p->magic_len = 0;
	if (!magic_write_qualifies(nr, p->ints[0], p->ints[2], p->ints[3]))
		return 0;
	if (is_copy(nr)) {
		p->magic_len = MAGIC_FROM_FILE;
		return 1;
	}
	__u64 buf = p->ints[1];
	__u64 count = p->ints[2];
	if (nr == NR_writev || nr == NR_pwritev || nr == NR_pwritev2) {
		struct iovec_user first = {};
		if (!count || bpf_probe_read_user(&first, sizeof(first), (const void *)buf))
			return 0;
		buf = first.base;
		count = first.len;
	}
	__u32 n = count < MAGIC_LEN ? count : MAGIC_LEN;
	barrier_var(n);
	if (n == 0 || n > MAGIC_LEN || bpf_probe_read_user(p->magic, n, (const void *)buf))
		return 0;
	p->magic_len = n;
	return 1;
}

static __always_inline int is_elf(struct pending *sys)
{
	return sys->magic_len >= 4 && sys->magic_len <= MAGIC_LEN && sys->magic[0] == 0x7f && sys->magic[1] == 'E' &&
	       sys->magic[2] == 'L' && sys->magic[3] == 'F';
}

static __always_inline int magic_write_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	__u64 raw;
	struct file *file = file_of(out_fd(sys->event, sys->ints[0], sys->ints[2]), &raw);
	if (!file)
		return 0;
	struct inode *inode = file->f_inode;
	int copied = sys->magic_len == MAGIC_FROM_FILE;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_MAGIC_WRITE, &ev, &candidates);
	if (q) {
		put_path(q, 0, path_of(raw));
		__u32 off = q->used;
		__u32 n = sys->magic_len;
		if (n > MAGIC_LEN)
			n = MAGIC_LEN;
		if (!copied && off <= ARGS_BUF - sizeof(struct arg_header) - MAGIC_LEN) {
			struct arg_header h = { .index = 1, .kind = ARG_KIND_BYTES, .len = n };
			__builtin_memcpy(&q->args[off], &h, sizeof(h));
			bpf_probe_read_kernel(&q->args[off + sizeof(h)], MAGIC_LEN, sys->magic);
			q->used = off + sizeof(h) + n;
			q->rec.args_num += 1;
		}
		put_int(q, 2, ARG_KIND_UINT, inode->i_sb->s_dev);
		put_int(q, 3, ARG_KIND_UINT, inode->i_ino);
		emit(q, rules_eval(q, ev, EVENT_MAGIC_WRITE, candidates, RULES_ALL));
	}

	if (!copied && !is_elf(sys))
		return 0;
	unsigned long magic = inode->i_sb->s_magic;
	if (magic == TMPFS_MAGIC || magic == RAMFS_MAGIC || magic == HUGETLBFS_MAGIC)
		return 0;
	q = begin_derived(sys, EVENT_DROPPED_EXECUTABLE, &ev, &candidates);
	if (!q)
		return 0;
	put_path(q, 0, path_of(raw));
	if (copied)
		q->rec.flags |= RECORD_FLAG_CHECK_ELF;
	return emit(q, rules_eval(q, ev, EVENT_DROPPED_EXECUTABLE, candidates, RULES_ALL));
}

/*
 * dirty_pipe_splice (as Tracee, at the end of the splice): a splice into a pipe after which
 * the pipe's last buffer may be merged into (PIPE_BUF_FLAG_CAN_MERGE), so the next write to
 * the pipe lands in that buffer's page. CVE-2022-0847 left the flag on pages spliced from a
 * file, so a write to the pipe changed the file's cached page. Fixed kernels clear it for
 * those; a whole buffer moved from another pipe keeps it, and is reported too, as Tracee
 * reports it.
 */
static __always_inline int dirty_pipe_event(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret <= 0 || sys->event != NR_splice)
		return 0;
	__u64 raw_in, raw_out;
	struct file *in = file_of(sys->ints[0], &raw_in);
	struct file *out = file_of(sys->ints[2], &raw_out);
	if (!in || !out)
		return 0;
	struct inode *out_inode = out->f_inode;
	if (!out_inode || (out_inode->i_mode & S_IFMT) != S_IFIFO)
		return 0;
	struct pipe_inode_info *pipe = out_inode->i_pipe;
	if (!pipe)
		return 0;
	__u32 size = pipe->ring_size;
	if (!size)
		return 0;
	__u64 at = (__u64)pipe->bufs +
		   (__u64)((pipe->head - 1) & (size - 1)) * bpf_core_type_size(struct pipe_buffer);
	struct pipe_buffer *last =
		bpf_rdonly_cast((void *)at, bpf_core_type_id_kernel(struct pipe_buffer));
	__u32 flags = last->flags;
	if (!(flags & PIPE_BUF_FLAG_CAN_MERGE))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_DIRTY_PIPE_SPLICE, &ev, &candidates);
	if (!q)
		return 0;
	struct inode *in_inode = in->f_inode;
	/* Where the splice stopped reading: the offset it wrote back, or the file position. */
	__s64 end = in->f_pos;
	if (sys->ints[1])
		bpf_probe_read_user(&end, sizeof(end), (void *)sys->ints[1]);
	/* The rest of the last page after the data in it, up to the end of the file. */
	__s64 exposed = (PAGE_SIZE - 1) - (__s64)(last->offset + last->len);
	__s64 file_size = in_inode->i_size;
	if (end + exposed > file_size)
		exposed = end < file_size ? file_size - end - 1 : 0;
	put_int(q, 0, ARG_KIND_UINT, in_inode->i_ino);
	put_int(q, 1, ARG_KIND_UINT, in_inode->i_mode & S_IFMT);
	put_path(q, 2, path_of(raw_in));
	put_int(q, 3, ARG_KIND_UINT, end);
	put_int(q, 4, ARG_KIND_UINT, exposed > 0 ? exposed : 0);
	put_int(q, 5, ARG_KIND_UINT, out_inode->i_ino);
	put_int(q, 6, ARG_KIND_UINT, flags);
	return emit(q, rules_eval(q, ev, EVENT_DIRTY_PIPE_SPLICE, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(WRITE, {
	if ((h & DERIVED_MAGIC_WRITE) && (long)ret > 0 && p->magic_len)
		magic_write_event(p, ret);
	else if (h & DERIVED_DIRTY_PIPE)
		dirty_pipe_event(p, ret);
})
