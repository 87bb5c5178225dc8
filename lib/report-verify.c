// SPDX-License-Identifier: GPL-2.0-only
/* Reading a signed report for report verify (see report-verify.h): JSON through json-c's strict
 * parser, CSV line by line; the signature's place is found from what was parsed, never by
 * searching the text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json-doc.h"
#include "report-verify.h"
#include "util.h"

#define CSV_MAGIC "#hpcmeter_report,1\n"
#define CSV_SIGNATURE "#signature,"

static int fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* 64 lower-case hexadecimal digits, as key ids and SHA-256 are written. */
static bool hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static bool base64_signature(const char *b64, size_t n, uint8_t sig[SIGN_LEN])
{
	char buf[4 * ((SIGN_LEN + 2) / 3) + 1];

	if (n != sizeof(buf) - 1)
		return false;
	memcpy(buf, b64, n);
	buf[n] = '\0';
	return strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
		       n &&
	       sign_unbase64(buf, sig, SIGN_LEN) == SIGN_LEN;
}

/* The string member key of o, or NULL when absent or not a string. */
static const char *member_string(struct json_object *o, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* The embedded signature (reports issued before it was detached): the last member, alone on
 * the report's last line, exactly as the generator wrote it; it covers every byte before that
 * line. */
static int json_embedded(const char *doc, size_t len, struct json_object *sig,
			 struct report_parsed *p, char *err, size_t err_size)
{
	const char *alg, *key_id, *value;
	size_t n_alg, n_key, n_value;
	char line[256];
	int n;

	if (!json_object_is_type(sig, json_type_object) || json_object_object_length(sig) != 3 ||
	    !(alg = member_string(sig, "algorithm", &n_alg)) ||
	    !(key_id = member_string(sig, "key_id", &n_key)) ||
	    !(value = member_string(sig, "value", &n_value)))
		return fail(err, err_size, "\"signature\" is not {algorithm, key_id, value}");
	if (!streq(alg, "ed25519"))
		return fail(err, err_size, "signature algorithm \"%.20s\", not ed25519", alg);
	if (!hex64(key_id, n_key))
		return fail(err, err_size, "signature key_id is not a SHA-256");
	if (!base64_signature(value, n_value, p->signature))
		return fail(err, err_size, "signature value is not 64 bytes in base64");
	n = snprintf(
		line, sizeof(line),
		"\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",\"value\":\"%s\"}}\n",
		key_id, value);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n >= len ||
	    memcmp(doc + len - n, line, (size_t)n) != 0 || doc[len - n - 1] != '\n')
		return fail(err, err_size,
			    "the signature is not alone on the last line (something follows it, "
			    "or it was rewritten)");
	p->signed_len = len - (size_t)n;
	p->embedded = true;
	memcpy(p->key_id, key_id, 65);
	return 0;
}

static int parse_json(const char *doc, size_t len, struct report_parsed *p, char *err,
		      size_t err_size)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct json_object *v, *node, *ledger, *last = NULL;
	char perr[JSON_PARSE_ERROR_MAX];
	const char *s, *last_key = NULL;
	size_t n;

	if (json_parse(doc, len, &o, perr, sizeof(perr)) < 0)
		return fail(err, err_size, "not valid JSON: %s", perr);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "hpcmeter_report", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)
		return fail(err, err_size, "not an hpcmeter report (no \"hpcmeter_report\": 1)");
	p->fmt = FMT_JSON;
	p->signed_len = len;
	if (json_object_object_get_ex(o, "node", &node) &&
	    (s = member_string(node, "report_key_id", &n))) {
		if (!hex64(s, n))
			return fail(err, err_size, "node.report_key_id is not a SHA-256");
		memcpy(p->key_id, s, 65);
	}
	if (!json_object_object_get_ex(o, "ledger", &ledger) ||
	    !(s = member_string(ledger, "previous_report_sha256", &n)) || (n && !hex64(s, n)))
		return fail(err, err_size,
			    "no ledger.previous_report_sha256 (\"\" or a SHA-256) in the report");
	memcpy(p->previous_sha256, s, n + 1);
	json_object_object_foreach(o, key, value)
	{
		last_key = key;
		last = value;
	}
	if (json_object_object_get_ex(o, "signature", &v)) {
		if (!streq(last_key, "signature"))
			return fail(err, err_size, "\"signature\" is not the report's last member");
		return json_embedded(doc, len, last, p, err, err_size);
	}
	return 0;
}

