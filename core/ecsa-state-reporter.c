/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-state-reporter.h"

#include <string.h>

#include "ecsa-backoff.h"

#define BACKOFF_MIN (1 * G_USEC_PER_SEC)
#define BACKOFF_MAX (30 * G_USEC_PER_SEC)
#define BACKOFF_JITTER 0.2
#define BACKOFF_MULTIPLE 1.3

typedef struct
{
  EcsaStateChange *change; /* kind TASK, containers[] carried */
  gboolean tracked;        /* the engine hears mark_sent() */
  gboolean drained;        /* from the drain: the task status was sent before; only containers are news */
} Event;

typedef struct _TaskQueue TaskQueue;

struct _EcsaStateReporter
{
  GObject parent_instance;

  EcsaEcsClient *client;
  EcsaStateReporterHooks hooks;
  GHashTable *tasks; /* arn -> TaskQueue* */
  GQueue waiting;    /* TaskQueue* waiting for a submission slot */
  guint active;
  gboolean running;
  GSource *drain_timer;
  GCancellable *cancellable;
  EcsaStateReporterTimerFactory factory;
  gpointer factory_data;
};

struct _TaskQueue
{
  EcsaStateReporter *owner;
  char *arn;
  GQueue events;    /* Event* */
  GPtrArray *batch; /* EcsaStateChange* containers waiting for a task change */
  gboolean sending; /* a submission in flight */
  gboolean waiting; /* in owner->waiting */
  GSource *retry_timer;
  EcsaBackoff *backoff;
};

G_DEFINE_TYPE (EcsaStateReporter, ecsa_state_reporter, G_TYPE_OBJECT)

static void
event_free (Event *event)
{
  ecsa_state_change_free (event->change);
  g_free (event);
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
task_queue_free (TaskQueue *q)
{
  clear_source (&q->retry_timer);
  g_queue_clear_full (&q->events, (GDestroyNotify) event_free);
  g_ptr_array_unref (q->batch);
  ecsa_backoff_free (q->backoff);
  g_free (q->arn);
  g_free (q);
}

static void
ecsa_state_reporter_dispose (GObject *object)
{
  EcsaStateReporter *self = ECSA_STATE_REPORTER (object);

  ecsa_state_reporter_stop (self);
  G_OBJECT_CLASS (ecsa_state_reporter_parent_class)->dispose (object);
}

static void
ecsa_state_reporter_finalize (GObject *object)
{
  EcsaStateReporter *self = ECSA_STATE_REPORTER (object);

  g_queue_clear (&self->waiting);
  g_hash_table_unref (self->tasks);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (ecsa_state_reporter_parent_class)->finalize (object);
}

static void
ecsa_state_reporter_class_init (EcsaStateReporterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ecsa_state_reporter_dispose;
  object_class->finalize = ecsa_state_reporter_finalize;
}

static void
ecsa_state_reporter_init (EcsaStateReporter *self)
{
  self->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) task_queue_free);
  g_queue_init (&self->waiting);
  self->cancellable = g_cancellable_new ();
}

EcsaStateReporter *
ecsa_state_reporter_new (EcsaEcsClient *client, const EcsaStateReporterHooks *hooks)
{
  EcsaStateReporter *self;

  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (client), NULL);

  self = g_object_new (ECSA_TYPE_STATE_REPORTER, NULL);
  self->client = g_object_ref (client);
  if (hooks != NULL)
    self->hooks = *hooks;
  return self;
}

void
ecsa_state_reporter_set_timer_factory (EcsaStateReporter *self, EcsaStateReporterTimerFactory factory,
                                       gpointer user_data)
{
  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));
  self->factory = factory;
  self->factory_data = user_data;
}

