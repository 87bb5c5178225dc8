// SPDX-License-Identifier: GPL-2.0-only
/* Ed25519 keys and signatures for reports (see sign.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger-chain.h"
#include "sign.h"
#include "util.h"

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, bool private)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
		       PEM_write_PUBKEY(f, key);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return -EIO;
	}
	return 0;
}

int sign_key_ensure(const char *dir, char *err, size_t err_size)
{
	char priv[4200], pub[4200], tmp[4300];
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx;
	int r;

	snprintf(priv, sizeof(priv), "%s/%s", dir, SIGN_KEY_FILE);
	snprintf(pub, sizeof(pub), "%s/%s", dir, SIGN_PUB_FILE);
	if (access(priv, F_OK) == 0) {
		/* The public half can always be derived again. */
		if (access(pub, F_OK) < 0 && sign_load_private(priv, &key, err, err_size) == 0)
			write_pem(pub, 0644, key, false);
		return 0;
	}
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		snprintf(err, err_size, "cannot generate an Ed25519 key");
		return -EIO;
	}
	EVP_PKEY_CTX_free(ctx);
	/* Written under a temporary name and renamed: a crash leaves no half key behind. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", priv);
	unlink(tmp);
	r = write_pem(tmp, 0600, key, true);
	if (r == 0 && rename(tmp, priv) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		snprintf(err, err_size, "cannot write %s: %s", priv, strerror(-r));
		return r;
	}
	unlink(pub);
	r = write_pem(pub, 0644, key, false);
	if (r < 0) {
		snprintf(err, err_size, "cannot write %s: %s", pub, strerror(-r));
		return r;
	}
	return 1;
}

static int load(const char *path, bool private, EVP_PKEY **ret, char *err, size_t err_size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	EVP_PKEY *key;

	if (!f) {
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) :
			PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!key) {
		snprintf(err, err_size, "%s: not a PEM %s key", path,
			 private ? "private" : "public");
		return -EINVAL;
	}
	if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		snprintf(err, err_size, "%s: not an Ed25519 key", path);
		return -EINVAL;
	}
	*ret = key;
	return 0;
}

int sign_load_private(const char *path, EVP_PKEY **ret, char *err, size_t err_size)
{
	return load(path, true, ret, err, err_size);
}

int sign_load_public(const char *path, EVP_PKEY **ret, char *err, size_t err_size)
{
	return load(path, false, ret, err, err_size);
}

int sign_data(EVP_PKEY *key, const void *data, size_t len, uint8_t sig[SIGN_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t n = SIGN_LEN;
	int ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestSignInit(c, NULL, NULL, NULL, key) > 0 &&
	     EVP_DigestSign(c, sig, &n, data, len) > 0 && n == SIGN_LEN;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -EIO;
}

int sign_verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t sig[SIGN_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(c, NULL, NULL, NULL, key) > 0 &&
	     EVP_DigestVerify(c, sig, SIGN_LEN, data, len) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -EBADMSG;
}

int sign_key_id(EVP_PKEY *key, char out[65])
{
	unsigned char *der = NULL;
	uint8_t digest[CHAIN_HASH_LEN];
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return -EIO;
	chain_sha256(der, n, digest);
	OPENSSL_free(der);
	chain_hex(digest, sizeof(digest), out);
	return 0;
}

void sign_base64(const uint8_t *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, len);
}

int sign_unbase64(const char *in, uint8_t *out, size_t out_size)
{
	size_t len = strlen(in), pad = 0;
	unsigned char buf[256];
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(buf))
		return -EINVAL;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, len);
	if (n < 0)
		return -EINVAL;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	n -= pad;
	if (n < 0 || (size_t)n > out_size)
		return -EINVAL;
	memcpy(out, buf, n);
	return n;
}
