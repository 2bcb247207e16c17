/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-backoff.h"

struct _EcsaBackoff
{
  GTimeSpan min;
  GTimeSpan max;
  GTimeSpan current;
  double jitter_multiple;
  double multiple;
  GRand *rand; /* not owned */
};

EcsaBackoff *
ecsa_backoff_new (GTimeSpan min, GTimeSpan max, double jitter_multiple, double multiple)
{
  EcsaBackoff *self;

  g_return_val_if_fail (min > 0 && max >= min && multiple >= 1.0 && jitter_multiple >= 0.0, NULL);

  self = g_new0 (EcsaBackoff, 1);
  self->min = min;
  self->max = max;
  self->current = min;
  self->jitter_multiple = jitter_multiple;
  self->multiple = multiple;
  return self;
}

void
ecsa_backoff_free (EcsaBackoff *self)
{
  g_free (self);
}

GTimeSpan
ecsa_add_jitter (GTimeSpan duration, GTimeSpan jitter, GRand *rand)
{
  if (jitter <= 0)
    return duration;
  if (jitter > G_MAXINT32)
    {
      double r = rand != NULL ? g_rand_double (rand) : g_random_double ();
      return duration + (GTimeSpan) (r * (double) jitter);
    }
  return duration + (rand != NULL ? g_rand_int_range (rand, 0, (gint32) jitter) : g_random_int_range (0, (gint32) jitter));
}

GTimeSpan
ecsa_backoff_next (EcsaBackoff *self)
{
  GTimeSpan ret = self->current;
  double grown = (double) self->current * self->multiple;

  self->current = grown >= (double) self->max ? self->max : (GTimeSpan) grown;
  return ecsa_add_jitter (ret, (GTimeSpan) ((double) ret * self->jitter_multiple), self->rand);
}

void
ecsa_backoff_reset (EcsaBackoff *self)
{
  self->current = self->min;
}

GTimeSpan
ecsa_backoff_peek (const EcsaBackoff *self)
{
  return self->current;
}

void
ecsa_backoff_set_rand (EcsaBackoff *self, GRand *rand)
{
  self->rand = rand;
}
