/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: the daemon's parsing of the module's generic-netlink replies and events
 * (lib/kmeter-client.c, through libnl's receive loop). The client's transport is replaced
 * (kmeter_client_set_transport): requests go nowhere and every datagram "received" comes from
 * the input, so hostile replies reach the real callbacks: GET_INFO, the usage and inventory
 * dumps, NLMSG_ERROR with extended ACKs, NLMSG_DONE, interrupted dumps and multicast events.
 *
 * Input: one byte choosing the request (and whether sequence numbers are left as they are or
 * set to the request's, so that the mutator gets past libnl's sequence check), then datagrams,
 * each a little-endian u16 length and that many bytes. Each datagram is handed over in a
 * buffer of exactly its size, so AddressSanitizer sees any read past it. When the datagrams
 * run out, the receive times out (-NLE_AGAIN), as the real socket does after SO_RCVTIMEO. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "kmeter-client.h"

#define FAMILY 0x20 /* any id above the fixed ones (NLMSG_MIN_TYPE) */
#define GROUP 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kmeter_client *client;
static const uint8_t *in;
static size_t in_left;
static bool fix_seq;
static uint32_t last_seq;
static unsigned long sends, calls;

static int fake_send(struct nl_sock *sk, struct nl_msg *msg)
{
	last_seq = nlmsg_hdr(msg)->nlmsg_seq;
	sends++;
	return nlmsg_hdr(msg)->nlmsg_len;
}

static int fake_recv(struct nl_sock *sk, struct sockaddr_nl *addr, unsigned char **buf,
		     struct ucred **creds)
{
	size_t len;
	unsigned char *b;

	if (creds)
		*creds = NULL;
	if (in_left < 2)
		return -NLE_AGAIN;
	len = in[0] | (size_t)in[1] << 8;
	in += 2;
	in_left -= 2;
	if (len > in_left)
		len = in_left;
	if (len == 0) /* recvmsg() never returns an empty netlink datagram */
		return -NLE_AGAIN;
	b = malloc(len);
	if (!b)
		return -NLE_NOMEM;
	memcpy(b, in, len);
	in += len;
	in_left -= len;
	if (fix_seq) {
		/* Every whole header in the datagram gets the request's sequence number. */
		for (size_t off = 0; off + sizeof(struct nlmsghdr) <= len;) {
			struct nlmsghdr h;

			memcpy(&h, b + off, sizeof(h));
			h.nlmsg_seq = last_seq;
			memcpy(b + off, &h, sizeof(h));
			if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
				break;
			off += NLMSG_ALIGN((size_t)h.nlmsg_len);
		}
	}
	memset(addr, 0, sizeof(*addr));
	addr->nl_family = AF_NETLINK;
	*buf = b;
	return (int)len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (kmeter_client_open(&client) < 0 ||
	    kmeter_client_set_transport(client, FAMILY, GROUP, fake_send, fake_recv) < 0)
		abort();
	return 0;
}

static int on_usage(const struct kmeter_usage *u, void *userdata)
{
	calls++;
	return 0;
}

static int on_dev(const struct kmeter_dev *d, void *userdata)
{
	if (!memchr(d->bus_id, '\0', sizeof(d->bus_id)))
		abort();
	calls++;
	return 0;
}

static void on_event(const struct kmeter_event *e, void *userdata)
{
	if (!memchr(e->name, '\0', sizeof(e->name)) || !memchr(e->value, '\0', sizeof(e->value)))
		abort();
	calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmeter_info info;
	bool intr = false;
	int r = 0;

	if (size < 1)
		return 0;
	in = data + 1;
	in_left = size - 1;
	fix_seq = !(data[0] & 0x80);
	switch (data[0] & 3) {
	case 0:
		r = kmeter_client_info(client, &info);
		if (r == 0 &&
		    (!info.version[0] || !memchr(info.version, '\0', sizeof(info.version)) ||
		     !memchr(info.boot_id, '\0', sizeof(info.boot_id))))
			abort();
		break;
	case 1:
		r = kmeter_client_usage(client, on_usage, NULL, &intr);
		break;
	case 2:
		r = kmeter_client_inventory(client, on_dev, NULL);
		break;
	case 3:
		r = kmeter_client_read_events(client, on_event, NULL);
		break;
	}
	/* An error is a negative errno and the kernel's message stays terminated. */
	if (r > 0 || !memchr(kmeter_client_extack(client), '\0', 256))
		abort();
	return 0;
}
