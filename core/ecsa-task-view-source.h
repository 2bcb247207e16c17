/* ecsa-task-view-source.h: where the HTTP servers read tasks from.
 *
 * The introspection API and the credentials endpoint see tasks only as read-only EcsaTaskView
 * snapshots (plugin-api/ecsa-plugin.h). The agent wires this to the task engine
 * (ecsa_task_engine_list_task_views / get_task_view / get_task_view_by_docker_id); tests wire it to
 * their own tables. Called on the main context only.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef struct
{
  /* Every task the agent knows, in a stable order; the array frees its views. */
  GPtrArray *(*list)(gpointer user_data);
  /* One task by ARN, or NULL. */
  EcsaTaskView *(*lookup)(gpointer user_data, const char *task_arn);
  /* The task owning a container, by its full Docker ID, or NULL. */
  EcsaTaskView *(*lookup_by_docker_id)(gpointer user_data, const char *docker_id);
  /* Frees what lookup and lookup_by_docker_id return. */
  void (*free_view)(EcsaTaskView *view);
  gpointer user_data;
} EcsaTaskViewSource;

G_END_DECLS
