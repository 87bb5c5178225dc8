/* SPDX-License-Identifier: GPL-2.0-only */
/* Inside the core: tell the outside world through struct manager_notify (core.h), if anybody
 * listens. Each returns what the listener did (1 told, 0 nobody there, <0 failed). */
#pragma once

#include "manager.h"

static inline int notify_violation_raised(struct manager *m, const struct violation *v)
{
	return m->notify && m->notify->violation_raised ?
		       m->notify->violation_raised(m->notify_ud, v) :
		       0;
}

static inline int notify_violation_cleared(struct manager *m, uint64_t seq, uint64_t time_usec,
					   const char *key)
{
	return m->notify && m->notify->violation_cleared ?
		       m->notify->violation_cleared(m->notify_ud, seq, time_usec, key) :
		       0;
}

static inline int notify_violation_acknowledged(struct manager *m, const struct violation_ack *a)
{
	return m->notify && m->notify->violation_acknowledged ?
		       m->notify->violation_acknowledged(m->notify_ud, a) :
		       0;
}

static inline int notify_threshold(struct manager *m, const struct threshold_event *e)
{
	return m->notify && m->notify->threshold ? m->notify->threshold(m->notify_ud, e) : 0;
}

static inline int notify_gap(struct manager *m, const struct gap *g)
{
	return m->notify && m->notify->gap ? m->notify->gap(m->notify_ud, g) : 0;
}

static inline int notify_meter_state(struct manager *m, uint64_t seq, uint64_t time_usec,
				     const char *meter, const char *state)
{
	return m->notify && m->notify->meter_state ?
		       m->notify->meter_state(m->notify_ud, seq, time_usec, meter, state) :
		       0;
}

static inline void notify_changed(struct manager *m, enum manager_change what)
{
	if (m->notify && m->notify->changed)
		m->notify->changed(m->notify_ud, what);
}
