// SPDX-License-Identifier: GPL-2.0-only
/* SHA-256 of executables and scripts, cached by file identity (exehash.h). A file past
 * EXEHASH_SYNC_MAX is read by one worker thread: the caller's loop only opens and fstat()s it.
 * The thread shares nothing with the loop but the two queues under the mutex; its results come
 * back through an eventfd that the loop watches. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exehash.h"
#include "util.h"

/* Distinct files remembered; past it the cache starts afresh (a user making endless copies
 * costs the daemon one read of each, no memory). */
#define EXEHASH_CACHE_MAX 4096
#define EXEHASH_CHUNK (256 * 1024)
/* Files handed to the worker at once; past it the caller hashes in line (slow, never blind). */
#define EXEHASH_QUEUE_MAX 64

/* A file's identity: the same inode with other content has another size or change time
 * (ctime cannot be set back from user space, unlike mtime). */
struct file_digest {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	char hex[EXEHASH_HEX_LEN + 1];
};

/* A file for the worker: from the loop (todo) to the worker and back (done). */
struct job {
	struct job *next;
	int fd;
	uint64_t ticket;
	int error;
	bool changed; /* its identity changed while it was read: not cached */
	uint64_t bytes;
	struct file_digest key;
};

struct exehash {
	/* The loop's alone. */
	void *tree;
	size_t n;
	uint64_t files, bytes;
	uint64_t last_ticket;
	struct {
		struct file_digest key;
		uint64_t ticket;
	} flight[EXEHASH_QUEUE_MAX]; /* handed to the worker, not back yet */
	size_t n_flight;
	bool started;
	pthread_t thread;
	int efd; /* the worker's "done" signal */
	/* Shared with the worker, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, **todo_tail, *done, **done_tail;
	bool stop; /* also read by the worker between chunks (atomic) */
};

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct file_digest *a = x, *b = y;
	int c;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	c = ts_cmp(&a->mtime, &b->mtime);
	return c ? c : ts_cmp(&a->ctime, &b->ctime);
}

int exehash_new(struct exehash **ret)
{
	struct exehash *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->efd < 0) {
		int r = -errno;

		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	h->todo_tail = &h->todo;
	h->done_tail = &h->done;
	*ret = h;
	return 0;
}

static void jobs_free(struct job *j)
{
	while (j) {
		struct job *next = j->next;

		if (j->fd >= 0)
			close(j->fd);
		free(j);
		j = next;
	}
}

void exehash_free(struct exehash *h)
{
	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->lock);
		__atomic_store_n(&h->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	jobs_free(h->todo);
	jobs_free(h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	close(h->efd);
	tdestroy(h->tree, free);
	free(h);
}

void exehash_stats(const struct exehash *h, uint64_t *files, uint64_t *bytes)
{
	*files = h ? h->files : 0;
	*bytes = h ? h->bytes : 0;
}

unsigned exehash_pending(const struct exehash *h)
{
	return h ? h->n_flight : 0;
}

int exehash_event_fd(const struct exehash *h)
{
	return h->efd;
}

/* The daemon forks (GetReport's child signs with OpenSSL): a fork while the worker is inside
 * OpenSSL could leave the child a lock that no thread of its own will ever release. Every
 * OpenSSL call here holds crypto_lock, and a fork takes it first (pthread_atfork), so a fork
 * waits for the chunk being hashed (256 KiB: a fraction of a millisecond), never for a read. */
static pthread_mutex_t crypto_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void crypto_lock_take(void)
{
	pthread_mutex_lock(&crypto_lock);
}

static void crypto_lock_release(void)
{
	pthread_mutex_unlock(&crypto_lock);
}

static void atfork_register(void)
{
	pthread_atfork(crypto_lock_take, crypto_lock_release, crypto_lock_release);
}

/* Hash the whole file: read(), not mmap (a file truncated meanwhile gives a short read, not
 * a SIGBUS in the daemon). */
static int hash_fd(int fd, char *hex, uint64_t *bytes, const bool *stop)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	_cleanup_free_ char *buf = malloc(EXEHASH_CHUNK);
	EVP_MD_CTX *c;
	int r = 0, ok;

	crypto_lock_take();
	c = EVP_MD_CTX_new();
	ok = buf && c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	if (!ok)
		EVP_MD_CTX_free(c);
	crypto_lock_release();
	if (!ok)
		return -ENOMEM;
	for (;;) {
		ssize_t k;

		if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED)) {
			r = -ECANCELED;
			break;
		}
		k = read(fd, buf, EXEHASH_CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		crypto_lock_take();
		EVP_DigestUpdate(c, buf, k);
		crypto_lock_release();
		*bytes += k;
	}
	crypto_lock_take();
	if (r == 0 && (!EVP_DigestFinal_ex(c, md, &n) || n != EXEHASH_HEX_LEN / 2))
		r = -EIO;
	EVP_MD_CTX_free(c);
	crypto_lock_release();
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return 0;
}

