/* ecsa-backoff.h: exponential backoff with jitter, as agent v1.16.2's utils.SimpleBackoff.
 *
 * next() returns the current delay plus a random jitter in [0, current * jitter_multiple), then
 * grows the current delay by `multiple`, capped at `max`. reset() goes back to `min`.
 * Used by the ACS session (250 ms .. 2 min, x1.5, 0.2), the TCS session (1 s .. 1 min, x2, 0.2)
 * and the state reporter (1 s .. 30 s, x1.3, 0.2).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EcsaBackoff EcsaBackoff;

EcsaBackoff *ecsa_backoff_new (GTimeSpan min, GTimeSpan max, double jitter_multiple, double multiple);
void ecsa_backoff_free (EcsaBackoff *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaBackoff, ecsa_backoff_free)

/* The next delay (microseconds), then grow. */
GTimeSpan ecsa_backoff_next (EcsaBackoff *self);
void ecsa_backoff_reset (EcsaBackoff *self);
/* The delay next() will start from (without jitter). */
GTimeSpan ecsa_backoff_peek (const EcsaBackoff *self);

/* Tests: draw the jitter from this generator (not owned; NULL: g_random). */
void ecsa_backoff_set_rand (EcsaBackoff *self, GRand *rand);

/* duration + a random value in [0, jitter) (utils.AddJitter); jitter <= 0 adds nothing. */
GTimeSpan ecsa_add_jitter (GTimeSpan duration, GTimeSpan jitter, GRand *rand);

G_END_DECLS
