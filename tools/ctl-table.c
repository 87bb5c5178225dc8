// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl's table printer (see ctl-table.h): libsmartcols for tables, lib/csv.c for CSV. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>
#include <libsmartcols/libsmartcols.h>

#include "csv.h"
#include "ctl-args.h"
#include "ctl-table.h"
#include "util.h"

static bool use_color = false;
/* tables printed so far: in CSV, the next one starts after an empty line */
static unsigned tables_printed;

void color_init(void)
{
	const char *term = getenv("TERM");

	use_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && *term &&
		    strcmp(term, "dumb") != 0;
}

char *sanitize(const char *s)
{
	_cleanup_(freep) char *valid = NULL;
	mbstate_t st = {};
	const char *p;
	char *r, *q;

	if (isempty(s))
		return strdup("-");
	/* bytes that are not UTF-8 as the text \xNN, as the bus and JSON carry them */
	if (!utf8_valid(s)) {
		valid = utf8_escape_invalid(s);
		if (!valid)
			return NULL;
		s = valid;
	}
	r = malloc(strlen(s) + 1);
	if (!r)
		return NULL;
	/* Each character a terminal would not print as one (C0 and C1 controls, anything else
	 * not printable) as '?': what is left has a known width in display cells. */
	for (p = s, q = r; *p;) {
		wchar_t wc;
		size_t len = mbrtowc(&wc, p, MB_CUR_MAX, &st);

		if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
			/* not a UTF-8 locale: byte by byte */
			memset(&st, 0, sizeof(st));
			*q++ = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
			p++;
		} else if (wc < 0x20 || (wc >= 0x7f && wc < 0xa0) || !iswprint(wc)) {
			*q++ = '?';
			p += len;
		} else {
			memcpy(q, p, len);
			q += len;
			p += len;
		}
	}
	*q = '\0';
	return r;
}

void table_done(struct table *t)
{
	for (size_t i = 0; i < t->n_cells; i++)
		free(t->cells[i]);
	for (size_t i = 0; i < t->n_notes; i++)
		free(t->notes[i]);
	free(t->cells);
	free(t->notes);
	t->cells = t->notes = NULL;
	t->n_cells = t->allocated = t->n_notes = 0;
}

static char *vformat_sanitized(const char *fmt, va_list ap)
{
	_cleanup_(freep) char *raw = NULL;

	if (vasprintf(&raw, fmt, ap) < 0)
		return NULL;
	return sanitize(raw);
}

int table_add(struct table *t, const char *fmt, ...)
{
	va_list ap;

	if (t->n_cells == t->allocated) {
		size_t n = t->allocated ? t->allocated * 2 : 64;
		char **c = realloc(t->cells, n * sizeof(char *));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->allocated = n;
	}
	va_start(ap, fmt);
	t->cells[t->n_cells] = vformat_sanitized(fmt, ap);
	va_end(ap);
	if (!t->cells[t->n_cells])
		return -ENOMEM;
	t->n_cells++;
	return 0;
}

int table_add_note(struct table *t, const char *fmt, ...)
{
	size_t n_rows = t->n_cells / t->n_columns;
	va_list ap;

	if (n_rows == 0)
		return -EINVAL;
	if (t->n_notes < n_rows) {
		char **n = realloc(t->notes, n_rows * sizeof(char *));

		if (!n)
			return -ENOMEM;
		memset(n + t->n_notes, 0, (n_rows - t->n_notes) * sizeof(char *));
		t->notes = n;
		t->n_notes = n_rows;
	}
	free(t->notes[n_rows - 1]);
	va_start(ap, fmt);
	t->notes[n_rows - 1] = vformat_sanitized(fmt, ap);
	va_end(ap);
	return t->notes[n_rows - 1] ? 0 : -ENOMEM;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does name (from --columns) name the column with this header: the header itself, or the
 * part before a parenthesis ("user" for "USER(UID)"), spaces as dashes ("bus-id"), in any
 * case? */
static bool column_named(const char *header, const char *name, size_t len)
{
	size_t n = strcspn(header, "(");

	if (len == strlen(header) && strncasecmp(header, name, len) == 0)
		return true;
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char h = header[i] == ' ' ? '-' : header[i];

		if (lower(h) != lower(name[i]))
			return false;
	}
	return true;
}