/* The value of the CSV line "report,NAME,VALUE" at line[0, n), or NULL. */
static const char *csv_value(const char *line, size_t n, const char *name, size_t *ret_len)
{
	size_t k = strlen(name);

	if (n < 8 + k || memcmp(line, "report,", 7) != 0 || memcmp(line + 7, name, k) != 0 ||
	    line[7 + k] != ',')
		return NULL;
	*ret_len = n - 8 - k;
	return line + 8 + k;
}

static int parse_csv(const char *doc, size_t len, struct report_parsed *p, char *err,
		     size_t err_size)
{
	bool have_previous = false;
	unsigned lineno = 0;

	p->fmt = FMT_CSV;
	p->signed_len = len;
	if (len == 0 || doc[len - 1] != '\n')
		return fail(err, err_size, "the report does not end with a line break");
	if (memchr(doc, '\0', len))
		return fail(err, err_size, "a NUL byte in the report");
	for (const char *line = doc, *eol; line < doc + len; line = eol + 1) {
		size_t n, vlen;
		const char *v;

		eol = memchr(line, '\n', (size_t)(doc + len - line));
		n = (size_t)(eol - line);
		lineno++;
		if (n >= 11 && memcmp(line, CSV_SIGNATURE, 11) == 0) {
			/* #signature,ed25519,KEY_ID,BASE64 and nothing after it */
			const char *key = line + 11 + 8, *b64 = key + 65;

			if (eol + 1 != doc + len)
				return fail(err, err_size,
					    "line %u: the signature line is not the last line",
					    lineno);
			if (n != 11 + 8 + 65 + 88 || memcmp(line + 11, "ed25519,", 8) != 0 ||
			    !hex64(key, 64) || key[64] != ',' ||
			    !base64_signature(b64, (size_t)(eol - b64), p->signature))
				return fail(err, err_size,
					    "line %u: not #signature,ed25519,KEY_ID,BASE64",
					    lineno);
			memcpy(p->key_id, key, 64);
			p->key_id[64] = '\0';
			p->signed_len = (size_t)(line - doc);
			p->embedded = true;
			break;
		}
		if ((v = csv_value(line, n, "report_key_id", &vlen))) {
			if (!hex64(v, vlen))
				return fail(err, err_size,
					    "line %u: report_key_id is not a SHA-256", lineno);
			memcpy(p->key_id, v, 64);
			p->key_id[64] = '\0';
		} else if ((v = csv_value(line, n, "previous_report_sha256", &vlen))) {
			if (vlen && !hex64(v, vlen))
				return fail(err, err_size,
					    "line %u: previous_report_sha256 is not a SHA-256",
					    lineno);
			memcpy(p->previous_sha256, v, vlen);
			p->previous_sha256[vlen] = '\0';
			have_previous = true;
		}
	}
	if (!have_previous)
		return fail(err, err_size, "no report,previous_report_sha256 line in the report");
	return 0;
}

int report_parse(const char *doc, size_t len, struct report_parsed *ret, char *err, size_t err_size)
{
	struct report_parsed p = {};
	int r;

	if (len > 0 && doc[0] == '{')
		r = parse_json(doc, len, &p, err, err_size);
	else if (len >= strlen(CSV_MAGIC) && memcmp(doc, CSV_MAGIC, strlen(CSV_MAGIC)) == 0)
		r = parse_csv(doc, len, &p, err, err_size);
	else
		r = fail(err, err_size,
			 "not an hpcmeter report (neither a JSON object nor a CSV report)");
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}
