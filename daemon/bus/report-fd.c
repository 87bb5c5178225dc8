// SPDX-License-Identifier: GPL-2.0-only
/* GetReport of org.hpcmeter1.Licenses: a signed report through a sealed memfd, built in a
 * child process (lib/report.c, hpcmeterctl report's own generator, over a read-only ledger
 * connection of its own) so that the loop goes on metering; at most REPORTS_MAX at a time,
 * REPORT_TIMEOUT_USEC each. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "ledger-query.h"
#include "report.h"
#include "sign.h"
#include "util.h"

#define REPORTS_MAX 2 /* built at the same time */
#define REPORT_TIMEOUT_USEC (300 * USEC_PER_SEC)

struct report_job {
	struct bus *b;
	sd_bus_message *call;
	pid_t pid;
	int memfd, status_fd;
	sd_event_source *io, *timer;
	char license_id[BUS_STR_MAX + 1];
	uint64_t from_usec, to_usec;
	char format[8];
	char status[512];
	size_t status_len;
	struct report_job *next;
};

/* The child: the report into memfd, then "0 SHA256 SIGNATURE" (base64; "0" alone for a table)
 * or "-ERRNO" on status_fd. Runs report_render() (lib/report.c), hpcmeterctl report's own
 * generator, over a read-only connection of its own. */
static _Noreturn void report_child(struct bus *b, struct report_job *j, int status_fd)
{
	struct report_args a = {
		.license_id = j->license_id,
		.from_usec = j->from_usec,
		.to_usec = j->to_usec,
		.fmt = streq(j->format, "json") ? FMT_JSON :
		       streq(j->format, "csv")	? FMT_CSV :
						  FMT_TABLE,
	};
	char path[4200], err[512], sha[65] = "", b64[4 * ((SIGN_LEN + 2) / 3) + 1] = "";
	uint8_t sig[SIGN_LEN];
	char *doc = NULL;
	size_t len = 0, off = 0;
	int r;

	if (a.fmt != FMT_TABLE) {
		snprintf(path, sizeof(path), "%s/%s", manager_config(b->m)->state_dir,
			 SIGN_KEY_FILE);
		if (sign_load_private(path, &a.key, err, sizeof(err)) < 0) {
			dprintf(status_fd, "%d cannot load the node key: %s", -EPERM, err);
			_exit(1);
		}
	}
	r = ledger_query_open_readonly(ledger_path(manager_ledger(b->m)), &a.db);
	if (r >= 0)
		r = report_render(&a, &doc, &len, sha, sig);
	while (r >= 0 && off < len) {
		ssize_t n = write(j->memfd, doc + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			off += n;
	}
	if (r < 0)
		dprintf(status_fd, "%d", r);
	else if (sha[0]) {
		sign_base64(sig, SIGN_LEN, b64);
		dprintf(status_fd, "0 %s %s", sha, b64);
	} else
		dprintf(status_fd, "0");
	_exit(r < 0 ? 1 : 0);
}

static void report_job_free(struct report_job *j)
{
	struct bus *b = j->b;

	for (struct report_job **p = &b->reports; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	b->n_reports--;
	if (j->pid > 0) {
		kill(j->pid, SIGKILL);
		waitpid(j->pid, NULL, 0);
	}
	sd_event_source_disable_unref(j->io);
	sd_event_source_disable_unref(j->timer);
	if (j->memfd >= 0)
		close(j->memfd);
	if (j->status_fd >= 0)
		close(j->status_fd);
	sd_bus_message_unref(j->call);
	free(j);
}

static void report_fail(struct report_job *j, const char *name, const char *fmt, const char *a)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	sd_bus_error_setf(&error, name, fmt, a);
	sd_bus_reply_method_error(j->call, &error);
	report_job_free(j);
}

static void report_done(struct report_job *j)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int status = 0, err = 0, n;
	uint64_t id = 0;
	char sha[65] = "", b64[4 * ((SIGN_LEN + 2) / 3) + 1] = "", msg[600];
	uint8_t sig[SIGN_LEN];
	struct stat st;
	int r;

	waitpid(j->pid, &status, 0);
	j->pid = 0;
	j->status[j->status_len] = '\0';
	n = sscanf(j->status, "%d %64s %88s", &err, sha, b64);
	if (n < 1 || !WIFEXITED(status) || (err == 0 && WEXITSTATUS(status) != 0) ||
	    (err == 0 && n == 3 && sign_unbase64(b64, sig, sizeof(sig)) != SIGN_LEN) ||
	    (err == 0 && n == 2))
		err = -EIO;
	if (err == -ENOENT) {
		snprintf(msg, sizeof(msg),
			 "Licence \"%s\" was never loaded on this node before the "
			 "end of the period",
			 j->license_id);
		return report_fail(j, HPCMETER_ERROR_NO_SUCH_LICENSE, "%s", msg);
	}
	if (err < 0) {
		const char *why = strchr(j->status, ' ');

		snprintf(msg, sizeof(msg), "Cannot build the report: %s",
			 why ? why + 1 : strerror(-err));
		return report_fail(j, HPCMETER_ERROR_REPORT_FAILED, "%s", msg);
	}
	/* The caller gets a sealed file: it cannot change under it, nor can it grow. */
	if (fstat(j->memfd, &st) < 0 ||
	    fcntl(j->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
		    0 ||
	    lseek(j->memfd, 0, SEEK_SET) < 0)
		return report_fail(j, HPCMETER_ERROR_REPORT_FAILED, "Cannot seal the report: %s",
				   strerror(errno));
	if (sha[0]) {
		/* A signed report was issued: the ledger says so, as after hpcmeterctl report. */
		r = manager_record_report(j->b->m, j->license_id, j->from_usec, j->to_usec,
					  j->format, sha, &id);
		if (r < 0)
			log_warning("GetReport: the report was not recorded in the ledger: %s",
				    strerror(-r));
	}
	/* and the detached signature of the file's bytes (none for a table) */
	r = sd_bus_message_new_method_return(j->call, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "hts", j->memfd, (uint64_t)st.st_size, sha);
	if (r >= 0)
		r = sd_bus_message_append_array(reply, 'y', sig, sha[0] ? SIGN_LEN : 0);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	if (r < 0)
		log_warning("GetReport: cannot send the reply: %s", strerror(-r));
	report_job_free(j);
}

static int on_report_status(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct report_job *j = userdata;
	ssize_t n;

	n = read(fd, j->status + j->status_len, sizeof(j->status) - 1 - j->status_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n > 0 && j->status_len + n < sizeof(j->status) - 1) {
		j->status_len += n;
		return 0;
	}
	if (n > 0)
		j->status_len += n;
	report_done(j); /* EOF: the child has exited */
	return 0;
}

static int on_report_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct report_job *j = userdata;

	log_warning("GetReport: licence %s took longer than %llu s: stopped", j->license_id,
		    (unsigned long long)(REPORT_TIMEOUT_USEC / USEC_PER_SEC));
	report_fail(j, HPCMETER_ERROR_REPORT_FAILED,
		    "The report took longer than %s seconds: ask for a shorter period", "300");
	return 0;
}

