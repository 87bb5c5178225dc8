// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl's table printer (see ctl-table.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl-args.h"
#include "ctl-table.h"
#include "util.h"

static bool use_color = false;

void color_init(void)
{
	const char *term = getenv("TERM");

	use_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && *term &&
		    strcmp(term, "dumb") != 0;
}

char *sanitize(const char *s)
{
	char *r = strdup(isempty(s) ? "-" : s);

	if (!r)
		return NULL;
	for (unsigned char *p = (unsigned char *)r; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

void table_done(struct table *t)
{
	for (size_t i = 0; i < t->n_cells; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_cells = t->allocated = 0;
}

int table_add(struct table *t, const char *fmt, ...)
{
	_cleanup_(freep) char *raw = NULL;
	va_list ap;
	int r;

	if (t->n_cells == t->allocated) {
		size_t n = t->allocated ? t->allocated * 2 : 64;
		char **c = realloc(t->cells, n * sizeof(char *));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->allocated = n;
	}
	va_start(ap, fmt);
	r = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (r < 0) {
		raw = NULL;
		return -ENOMEM;
	}
	t->cells[t->n_cells] = sanitize(raw);
	if (!t->cells[t->n_cells])
		return -ENOMEM;
	t->n_cells++;
	return 0;
}

static void table_print_row(const struct table *t, const size_t *widths, const char *const *row)
{
	fputs(t->indent ?: "", stdout);
	for (size_t c = 0; c < t->n_columns; c++) {
		bool last = c + 1 == t->n_columns;
		const char *on = !use_color	   ? NULL :
				 row == t->headers ? ANSI_BOLD :
				 t->color	   ? t->color(c, row[c]) :
						     NULL;

		if (on)
			fputs(on, stdout);
		if (t->right_align[c])
			printf("%*s", (int)widths[c], row[c]);
		else if (last)
			fputs(row[c], stdout);
		else
			printf("%-*s", (int)widths[c], row[c]);
		if (on)
			fputs(ANSI_RESET, stdout);
		fputs(last ? "\n" : t->separator ?: "  ", stdout);
	}
}

int table_print(const struct table *t, bool legend, const char *legend_noun)
{
	_cleanup_(freep) size_t *widths = calloc(t->n_columns, sizeof(size_t));
	size_t n_rows = t->n_cells / t->n_columns;
	bool header = legend && t->headers;

	if (!widths)
		return -ENOMEM;
	for (size_t c = 0; c < t->n_columns; c++) {
		widths[c] = t->min_width ? t->min_width[c] : 0;
		if (header && strlen(t->headers[c]) > widths[c])
			widths[c] = strlen(t->headers[c]);
		for (size_t r = 0; r < n_rows; r++) {
			size_t l = strlen(t->cells[r * t->n_columns + c]);

			if (l > widths[c])
				widths[c] = l;
		}
	}
	if (header)
		table_print_row(t, widths, t->headers);
	for (size_t r = 0; r < n_rows; r++)
		table_print_row(t, widths, (const char *const *)t->cells + r * t->n_columns);
	if (legend && legend_noun)
		printf("%s%zu %s listed.\n", n_rows > 0 ? "\n" : "", n_rows, legend_noun);
	return 0;
}
