/* ecsa-task-view.c: EcsaTaskView snapshots (see the header).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-task-view.h"

#include <string.h>

/* The view is the first member, so ecsa_task_view_free() finds the rest. */
typedef struct
{
  EcsaTaskView view;
  GStringChunk *strings;
  EcsaContainerView *containers;
  const EcsaContainerView **container_ptrs;
} TaskViewAlloc;

const char *
ecsa_task_view_task_status(EcsaTaskStatus status)
{
  switch (status)
    {
    case ECSA_TASK_NONE:
      return "NONE";
    case ECSA_TASK_RUNNING:
      return "RUNNING";
    case ECSA_TASK_STOPPED:
    case ECSA_TASK_ZOMBIE:
      return "STOPPED";
    default:
      return "PENDING";
    }
}

const char *
ecsa_task_view_container_status(EcsaContainerStatus status)
{
  switch (status)
    {
    case ECSA_CONTAINER_RESOURCES_PROVISIONED:
      return "RUNNING";
    case ECSA_CONTAINER_ZOMBIE:
      return "STOPPED";
    default:
      return ecsa_container_status_to_string(status);
    }
}

static const char *
str(GStringChunk *chunk, const char *s)
{
  return g_string_chunk_insert_const(chunk, s != NULL ? s : "");
}

EcsaTaskView *
ecsa_task_view_new(const EcsaTask *task)
{
  TaskViewAlloc *a;
  guint n;

  g_return_val_if_fail(task != NULL, NULL);

  /* the agent's own containers (the awsvpc sandbox) are not the task's */
  n = 0;
  for (guint i = 0; i < task->containers->len; i++)
    if (!((const EcsaContainer *)task->containers->pdata[i])->internal)
      n++;
  a = g_new0(TaskViewAlloc, 1);
  a->strings = g_string_chunk_new(512);
  a->containers = g_new0(EcsaContainerView, n);
  a->container_ptrs = g_new0(const EcsaContainerView *, n + 1);
  a->view.struct_size = sizeof(EcsaTaskView);
  a->view.n_containers = n;
  a->view.arn = str(a->strings, task->arn);
  a->view.family = str(a->strings, task->family);
  a->view.version = str(a->strings, task->version);
  a->view.network_mode = str(a->strings, ecsa_task_get_network_mode(task));
  a->view.known_status = ecsa_task_view_task_status(task->known_status);
  a->view.desired_status = ecsa_task_view_task_status(task->desired_status);
  a->view.credentials_id = str(a->strings, task->credentials_id);
  a->view.execution_credentials_id = str(a->strings, task->execution_credentials_id);
  for (guint i = 0, j = 0; i < task->containers->len; i++)
    {
      const EcsaContainer *c = task->containers->pdata[i];
      EcsaContainerView *cv;

      if (c->internal)
        continue;
      cv = &a->containers[j];
      GHashTableIter it;
      gpointer k, v;

      cv->struct_size = sizeof(EcsaContainerView);
      cv->essential = c->essential;
      cv->name = str(a->strings, c->name);
      cv->image = str(a->strings, c->image);
      cv->docker_id = str(a->strings, c->docker_id);
      cv->docker_name = str(a->strings, c->docker_id != NULL ? c->docker_name : NULL);
      cv->known_status = ecsa_task_view_container_status(c->known_status);
      cv->desired_status = ecsa_task_view_container_status(c->desired_status);
      cv->log_driver = str(a->strings, c->log_driver);
      cv->log_options = g_hash_table_new(g_str_hash, g_str_equal);
      g_hash_table_iter_init(&it, c->log_options);
      while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(cv->log_options, (gpointer)str(a->strings, k), (gpointer)str(a->strings, v));
      cv->pid = c->known_status == ECSA_CONTAINER_RUNNING ? c->pid : 0;
      a->container_ptrs[j++] = cv;
    }
  a->view.containers = a->container_ptrs;
  return &a->view;
}

void
ecsa_task_view_free(EcsaTaskView *view)
{
  TaskViewAlloc *a = (TaskViewAlloc *)view;

  if (view == NULL)
    return;
  for (guint i = 0; i < view->n_containers; i++)
    g_hash_table_unref(a->containers[i].log_options);
  g_free(a->containers);
  g_free(a->container_ptrs);
  g_string_chunk_free(a->strings);
  g_free(a);
}

const EcsaContainerView *
ecsa_task_view_get_container(const EcsaTaskView *view, const char *name)
{
  g_return_val_if_fail(view != NULL && name != NULL, NULL);

  for (guint i = 0; i < view->n_containers; i++)
    if (strcmp(view->containers[i]->name, name) == 0)
      return view->containers[i];
  return NULL;
}
