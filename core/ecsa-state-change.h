/* ecsa-state-change.h: what the task engine reports and the state reporter submits to ECS.
 *
 * Contract (engine <-> reporter):
 *  - The engine emits EcsaTaskEngine::state-change for every transition ECS must hear about, as
 *    agent v1.16.2 reports them: container RUNNING and STOPPED, task RUNNING and STOPPED, in the
 *    order they happened within a task.
 *  - The reporter submits them in order per task, retrying with backoff, and calls
 *    ecsa_task_engine_mark_sent() once ECS accepted one. The engine checkpoints that "sent status".
 *  - After a restart the engine emits again every change whose sent status is behind its known
 *    status, so nothing owed is lost.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  ECSA_STATE_CHANGE_CONTAINER = 0,
  ECSA_STATE_CHANGE_TASK = 1,
} EcsaStateChangeKind;

typedef struct
{
  char *bind_ip;         /* "0.0.0.0", "::" */
  guint16 container_port;
  guint16 host_port;
  char *protocol;        /* "tcp" | "udp" */
} EcsaNetworkBinding;

typedef struct
{
  EcsaStateChangeKind kind;
  char *task_arn;
  char *container_name;      /* CONTAINER only */
  char *status;              /* "RUNNING", "STOPPED" */
  char *reason;              /* or NULL */
  gboolean has_exit_code;    /* CONTAINER only */
  int exit_code;
  GPtrArray *network_bindings; /* EcsaNetworkBinding*, CONTAINER only; NULL or empty when none */
  gint64 timestamp;          /* g_get_real_time() of the transition */
  /* Task changes: the transitions of its containers not yet acknowledged, so the reporter can send
   * them inside SubmitTaskStateChange's containers[] (EcsaStateChange*, kind CONTAINER) */
  GPtrArray *containers;
  /* Task changes: SubmitTaskStateChange's timestamps, g_get_real_time() values, 0 when unknown.
   * A STOPPED task without execution_stopped_at reports `timestamp` as executionStoppedAt. */
  gint64 pull_started_at;
  gint64 pull_stopped_at;
  gint64 execution_stopped_at;
} EcsaStateChange;

EcsaStateChange *ecsa_state_change_copy (const EcsaStateChange *change);
void ecsa_state_change_free (EcsaStateChange *change);
void ecsa_network_binding_free (EcsaNetworkBinding *binding);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaStateChange, ecsa_state_change_free)

G_END_DECLS
