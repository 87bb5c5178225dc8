// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl reload: make hpcmeterd re-read its licence directory (Reload; root only). */

#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-verbs.h"
#include "util.h"

int verb_reload(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	(void)argc;

	r = bus_call(bus, "Reload", &reply, "");
	if (r < 0 || !arg_json)
		return r;
	/* --json: the licences as loaded now (as licenses --json), to see what the reload did */
	return verb_licenses(bus, 1, argv);
}