static int file_key(int fd, struct file_digest *key)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	*key = (struct file_digest){
		.dev = st.st_dev,
		.ino = st.st_ino,
		.size = st.st_size,
		.mtime = st.st_mtim,
		.ctime = st.st_ctim,
	};
	return 0;
}

static void cache_add(struct exehash *h, const struct file_digest *key)
{
	struct file_digest *e;

	if (h->n >= EXEHASH_CACHE_MAX) {
		tdestroy(h->tree, free);
		h->tree = NULL;
		h->n = 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return; /* hashed, just not remembered */
	*e = *key;
	if (!tsearch(e, &h->tree, entry_cmp)) {
		free(e);
		return;
	}
	h->n++;
}

/* Hash it here and now. */
static int hash_inline(struct exehash *h, int fd, struct file_digest *key, char *ret)
{
	uint64_t bytes = 0;
	int r = hash_fd(fd, key->hex, &bytes, NULL);

	h->bytes += bytes;
	if (r < 0)
		return r;
	h->files++;
	memcpy(ret, key->hex, EXEHASH_HEX_LEN + 1);
	cache_add(h, key);
	return 0;
}

/* The file's identity in *key, and its digest in ret when the cache has it: 1 when it does, 0
 * when not, or a negative errno. */
static int cache_lookup(struct exehash *h, int fd, struct file_digest *key, char *ret)
{
	void *node;
	int r = file_key(fd, key);

	if (r < 0)
		return r;
	node = tfind(key, &h->tree, entry_cmp);
	if (!node)
		return 0;
	memcpy(ret, (*(struct file_digest **)node)->hex, EXEHASH_HEX_LEN + 1);
	return 1;
}

static int hash_file(struct exehash *h, int fd, char *ret)
{
	struct file_digest key;
	int r = cache_lookup(h, fd, &key, ret);

	if (r != 0)
		return r < 0 ? r : 0;
	return hash_inline(h, fd, &key, ret);
}

static void *worker(void *userdata)
{
	struct exehash *h = userdata;
	uint64_t one = 1;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct job *j;
		struct file_digest now;

		while (!h->stop && !h->todo)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->stop)
			break;
		j = h->todo;
		h->todo = j->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		pthread_mutex_unlock(&h->lock);

		j->error = hash_fd(j->fd, j->key.hex, &j->bytes, &h->stop);
		/* Written to meanwhile (a script can be): the digest is not the identity's. */
		j->changed = file_key(j->fd, &now) < 0 || entry_cmp(&now, &j->key) != 0;
		close(j->fd);
		j->fd = -1;

		pthread_mutex_lock(&h->lock);
		j->next = NULL;
		*h->done_tail = j;
		h->done_tail = &j->next;
		/* Cannot fail: the counter stays far below its maximum. */
		(void)!write(h->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Hand fd (taken) to the worker. Returns its ticket, or 0 when it cannot take it. */
static uint64_t submit(struct exehash *h, int fd, const struct file_digest *key)
{
	struct job *j;

	if (h->n_flight >= EXEHASH_QUEUE_MAX)
		return 0;
	if (!h->started) {
		pthread_once(&atfork_once, atfork_register);
		if (pthread_create(&h->thread, NULL, worker, h) != 0)
			return 0;
		h->started = true;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return 0;
	j->fd = fd;
	j->key = *key;
	j->ticket = ++h->last_ticket;
	h->flight[h->n_flight].key = *key;
	h->flight[h->n_flight].ticket = j->ticket;
	h->n_flight++;
	pthread_mutex_lock(&h->lock);
	*h->todo_tail = j;
	h->todo_tail = &j->next;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return j->ticket;
}

/* From the cache, else in line (small files, or no room in the queue), else by the worker. */
static int lookup_or_submit(struct exehash *h, int fd, char *ret, uint64_t *ret_ticket)
{
	struct file_digest key;
	int r = cache_lookup(h, fd, &key, ret);

	if (r != 0)
		return r < 0 ? r : 0;
	for (size_t i = 0; i < h->n_flight; i++)
		if (entry_cmp(&h->flight[i].key, &key) == 0) {
			*ret_ticket = h->flight[i].ticket;
			return EXEHASH_PENDING;
		}
	if (key.size > EXEHASH_SYNC_MAX) {
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		*ret_ticket = dup >= 0 ? submit(h, dup, &key) : 0;
		if (*ret_ticket)
			return EXEHASH_PENDING;
		if (dup >= 0)
			close(dup);
	}
	return hash_inline(h, fd, &key, ret);
}

int exehash_complete(struct exehash *h,
		     void (*done)(uint64_t ticket, int error, const char *hex, void *userdata),
		     void *userdata)
{
	uint64_t n;
	struct job *list;
	int count = 0;

	if (read(h->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&h->lock);
	list = h->done;
	h->done = NULL;
	h->done_tail = &h->done;
	pthread_mutex_unlock(&h->lock);
	while (list) {
		struct job *j = list;

		list = j->next;
		h->bytes += j->bytes;
		if (!j->error) {
			h->files++;
			if (!j->changed)
				cache_add(h, &j->key);
		}
		for (size_t i = 0; i < h->n_flight; i++)
			if (h->flight[i].ticket == j->ticket) {
				h->flight[i] = h->flight[--h->n_flight];
				break;
			}
		if (done)
			done(j->ticket, j->error, j->error ? NULL : j->key.hex, userdata);
		free(j);
		count++;
	}
	return count;
}

/* Whether the process sees the files as this one does (the same mount namespace): its path
 * then names, here, the file it ran. */
static bool same_mount_ns(uint32_t tgid)
{
	char name[64];
	struct stat self, other;

	snprintf(name, sizeof(name), "/proc/%u/ns/mnt", tgid);
	return stat("/proc/self/ns/mnt", &self) == 0 && stat(name, &other) == 0 &&
	       self.st_ino == other.st_ino && self.st_dev == other.st_dev;
}

/* The file the process runs now is not the one its exec record names: it has exec'd another
 * program since (the record is read later than it was written). */
static bool runs_another(int fd, uint32_t tgid, const char *path)
{
	struct stat now, then;

	return path && path[0] == '/' && fstat(fd, &now) == 0 && stat(path, &then) == 0 &&
	       (now.st_ino != then.st_ino || now.st_dev != then.st_dev) && same_mount_ns(tgid);
}

static int open_target(uint32_t tgid, const char *path, const char *script)
{
	char name[PATH_MAX + 64];
	int fd;

	if (script) {
		if (script[0] == '/')
			snprintf(name, sizeof(name), "%s", script);
		else
			snprintf(name, sizeof(name), "/proc/%u/cwd/%s", tgid, script);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	} else {
		snprintf(name, sizeof(name), "/proc/%u/exe", tgid);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		/* Its digest would be the later program's, given to this exec: the path then,
		 * which here names the file it ran (a process in another mount namespace keeps
		 * /proc's, the only way to its file). */
		if (fd >= 0 && runs_another(fd, tgid, path)) {
			close(fd);
			fd = -1;
		}
		if (fd < 0 && path && path[0] == '/')
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	return fd < 0 ? -errno : fd;
}

int exehash_process(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret)
{
	_cleanup_close_ int fd = open_target(tgid, path, script);

	if (fd < 0)
		return fd;
	return hash_file(h, fd, ret);
}

int exehash_request(struct exehash *h, uint32_t tgid, const char *path, const char *script,
		    char *ret, uint64_t *ret_ticket)
{
	_cleanup_close_ int fd = open_target(tgid, path, script);

	if (fd < 0)
		return fd;
	return lookup_or_submit(h, fd, ret, ret_ticket);
}

int exehash_mapped(struct exehash *h, uint32_t tgid, const char *skip,
		   bool (*want)(const char *hex, void *userdata), void *userdata, char *ret_path,
		   size_t path_size, char *ret_hex)
{
	char name[128], line[PATH_MAX + 256], last[PATH_MAX] = "";
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(name, sizeof(name), "/proc/%u/maps", tgid);
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char range[64], perms[8], path[PATH_MAX], hex[EXEHASH_HEX_LEN + 1];
		_cleanup_close_ int fd = -1;
		uint64_t ticket;

		path[0] = '\0';
		/* "start-end perms offset dev inode path" */
		if (sscanf(line, "%63s %7s %*s %*s %*s %4095[^\n]", range, perms, path) < 3 ||
		    !strchr(perms, 'x') || path[0] != '/' || (skip && streq(path, skip)) ||
		    streq(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		/* The mapped file itself, whatever became of its name. */
		snprintf(name, sizeof(name), "/proc/%u/map_files/%s", tgid, range);
		fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		/* A large one is read by the worker; a later call finds it in the cache. */
		if (fd < 0 || lookup_or_submit(h, fd, hex, &ticket) != 0 || !want(hex, userdata))
			continue;
		snprintf(ret_path, path_size, "%s", path);
		memcpy(ret_hex, hex, sizeof(hex));
		return 1;
	}
	return 0;
}

bool exehash_is_loader(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	/* glibc's ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2; musl's ld-musl-*.so.1 */
	return base && (strncmp(base, "ld-", 3) == 0 || strncmp(base, "ld64.so", 7) == 0 ||
			strncmp(base, "ld.so", 5) == 0);
}
