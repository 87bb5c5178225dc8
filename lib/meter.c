// SPDX-License-Identifier: GPL-2.0-only
/* Loads the CPU meter skeleton, attaches it, and turns its ring buffer and maps into calls. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfutil.h"
#include "meter.h"
#include "sched.skel.h"
#include "util.h"

struct meter {
	struct sched_bpf *skel;
	struct bpf_link *iter; /* the task iterator, run at each reading */
	struct ring_buffer *rb;
	struct meter_callbacks cb;
	const char *mode;
	uint64_t bad_records;
	bool maps_reused; /* counters continue from maps pinned by an earlier run */
};

#define TRACEFS "/sys/kernel/tracing"

/* Mount tracefs at /sys/kernel/tracing when it is not mounted: the programs here do not need
 * it, but operators' tools (and tp/ programs on older kernels) do. */
static int ensure_tracefs(void)
{
	struct statfs sfs;

	if (statfs(TRACEFS, &sfs) == 0 && sfs.f_type == TRACEFS_MAGIC)
		return 0;
	if (mkdir(TRACEFS, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) < 0)
		return -errno;
	log_info("mounted tracefs at %s", TRACEFS);
	return 0;
}

/* Join "leaf\0dir\0...\0" (leaf first) into "/.../dir/leaf". */
static void join_path(const char *buf, uint32_t len, uint32_t depth, char *out, size_t size)
{
	const char *comp[HPCM_PATH_DEPTH];
	uint32_t n = 0, off = 0;
	size_t pos = 0;

	out[0] = '\0';
	while (off < len && n < depth && n < HPCM_PATH_DEPTH) {
		size_t l = strnlen(buf + off, len - off);

		if (off + l >= len) /* unterminated component: reject the whole path */
			return;
		comp[n++] = buf + off;
		off += l + 1;
	}
	for (uint32_t i = n; i-- > 0;) {
		int w = snprintf(out + pos, size - pos, "/%s", comp[i]);

		if (w < 0 || (size_t)w >= size - pos) {
			out[0] = '\0';
			return;
		}
		pos += w;
	}
	if (n == 0 && len == 0)
		snprintf(out, size, "/");
}

static void copy_str(char *dst, const char *src, size_t size)
{
	/* The kernel NUL-terminates, but a record is external input: never trust it. */
	memcpy(dst, src, size);
	dst[size - 1] = '\0';
}

int meter_decode(const void *data, size_t size, struct meter_exec *exec, struct meter_exit *exit,
		 struct meter_move *move, struct meter_tail *tail)
{
	const struct hpcm_event_hdr *hdr = data;