int bus_method_get_report(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct bus *b = userdata;
	const char *license_id, *format;
	uint64_t from, to;
	struct report_job *j;
	int pfd[2], r;

	r = sd_bus_message_read(msg, "stts", &license_id, &from, &to, &format);
	if (r < 0)
		return r;
	if (!license_id[0] || strlen(license_id) > BUS_STR_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "license_id: expected 1 to %d bytes", BUS_STR_MAX);
	if (!streq(format, "json") && !streq(format, "csv") && !streq(format, "table"))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Unknown format \"%s\" (json, csv or table)", format);
	if (to <= from || to > BUS_USEC_MAX_SANE)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid period %llu .. %llu: from_usec before to_usec, "
					 "both before the year 10000",
					 (unsigned long long)from, (unsigned long long)to);
	if (b->n_reports >= REPORTS_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "%u reports are being built already: try again later",
					 b->n_reports);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->b = b;
	j->memfd = j->status_fd = -1;
	j->call = sd_bus_message_ref(msg);
	snprintf(j->license_id, sizeof(j->license_id), "%s", license_id);
	snprintf(j->format, sizeof(j->format), "%s", format);
	j->from_usec = from;
	j->to_usec = to;
	j->next = b->reports;
	b->reports = j;
	b->n_reports++;
	j->memfd = memfd_create("hpcmeter-report", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (j->memfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		report_job_free(j);
		return sd_bus_error_set_errnof(error, -r, "Cannot create the report file: %s",
					       strerror(-r));
	}
	/* The child reads what the loop wrote until now. */
	manager_commit(b->m);
	j->pid = fork();
	if (j->pid == 0) {
		close(pfd[0]);
		report_child(b, j, pfd[1]);
	}
	close(pfd[1]);
	j->status_fd = pfd[0];
	if (j->pid < 0) {
		r = -errno;
		j->pid = 0;
		report_job_free(j);
		return sd_bus_error_set_errnof(error, -r, "Cannot start the report: %s",
					       strerror(-r));
	}
	r = sd_event_add_io(b->event, &j->io, j->status_fd, EPOLLIN, on_report_status, j);
	if (r >= 0)
		r = sd_event_add_time_relative(b->event, &j->timer, CLOCK_MONOTONIC,
					       REPORT_TIMEOUT_USEC, 0, on_report_timeout, j);
	if (r < 0) {
		report_job_free(j);
		return r;
	}
	return 1; /* answered when the child is done */
}

void bus_reports_free(struct bus *b)
{
	while (b->reports)
		report_job_free(b->reports);
}
