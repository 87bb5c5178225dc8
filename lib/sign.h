/* SPDX-License-Identifier: GPL-2.0-only */
/* The node's Ed25519 report key (OpenSSL libcrypto): created at the daemon's first start in the
 * state directory (private key 0600, public key 0644, PEM), used by hpcmeterctl to sign reports
 * and, with the public key only, to verify them anywhere. */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_KEY_FILE "report-key.pem"
#define SIGN_PUB_FILE "report-key.pub.pem"
#define SIGN_LEN 64

/* Create the key pair in dir unless it exists. Returns 1 when created, 0 when present. */
int sign_key_ensure(const char *dir, char *err, size_t err_size);

int sign_load_private(const char *path, EVP_PKEY **ret, char *err, size_t err_size);
int sign_load_public(const char *path, EVP_PKEY **ret, char *err, size_t err_size);

int sign_data(EVP_PKEY *key, const void *data, size_t len, uint8_t sig[SIGN_LEN]);
/* 0 when sig is a valid signature of data by key, -EBADMSG otherwise. */
int sign_verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t sig[SIGN_LEN]);

/* SHA-256 (hex) of the public key's DER encoding: the key's fingerprint. */
int sign_key_id(EVP_PKEY *key, char out[65]);

/* Base64 without line breaks; out needs 4 * ((len + 2) / 3) + 1 bytes. Decode returns the
 * decoded length or -EINVAL. */
void sign_base64(const uint8_t *in, size_t len, char *out);
int sign_unbase64(const char *in, uint8_t *out, size_t out_size);
