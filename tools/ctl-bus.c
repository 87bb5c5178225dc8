// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl on the bus (see ctl-bus.h). */

#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-exit.h"
#include "hpcmeter-bus.h"
#include "util.h"

int bus_open(const char *address, sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	if (!address)
		r = sd_bus_open_system_with_description(&bus, PROGRAM);
	else {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_set_description(bus, PROGRAM);
		if (r >= 0)
			r = sd_bus_start(bus);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

const char *bus_error_message(const sd_bus_error *error, int r)
{
	/* The bus's own text lists its policy rules; say what the policy means instead. */
	if (error && sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
		return "access denied by the bus policy (reading needs root or membership in group "
		       "hpcmeter; reload and job announcements need root)";
	if (error && sd_bus_error_is_set(error) && !isempty(error->message))
		return error->message;
	return strerror(r < 0 ? -r : r);
}

int bus_connect(sd_bus **ret)
{
	int r = bus_open(arg_address, ret);

	if (r < 0) {
		ctl_exit_from_connect_error(r);
		if (arg_address)
			log_error("cannot connect to the bus at %s: %s", arg_address, strerror(-r));
		else
			log_error("cannot connect to the system bus: %s", strerror(-r));
	}
	return r;
}

void log_bus_call_error(const char *member, const sd_bus_error *error, int r)
{
	ctl_exit_from_bus_error(error, r);
	if (ctl_bus_error_not_running(error)) {
		if (arg_address)
			log_error("cannot reach hpcmeterd (" HPCMETER_BUS_NAME
				  ") on the bus at %s: %s",
				  arg_address, bus_error_message(error, r));
		else
			log_error("cannot reach hpcmeterd (" HPCMETER_BUS_NAME
				  ") on the system bus: %s",
				  bus_error_message(error, r));
	} else
		log_error("%s failed: %s", member, bus_error_message(error, r));
}

int bus_call(sd_bus *bus, const char *member, sd_bus_message **ret_reply, const char *types, ...)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	va_start(ap, types);
	r = sd_bus_call_methodv(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
				hpcmeter_iface(member), member, &error, ret_reply, types, ap);
	va_end(ap);
	if (r < 0)
		log_bus_call_error(member, &error, r);
	return r;
}

int log_parse_error(const char *member, int r)
{
	log_error("cannot parse the reply of %s: %s", member, strerror(-r));
	return r;
}
