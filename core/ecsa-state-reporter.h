/* ecsa-state-reporter.h: submits the engine's state changes to ECS (agent v1.16.2's eventhandler).
 *
 *  - Container changes (RUNNING, STOPPED) are batched per task and go out inside
 *    SubmitTaskStateChange's containers[] with the task's next change; the latest change of a
 *    container supersedes an earlier unsent one in the batch.
 *  - Every 20 s, the batches of tasks whose known status is RUNNING are flushed as a
 *    SubmitTaskStateChange with status RUNNING (v1.16.2's drain ticker). Batches of tasks that are
 *    not RUNNING yet wait for the task's change (ECS hears only RUNNING and STOPPED task statuses);
 *    batches of STOPPED or forgotten tasks are dropped, since ECS takes no container change after
 *    the task stopped (their task change carried them).
 *  - Per task, changes are submitted strictly in order, one at a time; a failure is retried with
 *    backoff (1 s .. 30 s, x1.3, 20% jitter) until ECS accepts it; nothing is dropped. At most 3
 *    tasks submit at once. After acceptance the engine hears mark_sent() for the task change and
 *    each container change it carried (the engine checkpoints the sent status and, after a
 *    restart, emits again whatever is still owed).
 *  - Memory: one queue per task with unsent changes, holding at most the task's transitions;
 *    the queue goes away once it is empty.
 *
 * SubmitContainerStateChange is never used: v1.16.2's event handler sends container changes only
 * inside SubmitTaskStateChange (PROTOCOL-NOTES.md).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-ecs-client.h"
#include "ecsa-state-change.h"

G_BEGIN_DECLS

#define ECSA_STATE_REPORTER_DRAIN_INTERVAL (20 * G_USEC_PER_SEC)
#define ECSA_STATE_REPORTER_CONCURRENT_TASKS 3
#define ECSA_STATE_REPORTER_UNRECOGNIZED_TASK_PREFIX "UnrecogniedTaskError: Error loading task - " /* sic, v1.16.2 */

typedef struct
{
  gpointer engine;
  /* ECS accepted `change` (a task or a container change). */
  void (*mark_sent) (gpointer engine, const EcsaStateChange *change);
  /* The task's known status ("NONE", "PULLED", "CREATED", "RUNNING", "STOPPED"), or NULL when the
   * engine does not know the task. The string is owned by the caller (g_free). */
  char *(*task_known_status) (gpointer engine, const char *task_arn);
} EcsaStateReporterHooks;

typedef enum
{
  ECSA_STATE_REPORTER_TIMER_RETRY,
  ECSA_STATE_REPORTER_TIMER_DRAIN,
} EcsaStateReporterTimer;

typedef GSource *(*EcsaStateReporterTimerFactory) (EcsaStateReporterTimer which, GTimeSpan delay, gpointer user_data);

#define ECSA_TYPE_STATE_REPORTER (ecsa_state_reporter_get_type ())
G_DECLARE_FINAL_TYPE (EcsaStateReporter, ecsa_state_reporter, ECSA, STATE_REPORTER, GObject)

EcsaStateReporter *ecsa_state_reporter_new (EcsaEcsClient *client, const EcsaStateReporterHooks *hooks);

/* Start the drain timer (changes added before are kept and sent once started). */
void ecsa_state_reporter_start (EcsaStateReporter *self);
/* Stop submitting (shutdown): in-flight calls are cancelled, nothing is marked sent. */
void ecsa_state_reporter_stop (EcsaStateReporter *self);

/* A change from the engine ("state-change" signal). Copied. */
void ecsa_state_reporter_add (EcsaStateReporter *self, const EcsaStateChange *change);
/* A task the agent refused (a bad task in a payload): STOPPED with this reason, not tracked by
 * the engine (no mark_sent). */
void ecsa_state_reporter_report_task_stopped (EcsaStateReporter *self, const char *task_arn, const char *reason);

/* Changes not yet accepted (queued, in flight or batched). */
guint ecsa_state_reporter_get_pending (EcsaStateReporter *self);
/* Tasks with a queue. */
guint ecsa_state_reporter_get_task_count (EcsaStateReporter *self);

/* Tests. */
void ecsa_state_reporter_set_timer_factory (EcsaStateReporter *self, EcsaStateReporterTimerFactory factory,
                                            gpointer user_data);
/* Flush the batches now, as the drain timer does. */
void ecsa_state_reporter_drain (EcsaStateReporter *self);

G_END_DECLS