static GSource *
add_timer (EcsaStateReporter *self, EcsaStateReporterTimer which, GTimeSpan delay, GSourceFunc func, gpointer data)
{
  GSource *source = self->factory != NULL
                      ? self->factory (which, delay, self->factory_data)
                      : g_timeout_source_new ((guint) MIN ((delay + 999) / 1000, (GTimeSpan) G_MAXUINT32 / 2));

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

/* ------------------------------------------------------------------------------------------- */

static int
status_rank (const char *status)
{
  if (g_strcmp0 (status, "RUNNING") == 0)
    return 1;
  if (g_strcmp0 (status, "STOPPED") == 0)
    return 2;
  return 0;
}

static TaskQueue *
get_queue (EcsaStateReporter *self, const char *arn)
{
  TaskQueue *q = g_hash_table_lookup (self->tasks, arn);

  if (q == NULL)
    {
      q = g_new0 (TaskQueue, 1);
      q->owner = self;
      q->arn = g_strdup (arn);
      g_queue_init (&q->events);
      q->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
      q->backoff = ecsa_backoff_new (BACKOFF_MIN, BACKOFF_MAX, BACKOFF_JITTER, BACKOFF_MULTIPLE);
      g_hash_table_insert (self->tasks, q->arn, q);
    }
  return q;
}

static void
maybe_remove (TaskQueue *q)
{
  if (!q->sending && q->retry_timer == NULL && !q->waiting && g_queue_is_empty (&q->events) && q->batch->len == 0)
    g_hash_table_remove (q->owner->tasks, q->arn);
}

/* Put a container change into `set`, the later status of a container winning. Takes `change`. */
static void
put_container (GPtrArray *set, EcsaStateChange *change)
{
  for (guint i = 0; i < set->len; i++)
    {
      EcsaStateChange *c = g_ptr_array_index (set, i);

      if (g_strcmp0 (c->container_name, change->container_name) == 0)
        {
          if (status_rank (change->status) >= status_rank (c->status))
            {
              ecsa_state_change_free (c);
              set->pdata[i] = change;
            }
          else
            ecsa_state_change_free (change);
          return;
        }
    }
  g_ptr_array_add (set, change);
}

static void kick (TaskQueue *q);

static void
resume_waiting (EcsaStateReporter *self)
{
  while (self->active < ECSA_STATE_REPORTER_CONCURRENT_TASKS && !g_queue_is_empty (&self->waiting))
    {
      TaskQueue *q = g_queue_pop_head (&self->waiting);

      q->waiting = FALSE;
      kick (q);
      maybe_remove (q);
    }
}

static gboolean
retry_timer_cb (gpointer user_data)
{
  TaskQueue *q = user_data;

  clear_source (&q->retry_timer);
  kick (q);
  return G_SOURCE_REMOVE;
}

typedef struct
{
  EcsaStateReporter *self;
  char *arn;
} SubmitRef;

static void
submit_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SubmitRef *ref = user_data;
  g_autoptr(EcsaStateReporter) self = ref->self;
  g_autofree char *arn = ref->arn;
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_ecs_client_submit_task_state_change_finish (ECSA_ECS_CLIENT (source), result, &error);
  TaskQueue *q;
  Event *event;

  g_free (ref);
  self->active--;
  q = g_hash_table_lookup (self->tasks, arn);
  if (q == NULL) /* stopped: the queues are gone */
    return;
  q->sending = FALSE;
  event = g_queue_peek_head (&q->events);
  if (!ok)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          GTimeSpan delay = ecsa_backoff_next (q->backoff);

          g_warning ("Could not submit task state change [%s -> %s]: %s; retrying in %.3f s", arn,
                     event->change->status, error->message, (double) delay / G_USEC_PER_SEC);
          if (self->running)
            q->retry_timer = add_timer (self, ECSA_STATE_REPORTER_TIMER_RETRY, delay, retry_timer_cb, q);
        }
      resume_waiting (self);
      return;
    }
  g_info ("Submitted task state change [%s -> %s] with %u container change(s)", arn, event->change->status,
          event->change->containers != NULL ? event->change->containers->len : 0);
  event = g_queue_pop_head (&q->events);
  if (event->tracked && self->hooks.mark_sent != NULL)
    {
      for (guint i = 0; event->change->containers != NULL && i < event->change->containers->len; i++)
        self->hooks.mark_sent (self->hooks.engine, g_ptr_array_index (event->change->containers, i));
      if (!event->drained)
        self->hooks.mark_sent (self->hooks.engine, event->change);
    }
  event_free (event);
  ecsa_backoff_reset (q->backoff);
  kick (q);
  resume_waiting (self);
  q = g_hash_table_lookup (self->tasks, arn);
  if (q != NULL)
    maybe_remove (q);
}