	if (size < sizeof(*hdr))
		return -EBADMSG;
	switch (hdr->type) {
	case HPCM_EV_EXEC: {
		const struct hpcm_exec_event *e = data;

		if (size != sizeof(*e) || e->path_len > sizeof(e->path) ||
		    e->path_depth > HPCM_PATH_DEPTH)
			return -EBADMSG;
		*exec = (struct meter_exec){
			.tgid = e->hdr.tgid,
			.ppid = e->ppid,
			.uid = e->uid,
			.gid = e->gid,
			.flags = e->flags,
			.ts_ns = e->ts_ns,
			.cgroup_id = e->cgroup_id,
			.start_ns = e->start_ns,
			.cgroup_v1_id = e->cgroup_v1_id,
			.loginuid = e->loginuid,
			.sessionid = e->sessionid,
		};
		copy_str(exec->comm, e->comm, sizeof(exec->comm));
		copy_str(exec->filename, e->filename, sizeof(exec->filename));
		if (!(e->flags & HPCM_F_PATH_TRUNCATED))
			join_path(e->path, e->path_len, e->path_depth, exec->path,
				  sizeof(exec->path));
		return HPCM_EV_EXEC;
	}
	case HPCM_EV_EXIT: {
		const struct hpcm_exit_event *e = data;

		if (size != sizeof(*e))
			return -EBADMSG;
		*exit = (struct meter_exit){
			.tgid = e->hdr.tgid,
			.ppid = e->ppid,
			.uid = e->uid,
			.exit_code = e->exit_code,
			.ts_ns = e->ts_ns,
			.cgroup_id = e->cgroup_id,
			.start_ns = e->start_ns,
			.cpu_ns = e->cpu_ns,
			.cgroup_v1_id = e->cgroup_v1_id,
		};
		copy_str(exit->comm, e->comm, sizeof(exit->comm));
		return HPCM_EV_EXIT;
	}
	case HPCM_EV_MOVE: {
		const struct hpcm_move_event *e = data;

		if (size != sizeof(*e) || (e->flags & ~HPCM_F_CPU_PARTIAL))
			return -EBADMSG;
		*move = (struct meter_move){
			.tgid = e->hdr.tgid,
			.uid = e->uid,
			.partial = e->flags & HPCM_F_CPU_PARTIAL,
			.ts_ns = e->ts_ns,
			.start_ns = e->start_ns,
			.cpu_ns = e->cpu_ns,
			.cgroup_id = e->cgroup_id,
			.cgroup_v1_id = e->cgroup_v1_id,
			.parent_cgroup_id = e->parent_cgroup_id,
			.parent_cgroup_v1_id = e->parent_cgroup_v1_id,
		};
		return HPCM_EV_MOVE;
	}
	case HPCM_EV_TAIL: {
		const struct hpcm_tail_event *e = data;

		if (size != sizeof(*e) || e->cpu_ns < HPCM_TAIL_MIN_NS)
			return -EBADMSG;
		*tail = (struct meter_tail){
			.tgid = e->hdr.tgid,
			.uid = e->uid,
			.start_ns = e->start_ns,
			.cpu_ns = e->cpu_ns,
			.cgroup_id = e->cgroup_id,
			.cgroup_v1_id = e->cgroup_v1_id,
		};
		return HPCM_EV_TAIL;
	}
	default:
		return -EBADMSG;
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct meter *m = ctx;
	struct meter_exec exec;
	struct meter_exit exit;
	struct meter_move move;
	struct meter_tail tail;

	switch (meter_decode(data, size, &exec, &exit, &move, &tail)) {
	case HPCM_EV_EXEC:
		if (m->cb.exec)
			m->cb.exec(&exec, m->cb.userdata);
		break;
	case HPCM_EV_EXIT:
		if (m->cb.exit)
			m->cb.exit(&exit, m->cb.userdata);
		break;
	case HPCM_EV_MOVE:
		if (m->cb.move)
			m->cb.move(&move, m->cb.userdata);
		break;
	case HPCM_EV_TAIL:
		if (m->cb.tail)
			m->cb.tail(&tail, m->cb.userdata);
		break;
	default:
		m->bad_records++;
		break;
	}
	return 0;
}

static void choose_programs(struct sched_bpf *skel, bool btf)
{
	bpf_program__set_autoload(skel->progs.sched_exec_btf, btf);
	bpf_program__set_autoload(skel->progs.sched_exit_btf, btf);
	bpf_program__set_autoload(skel->progs.cgroup_move_btf, btf);
	bpf_program__set_autoload(skel->progs.sched_free_btf, btf);
	bpf_program__set_autoload(skel->progs.sched_exec_raw, !btf);
	bpf_program__set_autoload(skel->progs.sched_exit_raw, !btf);
	bpf_program__set_autoload(skel->progs.cgroup_move_raw, !btf);
	bpf_program__set_autoload(skel->progs.sched_free_raw, !btf);
}

/* The maps that outlive the daemon when pinned: final counters of exited processes, loss
 * statistics and records not yet read. */
static int set_pins(struct sched_bpf *skel, const char *pin_dir)
{
	struct bpf_map *maps[] = { skel->maps.procs, skel->maps.stats, skel->maps.events };
	char path[PATH_MAX];

	for (size_t i = 0; pin_dir && i < ARRAY_SIZE(maps); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(maps[i])) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		int r = bpf_map__set_pin_path(maps[i], path);
		if (r < 0)
			return r;
	}
	return 0;
}

static int open_and_load(bool btf, const struct meter_options *o, const char *pin_dir,
			 struct sched_bpf **ret)
{
	struct sched_bpf *skel;
	int r;

