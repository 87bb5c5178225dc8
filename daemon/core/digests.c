// SPDX-License-Identifier: GPL-2.0-only
/* What processes run, by content: the SHA-256 of a process's executable and of the script or
 * program it runs, for end_use.prohibited_executable_sha256, only while a licence lists
 * digests. A file is hashed once per identity (lib/exehash.c); a large one by the worker
 * thread, and the processes waiting for it (also one that exited or exec'd again meanwhile)
 * are evaluated when its digest is back, as at their exec. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "exehash.h"
#include "manager.h"
#include "util.h"

/* A digest pending in the worker for a process (exehash_request()). */
struct digest_wait {
	uint64_t ticket;
	struct proc *p;
	uint32_t exec_gen;
	bool run; /* the script's (run_sha256), else the executable's */
};

struct digests {
	struct exehash *exehash; /* started when a licence lists digests first */
	sd_event_source *source; /* its worker's results */
	struct digest_wait *waits; /* processes waiting for a digest */
	size_t n_waits, waits_cap;
};

int digests_new(struct manager *m)
{
	m->digests = calloc(1, sizeof(*m->digests));
	return m->digests ? 0 : -ENOMEM;
}

static bool licenses_list_digests(const struct manager *m)
{
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && l->n_prohibited_sha256)
			return true;
	}
	return false;
}

void digests_forget(struct proc *p)
{
	free(p->exe_sha256);
	free(p->run_sha256);
	free(p->run_path);
	p->exe_sha256 = p->run_sha256 = p->run_path = NULL;
	p->hashed = p->loader = false;
	p->exec_gen++; /* digests still pending are the previous program's */
}

/* The worker has hashed a file: every process waiting for it gets its digest and is evaluated
 * again, as it would have been at its exec (one that exited meanwhile too). */
static void digest_done(uint64_t ticket, int error, const char *hex, void *userdata)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->digests->n_waits;) {
		struct digest_wait w = m->digests->waits[i];
		char **slot;

		if (w.ticket != ticket) {
			i++;
			continue;
		}
		m->digests->waits[i] = m->digests->waits[--m->digests->n_waits];
		w.p->digests_pending--;
		if (error)
			log_debug("pid %u: cannot hash what it runs: %s", w.p->tgid,
				  strerror(-error));
		else if (w.exec_gen == w.p->exec_gen) {
			slot = w.run ? &w.p->run_sha256 : &w.p->exe_sha256;
			free(*slot);
			*slot = strdup(hex);
			evaluation_proc(m, w.p, NULL);
		}
		if (w.p->detached && !w.p->digests_pending)
			proc_free(w.p);
	}
}

static int on_digest_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;

	exehash_complete(m->digests->exehash, digest_done, m);
	return 0;
}

static int digest_start(struct manager *m)
{
	int r = exehash_new(&m->digests->exehash);

	if (r < 0)
		return r;
	r = sd_event_add_io(m->event, &m->digests->source, exehash_event_fd(m->digests->exehash),
			    EPOLLIN, on_digest_ready, m);
	if (r < 0) {
		log_error("cannot watch the executable digests: %s", strerror(-r));
		exehash_free(m->digests->exehash);
		m->digests->exehash = NULL;
	}
	return r;
}

/* Stop the worker; processes kept only for their pending digests go. */
static void digest_stop(struct manager *m)
{
	m->digests->source = sd_event_source_unref(m->digests->source);
	for (size_t i = 0; i < m->digests->n_waits; i++) {
		struct proc *p = m->digests->waits[i].p;

		if (--p->digests_pending == 0 && p->detached)
			proc_free(p);
	}
	free(m->digests->waits);
	m->digests->waits = NULL;
	m->digests->n_waits = 0;
	exehash_free(m->digests->exehash);
	m->digests->exehash = NULL;
}

/* One file it runs: its digest now, or later from the worker (digest_done()). */
static void proc_digest(struct manager *m, struct proc *p, const char *script, bool run)
{
	char hex[EXEHASH_HEX_LEN + 1];
	uint64_t ticket = 0;
	struct digest_wait *w;
	int r = exehash_request(m->digests->exehash, p->tgid, script ? NULL : p->exe, script, hex,
				&ticket);

	if (r == 0) {
		*(run ? &p->run_sha256 : &p->exe_sha256) = strdup(hex);
		return;
	}
	if (r < 0) {
		if (!run)
			log_debug("pid %u: cannot hash its executable %s: %s", p->tgid,
				  p->exe ? p->exe : "?", strerror(-r));
		return;
	}
	if (m->digests->n_waits == m->digests->waits_cap) {
		size_t cap = m->digests->waits_cap ? 2 * m->digests->waits_cap : 16;

		w = realloc(m->digests->waits, cap * sizeof(*w));
		if (!w) {
			log_error("out of memory: pid %u: its digest is lost", p->tgid);
			return;
		}
		m->digests->waits = w;
		m->digests->waits_cap = cap;
	}
	m->digests->waits[m->digests->n_waits++] = (struct digest_wait){
		.ticket = ticket,
		.p = p,
		.exec_gen = p->exec_gen,
		.run = run,
	};
	p->digests_pending++;
}

/* The content of what it runs, once per exec (the file is hashed once per identity; a large
 * one by the worker thread, and the process is evaluated again when its digest is back). */
void digests_hash(struct manager *m, struct proc *p, const char *filename)
{
	if (p->hashed || !licenses_list_digests(m))
		return;
	if (!m->digests->exehash && digest_start(m) < 0)
		return;
	p->hashed = true;
	p->loader = exehash_is_loader(p->exe);
	proc_digest(m, p, NULL, false);
	/* Run by another name than its executable: a script (or a symlink: the same file). */
	if (filename && (!p->exe || !streq(filename, p->exe)))
		proc_digest(m, p, filename, true);
}

static bool digest_prohibited(const char *hex, void *userdata)
{
	const struct manager *m = userdata;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && license_prohibits_sha256(l, hex))
			return true;
	}
	return false;
}

/* Run through the dynamic loader: the program is mapped after the exec, so each reading looks
 * at what it maps until a prohibited file is found. */
void digests_loader_check(struct manager *m, struct proc *p)
{
	char path[PATH_MAX], hex[EXEHASH_HEX_LEN + 1];

	if (!p->loader || p->run_path || !m->digests->exehash || !licenses_list_digests(m))
		return;
	if (exehash_mapped(m->digests->exehash, p->tgid, p->exe, digest_prohibited, m, path,
			   sizeof(path), hex) <= 0)
		return;
	free(p->run_sha256);
	p->run_sha256 = strdup(hex);
	p->run_path = strdup(path);
	evaluation_proc(m, p, NULL);
}
void digests_stats(struct manager *m, uint32_t *pending, uint64_t *files, uint64_t *bytes)
{
	*pending = exehash_pending(m->digests->exehash);
	exehash_stats(m->digests->exehash, files, bytes);
}

void digests_free(struct manager *m)
{
	if (!m->digests)
		return;
	digest_stop(m);
	free(m->digests);
	m->digests = NULL;
}
