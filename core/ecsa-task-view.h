/* ecsa-task-view.h: read-only snapshots of tasks in the plugin-api shape (EcsaTaskView).
 *
 * A view copies what it shows: it stays valid after the task changes or is forgotten, until
 * ecsa_task_view_free(). Task statuses are ECS's ("NONE", "PENDING", "RUNNING", "STOPPED"),
 * container statuses "NONE", "PULLED", "CREATED", "RUNNING", "STOPPED".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"
#include "ecsa-task.h"

G_BEGIN_DECLS

EcsaTaskView *ecsa_task_view_new(const EcsaTask *task);
void ecsa_task_view_free(EcsaTaskView *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTaskView, ecsa_task_view_free)

/* The view of one of the task's containers inside `view` (borrowed), or NULL. */
const EcsaContainerView *ecsa_task_view_get_container(const EcsaTaskView *view, const char *name);

/* The status strings used in views. */
const char *ecsa_task_view_task_status(EcsaTaskStatus status);
const char *ecsa_task_view_container_status(EcsaContainerStatus status);

G_END_DECLS