	skel = sched_bpf__open();
	if (!skel)
		return -errno;
	choose_programs(skel, btf);
	skel->rodata->v1_controller = o->v1;
	/* A quarter of the ring buffer: room for the reader's timer to come round first. */
	skel->rodata->wakeup_bytes =
		o->batch_wakeups ? bpf_map__max_entries(skel->maps.events) / 4 : 0;
	r = set_pins(skel, pin_dir);
	if (r == 0)
		r = sched_bpf__load(skel);
	if (r < 0) {
		sched_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

int meter_open(const struct meter_callbacks *cb, enum meter_attach attach, struct meter **ret)
{
	return meter_open_v1(cb, attach, HPCM_V1_NONE, ret);
}

int meter_open_v1(const struct meter_callbacks *cb, enum meter_attach attach,
		  enum hpcm_v1_controller v1, struct meter **ret)
{
	return meter_open_pinned(cb, attach, v1, NULL, ret);
}

/* Remove pinned maps that do not fit this build (a changed map definition). */
static void unpin_stale(const char *pin_dir)
{
	static const char *const names[] = { "procs", "stats", "events" };
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		if (unlink(path) == 0)
			log_warning("removed pinned map %s: it does not fit this meter", path);
	}
}

static int pin_dir_prepare(const char *pin_dir, bool *existed)
{
	struct statfs sfs;
	char path[PATH_MAX];

	*existed = false;
	if (mkdir(pin_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (statfs(pin_dir, &sfs) < 0)
		return -errno;
	if (sfs.f_type != BPF_FS_MAGIC)
		return -ENOTDIR;
	snprintf(path, sizeof(path), "%s/procs", pin_dir);
	*existed = access(path, F_OK) == 0;
	return 0;
}

int meter_open_pinned(const struct meter_callbacks *cb, enum meter_attach attach,
		      enum hpcm_v1_controller v1, const char *pin_dir, struct meter **ret)
{
	struct meter_options o = { .attach = attach, .v1 = v1, .pin_dir = pin_dir };

	return meter_open_opts(cb, &o, ret);
}

int meter_open_opts(const struct meter_callbacks *cb, const struct meter_options *o,
		    struct meter **ret)
{
	enum meter_attach attach = o->attach;
	const char *pin_dir = o->pin_dir;
	bool existed = false;
	struct meter *m;
	int r;

	if (pin_dir && pin_dir[0]) {
		r = pin_dir_prepare(pin_dir, &existed);
		if (r < 0) {
			log_warning("cannot pin the BPF maps in %s: %s (counters will not survive "
				    "a restart)",
				    pin_dir,
				    r == -ENOTDIR ? "not on a bpf file system" : strerror(-r));
			pin_dir = NULL;
		}
	} else {
		pin_dir = NULL;
	}

	r = ensure_tracefs();
	if (r < 0)
		log_warning(
			"cannot mount tracefs: %s (continuing: raw and BTF tracepoints do not need it)",
			strerror(-r));

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (cb)
		m->cb = *cb;

	m->mode = "tp_btf";
	r = attach == METER_ATTACH_RAW_TP ? -EOPNOTSUPP : open_and_load(true, o, pin_dir, &m->skel);
	if (r < 0) {
		if (attach != METER_ATTACH_RAW_TP)
			log_info("tp_btf programs did not load (%s), using raw tracepoints",
				 strerror(-r));
		m->mode = "raw_tp";
		r = open_and_load(false, o, pin_dir, &m->skel);
		if (r < 0 && pin_dir && existed) {
			/* Maps pinned by another build: start afresh rather than not at all. */
			unpin_stale(pin_dir);
			existed = false;
			r = open_and_load(attach != METER_ATTACH_RAW_TP, o, pin_dir, &m->skel);
			if (r < 0)
				r = open_and_load(false, o, pin_dir, &m->skel);
			else
				m->mode = "tp_btf";
		}
		if (r < 0) {
			log_error("cannot load the BPF CPU meter: %s", strerror(-r));
			goto fail;
		}
	}
	m->maps_reused = pin_dir && existed && bpf_map__is_pinned(m->skel->maps.procs);
	if (m->maps_reused)
		log_info("BPF counters continue from the maps pinned in %s", pin_dir);
	r = sched_bpf__attach(m->skel);
	if (r < 0) {
		log_error("cannot attach the BPF CPU meter: %s", strerror(-r));
		goto fail;
	}
	m->iter = bpf_program__attach_iter(m->skel->progs.dump_task, NULL);
	if (!m->iter) {
		r = -errno;
		log_error("cannot attach the BPF task iterator: %s", strerror(-r));
		goto fail;
	}
	m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.events), on_record, m, NULL);
	if (!m->rb) {
		r = -errno;
		log_error("cannot open the BPF ring buffer: %s", strerror(-r));
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	meter_free(m);
	return r;
}

void meter_free(struct meter *m)
{
	if (!m)
		return;
	ring_buffer__free(m->rb);
	bpf_link__destroy(m->iter);
	sched_bpf__destroy(m->skel);
	free(m);
}

bool meter_maps_reused(const struct meter *m)
{
	return m->maps_reused;
}

/* Our own links must still run our programs: BPF_LINK_UPDATE swaps the program of a link that
 * supports it (the task iterator's) for another one, which the kernel's list of links alone
 * does not show while another link of the same program remains. */
static unsigned links_replaced(struct meter *m)
{
	struct {
		struct bpf_link *link;
		struct bpf_program *prog;
	} own[] = {
		{ m->iter, m->skel->progs.dump_task },
		{ m->skel->links.dump_task, m->skel->progs.dump_task },
		{ m->skel->links.sched_exec_btf, m->skel->progs.sched_exec_btf },
		{ m->skel->links.sched_exec_raw, m->skel->progs.sched_exec_raw },
		{ m->skel->links.sched_exit_btf, m->skel->progs.sched_exit_btf },
		{ m->skel->links.sched_exit_raw, m->skel->progs.sched_exit_raw },
		{ m->skel->links.cgroup_move_btf, m->skel->progs.cgroup_move_btf },
		{ m->skel->links.cgroup_move_raw, m->skel->progs.cgroup_move_raw },
		{ m->skel->links.sched_free_btf, m->skel->progs.sched_free_btf },
		{ m->skel->links.sched_free_raw, m->skel->progs.sched_free_raw },
	};
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		struct bpf_prog_info pi = {};
		struct bpf_link_info li = {};
		__u32 pl = sizeof(pi), ll = sizeof(li);

		if (!own[i].link)
			continue;
		if (bpf_obj_get_info_by_fd(bpf_program__fd(own[i].prog), &pi, &pl) < 0 ||
		    bpf_obj_get_info_by_fd(bpf_link__fd(own[i].link), &li, &ll) < 0)
			continue;
		n += li.prog_id != pi.id;
	}
	return n;
}

/* Every program of ours must still be attached: its link still exists, for its program. The
 * ids come from the kernel's list of links, not from our own file descriptors; and the links
 * we hold must still run our programs. */
int meter_check_attached(struct meter *m, unsigned *ret_missing)
{
	struct bpf_program *prog;
	unsigned want = 0, found = 0;

	bpf_object__for_each_program(prog, m->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		__u32 link_id = 0;
		bool attached = false;

		if (!bpf_program__autoload(prog))
			continue;
		want++;
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) < 0)
			continue;
		while (!attached) {
			if (bpf_link_get_next_id(link_id, &link_id) < 0) {
				/* ENOENT: the end. Anything else (EPERM): cannot tell, say so. */
				if (errno != ENOENT)
					return -errno;
				break;
			}
			struct bpf_link_info li = {};
			__u32 ll = sizeof(li);
			int fd = bpf_link_get_fd_by_id(link_id);

			if (fd < 0)
				continue;
			if (bpf_obj_get_info_by_fd(fd, &li, &ll) == 0 && li.prog_id == info.id)
				attached = true;
			close(fd);
		}
		found += attached;
	}
	*ret_missing = want - found + links_replaced(m);
	return 0;
}