static void
kick (TaskQueue *q)
{
  EcsaStateReporter *self = q->owner;
  Event *event;
  SubmitRef *ref;

  if (!self->running || q->sending || q->retry_timer != NULL || q->waiting || g_queue_is_empty (&q->events))
    return;
  if (self->active >= ECSA_STATE_REPORTER_CONCURRENT_TASKS)
    {
      q->waiting = TRUE;
      g_queue_push_tail (&self->waiting, q);
      return;
    }
  event = g_queue_peek_head (&q->events);
  q->sending = TRUE;
  self->active++;
  g_debug ("Sending task state change [%s -> %s]", q->arn, event->change->status);
  ref = g_new0 (SubmitRef, 1);
  ref->self = g_object_ref (self);
  ref->arn = g_strdup (q->arn);
  ecsa_ecs_client_submit_task_state_change_async (self->client, event->change, self->cancellable, submit_ready_cb, ref);
}

static void
enqueue (TaskQueue *q, EcsaStateChange *change, gboolean tracked, gboolean drained)
{
  Event *event;
  GList *last = g_queue_peek_tail_link (&q->events);

  /* the same task status already waiting (the engine said it again): carry the containers over */
  if (!drained && last != NULL && tracked && ((Event *) last->data)->tracked && !((Event *) last->data)->drained
      && !(q->sending && last == g_queue_peek_head_link (&q->events))
      && g_strcmp0 (((Event *) last->data)->change->status, change->status) == 0)
    {
      Event *prev = last->data;

      for (guint i = 0; change->containers != NULL && i < change->containers->len; i++)
        put_container (prev->change->containers,
                       ecsa_state_change_copy (g_ptr_array_index (change->containers, i)));
      ecsa_state_change_free (change);
      return;
    }
  event = g_new0 (Event, 1);
  event->change = change;
  event->tracked = tracked;
  event->drained = drained;
  g_queue_push_tail (&q->events, event);
  kick (q);
}

void
ecsa_state_reporter_add (EcsaStateReporter *self, const EcsaStateChange *change)
{
  TaskQueue *q;
  EcsaStateChange *task;
  GPtrArray *containers;

  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));
  g_return_if_fail (change != NULL && change->task_arn != NULL);

  q = get_queue (self, change->task_arn);
  if (change->kind == ECSA_STATE_CHANGE_CONTAINER)
    {
      if (status_rank (change->status) > 0)
        {
          g_debug ("Batching container change [%s %s -> %s]", change->task_arn, change->container_name,
                   change->status);
          put_container (q->batch, ecsa_state_change_copy (change));
        }
      maybe_remove (q);
      return;
    }
  if (status_rank (change->status) == 0)
    {
      /* not a status ECS takes for a task: keep its containers for the next one */
      for (guint i = 0; change->containers != NULL && i < change->containers->len; i++)
        put_container (q->batch, ecsa_state_change_copy (g_ptr_array_index (change->containers, i)));
      maybe_remove (q);
      return;
    }
  task = ecsa_state_change_copy (change);
  containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
  for (guint i = 0; task->containers != NULL && i < task->containers->len; i++)
    {
      EcsaStateChange *c = g_ptr_array_index (task->containers, i);
      if (status_rank (c->status) > 0)
        put_container (containers, ecsa_state_change_copy (c));
    }
  for (guint i = 0; i < q->batch->len; i++)
    put_container (containers, ecsa_state_change_copy (g_ptr_array_index (q->batch, i)));
  g_ptr_array_set_size (q->batch, 0);
  g_clear_pointer (&task->containers, g_ptr_array_unref);
  task->containers = containers;
  enqueue (q, task, TRUE, FALSE);
}