/* The columns of t to print, in order, into sel (n_columns of them at most per name given;
 * the caller sizes it): every column, or those --columns names that t has. */
static size_t columns_selected(const struct table *t, size_t *sel, size_t max)
{
	size_t n = 0;

	if (!arg_columns) {
		for (size_t c = 0; c < t->n_columns && n < max; c++)
			sel[n++] = c;
		return n;
	}
	for (const char *p = arg_columns; *p && n < max;) {
		size_t len = strcspn(p, ",");

		for (size_t c = 0; c < t->n_columns; c++)
			if (column_named(t->headers[c], p, len)) {
				sel[n++] = c;
				break;
			}
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

static size_t count_names(const char *list)
{
	size_t n = 1;

	for (; *list; list++)
		n += *list == ',';
	return n;
}

int table_check_columns(const char *verb, const struct table *const *tables, size_t n_tables)
{
	_cleanup_(freep) char *valid = NULL;
	size_t size = 0;
	FILE *f;

	if (!arg_columns)
		return 0;
	for (const char *p = arg_columns;;) {
		size_t len = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < n_tables && !found; i++)
			for (size_t c = 0; c < tables[i]->n_columns && !found; c++)
				found = len > 0 && column_named(tables[i]->headers[c], p, len);
		if (!found) {
			f = open_memstream(&valid, &size);
			if (!f)
				return log_oom();
			for (size_t i = 0; i < n_tables; i++)
				for (size_t c = 0; c < tables[i]->n_columns; c++) {
					bool dup = false;

					/* a name two tables share (usage's CGROUP) once */
					for (size_t k = 0; k < i && !dup; k++)
						for (size_t d = 0; d < tables[k]->n_columns; d++)
							dup |= streq(tables[k]->headers[d],
								     tables[i]->headers[c]);
					if (!dup)
						fprintf(f, "%s%s", ftell(f) ? ", " : "",
							tables[i]->headers[c]);
				}
			if (fclose(f) != 0)
				return log_oom();
			return usage_error("%s: unknown column \"%.*s\" in --columns (valid: %s)",
					   verb, (int)len, p, valid);
		}
		p += len;
		if (!*p)
			return 0;
		p++;
	}
}

static void print_csv(const struct table *t, const size_t *sel, size_t n_sel)
{
	size_t n_rows = t->n_cells / t->n_columns;

	if (arg_legend) {
		for (size_t i = 0; i < n_sel; i++) {
			if (i)
				fputc(',', stdout);
			csv_field(stdout, t->headers[sel[i]]);
		}
		putchar('\n');
	}
	for (size_t r = 0; r < n_rows; r++) {
		for (size_t i = 0; i < n_sel; i++) {
			if (i)
				fputc(',', stdout);
			csv_field(stdout, t->cells[r * t->n_columns + sel[i]]);
		}
		/* lines end in LF, as in the signed reports' CSV */
		putchar('\n');
	}
}

static void scols_unref_tablep(struct libscols_table **tb)
{
	scols_unref_table(*tb);
}

/* The table laid out by libsmartcols into *ret (lines separated by '\n', no final one). */
static int layout(const struct table *t, const size_t *sel, size_t n_sel, bool header, char **ret)
{
	_cleanup_(scols_unref_tablep) struct libscols_table *tb = scols_new_table();
	size_t n_rows = t->n_cells / t->n_columns;
	/* an empty table still shows its header: as its one line */
	bool header_line = header && n_rows == 0;
	struct libscols_line *ln;

	if (!tb)
		return -ENOMEM;
	/* Never cut or wrap a cell to a terminal's width: a pager scrolls, and scripts read
	 * whole names. */
	if (scols_table_set_termforce(tb, SCOLS_TERMFORCE_NEVER) < 0 ||
	    scols_table_set_column_separator(tb, t->separator ?: "  ") < 0 ||
	    scols_table_enable_colors(tb, use_color) < 0 ||
	    /* sanitize() made every cell printable text: no \xNN of libsmartcols' own (it
	     * would show a name's \xNN, from the bus, as \x5cxNN) */
	    scols_table_enable_noencoding(tb, 1) < 0 ||
	    scols_table_enable_noheadings(tb, !header || header_line) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n_sel; i++) {
		size_t c = sel[i];
		/* without a header its width does not count: no name */
		struct libscols_column *cl = scols_table_new_column(
			tb, header && !header_line ? t->headers[c] : NULL,
			t->min_width && t->min_width[c] ? (double)t->min_width[c] : 0,
			t->right_align && t->right_align[c] ? SCOLS_FL_RIGHT : 0);

		if (!cl)
			return -ENOMEM;
		if (header && use_color &&
		    scols_cell_set_color(scols_column_get_header(cl), ANSI_BOLD) < 0)
			return -ENOMEM;
	}
	if (header_line) {
		ln = scols_table_new_line(tb, NULL);
		if (!ln)
			return -ENOMEM;
		for (size_t i = 0; i < n_sel; i++)
			if (scols_line_set_data(ln, i, t->headers[sel[i]]) < 0 ||
			    (use_color &&
			     scols_cell_set_color(scols_line_get_cell(ln, i), ANSI_BOLD) < 0))
				return -ENOMEM;
	}
	for (size_t r = 0; r < n_rows; r++) {
		ln = scols_table_new_line(tb, NULL);
		if (!ln)
			return -ENOMEM;
		for (size_t i = 0; i < n_sel; i++) {
			const char *cell = t->cells[r * t->n_columns + sel[i]];
			const char *color = use_color && t->color ? t->color(sel[i], cell) : NULL;

			if (scols_line_set_data(ln, i, cell) < 0 ||
			    (color && scols_cell_set_color(scols_line_get_cell(ln, i), color) < 0))
				return -ENOMEM;
		}
	}
	if (!header && n_rows == 0) {
		*ret = NULL;
		return 0;
	}
	return scols_print_table_to_string(tb, ret) < 0 ? -ENOMEM : 0;
}

int table_print(const struct table *t, bool legend, const char *legend_noun)
{
	_cleanup_(freep) size_t *sel = NULL;
	_cleanup_(freep) char *text = NULL;
	size_t n_rows = t->n_cells / t->n_columns, max, n_sel, line = 0;
	bool header = legend;
	int r;

	max = arg_columns ? count_names(arg_columns) : t->n_columns;
	sel = calloc(max, sizeof(size_t));
	if (!sel)
		return -ENOMEM;
	n_sel = columns_selected(t, sel, max);
	if (n_sel == 0)
		return 0;
	if (arg_csv) {
		if (tables_printed++)
			putchar('\n');
		print_csv(t, sel, n_sel);
		return 0;
	}
	tables_printed++;
	r = layout(t, sel, n_sel, header, &text);
	if (r < 0)
		return r;
	/* One line per row (cells hold no line breaks, and none is cut or wrapped), after the
	 * header's: each with the indent, and a row's note under it. */
	for (char *p = text; p && *p; line++) {
		size_t len = strcspn(p, "\n");
		size_t row = line - (header ? 1 : 0);

		printf("%s%.*s\n", t->indent ?: "", (int)len, p);
		if (line >= (header ? 1u : 0u) && row < t->n_notes && t->notes[row])
			printf("%s%s\n", t->indent ?: "", t->notes[row]);
		p += len;
		if (*p)
			p++;
	}
	if (legend && legend_noun)
		printf("%s%zu %s listed.\n", n_rows > 0 ? "\n" : "", n_rows, legend_noun);
	return 0;
}