const char *meter_attach_mode(const struct meter *m)
{
	return m->mode;
}

int meter_ring_fd(const struct meter *m)
{
	return ring_buffer__epoll_fd(m->rb);
}

int meter_consume(struct meter *m)
{
	return ring_buffer__consume(m->rb);
}

int meter_read_stats(struct meter *m, struct meter_stats *ret)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(m->skel->maps.stats);

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;

	uint64_t vals[ncpu];

	memset(ret, 0, sizeof(*ret));
	for (uint32_t i = 0; i < HPCM_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals) < 0)
			return -errno;
		for (int c = 0; c < ncpu; c++)
			ret->counter[i] += vals[c];
	}
	ret->bad_records = m->bad_records;
	return 0;
}

/* Run the task iterator: every live user-space thread, as records, into a growing buffer. */
static int read_tasks(struct meter *m, struct hpcm_task_rec **ret, size_t *n_ret)
{
	_cleanup_close_ int fd = bpf_iter_create(bpf_link__fd(m->iter));
	size_t cap = 1024 * sizeof(struct hpcm_task_rec), len = 0;
	char *buf = malloc(cap);

	if (fd < 0 || !buf) {
		free(buf);
		return fd < 0 ? -errno : -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 64 * sizeof(struct hpcm_task_rec)) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		/* EAGAIN: the kernel stops a read() after a million objects that wrote nothing;
		 * the next read() goes on from there. */
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len % sizeof(struct hpcm_task_rec)) {
		free(buf);
		return -EBADMSG;
	}
	*ret = (struct hpcm_task_rec *)buf;
	*n_ret = len / sizeof(struct hpcm_task_rec);
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct hpcm_task_rec *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