void
ecsa_state_reporter_report_task_stopped (EcsaStateReporter *self, const char *task_arn, const char *reason)
{
  EcsaStateChange *task;

  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));
  g_return_if_fail (task_arn != NULL);

  task = g_new0 (EcsaStateChange, 1);
  task->kind = ECSA_STATE_CHANGE_TASK;
  task->task_arn = g_strdup (task_arn);
  task->status = g_strdup ("STOPPED");
  task->reason = g_strdup (reason);
  task->timestamp = g_get_real_time ();
  task->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
  enqueue (get_queue (self, task_arn), task, FALSE, FALSE);
}

void
ecsa_state_reporter_drain (EcsaStateReporter *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GPtrArray) drained = g_ptr_array_new ();

  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((TaskQueue *) value)->batch->len > 0)
      g_ptr_array_add (drained, value);
  for (guint i = 0; i < drained->len; i++)
    {
      TaskQueue *q = g_ptr_array_index (drained, i);
      g_autofree char *status = self->hooks.task_known_status != NULL
                                  ? self->hooks.task_known_status (self->hooks.engine, q->arn)
                                  : NULL;

      if (g_strcmp0 (status, "RUNNING") == 0)
        {
          EcsaStateChange *task = g_new0 (EcsaStateChange, 1);

          g_info ("Adding a state change event to send %u batched container event(s) of task '%s'", q->batch->len,
                  q->arn);
          task->kind = ECSA_STATE_CHANGE_TASK;
          task->task_arn = g_strdup (q->arn);
          task->status = g_strdup ("RUNNING");
          task->timestamp = g_get_real_time ();
          task->containers = g_steal_pointer (&q->batch);
          q->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
          enqueue (q, task, TRUE, TRUE);
        }
      else if (status == NULL || g_strcmp0 (status, "STOPPED") == 0)
        {
          g_debug ("Dropping %u batched container change(s) of task '%s' (%s)", q->batch->len, q->arn,
                   status == NULL ? "unknown to the engine" : "already stopped");
          g_ptr_array_set_size (q->batch, 0);
          maybe_remove (q);
        }
    }
}

static gboolean
drain_timer_cb (gpointer user_data)
{
  EcsaStateReporter *self = user_data;

  clear_source (&self->drain_timer);
  ecsa_state_reporter_drain (self);
  if (self->running)
    self->drain_timer = add_timer (self, ECSA_STATE_REPORTER_TIMER_DRAIN, ECSA_STATE_REPORTER_DRAIN_INTERVAL,
                                   drain_timer_cb, self);
  return G_SOURCE_REMOVE;
}

void
ecsa_state_reporter_start (EcsaStateReporter *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));
  if (self->running)
    return;
  self->running = TRUE;
  if (g_cancellable_is_cancelled (self->cancellable))
    {
      g_object_unref (self->cancellable);
      self->cancellable = g_cancellable_new ();
    }
  self->drain_timer = add_timer (self, ECSA_STATE_REPORTER_TIMER_DRAIN, ECSA_STATE_REPORTER_DRAIN_INTERVAL,
                                 drain_timer_cb, self);
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    kick (value);
}

void
ecsa_state_reporter_stop (EcsaStateReporter *self)
{
  g_return_if_fail (ECSA_IS_STATE_REPORTER (self));
  self->running = FALSE;
  clear_source (&self->drain_timer);
  g_cancellable_cancel (self->cancellable);
  g_queue_clear (&self->waiting);
  g_hash_table_remove_all (self->tasks);
}

guint
ecsa_state_reporter_get_pending (EcsaStateReporter *self)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_return_val_if_fail (ECSA_IS_STATE_REPORTER (self), 0);
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      TaskQueue *q = value;

      n += q->batch->len;
      for (GList *l = q->events.head; l != NULL; l = l->next)
        {
          Event *e = l->data;
          n += (e->drained ? 0 : 1) + (e->change->containers != NULL ? e->change->containers->len : 0);
        }
    }
  return n;
}

guint
ecsa_state_reporter_get_task_count (EcsaStateReporter *self)
{
  g_return_val_if_fail (ECSA_IS_STATE_REPORTER (self), 0);
  return g_hash_table_size (self->tasks);
}