int meter_prog_stats(struct meter *m, uint64_t *run_cnt, uint64_t *run_time_ns)
{
	return bpf_object_prog_stats(m->skel->obj, run_cnt, run_time_ns);
}

struct lost_walk {
	int (*fn)(uint32_t tgid, const struct hpcm_proc *p, void *userdata);
	void *userdata;
};

static int lost_one(uint32_t tgid, const void *value, void *userdata)
{
	const struct lost_walk *w = userdata;

	return w->fn(tgid, value, w->userdata);
}

int meter_foreach_proc(struct meter *m,
		       int (*fn)(uint32_t tgid, const struct hpcm_proc *p, void *userdata),
		       void *userdata)
{
	int fd = bpf_map__fd(m->skel->maps.procs);
	_cleanup_free_ struct hpcm_task_rec *recs = NULL;
	size_t n = 0;
	int r;

	/* Living processes: the threads of one process summed, plus its exited threads. */
	r = read_tasks(m, &recs, &n);
	if (r < 0)
		return r;
	qsort(recs, n, sizeof(*recs), rec_cmp);
	for (size_t i = 0; i < n;) {
		const struct hpcm_task_rec *lead = &recs[i];
		struct hpcm_proc p = { .start_ns = lead->start_ns };
		size_t j;

		/* identity from the main thread when it lives, else the first one */
		for (j = i; j < n && recs[j].tgid == lead->tgid; j++)
			if (recs[j].tid == recs[j].tgid)
				lead = &recs[j];
		p.cpu_ns = lead->dead_ns;
		for (size_t k = i; k < j; k++)
			p.cpu_ns += recs[k].runtime_ns;
		p.cgroup_id = lead->cgroup_id;
		p.cgroup_v1_id = lead->cgroup_v1_id;
		p.uid = lead->uid;
		p.gid = lead->gid;
		p.ppid = lead->ppid;
		r = fn(lead->tgid, &p, userdata);
		if (r < 0)
			return r;
		i = j;
	}
	/* Processes whose exit record was lost: their final counters, flagged. */
	struct lost_walk w = { .fn = fn, .userdata = userdata };

	return bpf_map_walk_u32(fd, sizeof(struct hpcm_proc), lost_one, &w);
}

int meter_reap(struct meter *m, uint32_t tgid)
{
	if (bpf_map_delete_elem(bpf_map__fd(m->skel->maps.procs), &tgid) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
