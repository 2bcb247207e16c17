/* ecsa-metrics.h: the metrics plugin kind (ECSA_PLUGIN_KIND_METRICS).
 *
 * A metrics plugin follows the containers the agent runs and, when asked, hands over the CPU and
 * memory statistics gathered since the last call, as TCS wants them (agent v1.16.2's stats engine):
 * per container a CPU utilisation set (percent of one core, per sample) and a memory set (MiB), each
 * as min/max/sum/sample count. The core publishes them over TCS every 20 s (and may hand them to
 * other sinks). Only the first loaded metrics plugin is used.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_METRICS_VTABLE_VERSION 1

typedef struct
{
  double min;
  double max;
  double sum;
  guint64 sample_count; /* 0: no samples in the interval; min/max/sum are then meaningless */
} EcsaStatSet;

typedef struct
{
  guint32 struct_size;
  guint32 padding_;
  char *container_name; /* the name in the task definition */
  char *docker_id;
  EcsaStatSet cpu;    /* percent of one CPU */
  EcsaStatSet memory; /* MiB */
} EcsaContainerMetrics;

typedef struct
{
  guint32 struct_size;
  guint32 n_containers;
  char *task_arn;
  char *family;
  char *version;
  EcsaContainerMetrics **containers; /* n_containers entries, each g_new0'ed */
} EcsaTaskMetrics;

/* Everything is allocated with g_new0/g_strdup by the plugin and freed by the core with this. */
static inline void
ecsa_task_metrics_free (EcsaTaskMetrics *m)
{
  guint i;

  if (m == NULL)
    return;
  for (i = 0; m->containers != NULL && i < m->n_containers; i++)
    {
      if (m->containers[i] == NULL)
        continue;
      g_free (m->containers[i]->container_name);
      g_free (m->containers[i]->docker_id);
      g_free (m->containers[i]);
    }
  g_free (m->containers);
  g_free (m->task_arn);
  g_free (m->family);
  g_free (m->version);
  g_free (m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTaskMetrics, ecsa_task_metrics_free)

typedef struct
{
  guint32 version; /* ECSA_METRICS_VTABLE_VERSION the plugin was built with */
  guint32 padding_;

  /* since 1: a container of a task started running / stopped. After a restart the core calls
   * container_started() for every container it finds running. */
  void (*container_started) (gpointer state, const EcsaTaskView *task, const EcsaContainerView *container);
  void (*container_stopped) (gpointer state, const char *docker_id);

  /* since 1: the sets gathered since the previous call, one EcsaTaskMetrics* per task with at least
   * one running container; a new GPtrArray with free func ecsa_task_metrics_free. Starts new sets. */
  GPtrArray *(*collect) (gpointer state);

  gpointer reserved[4];
} EcsaMetricsVTable;

#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (EcsaMetricsVTable) == 64);
#endif

G_END_DECLS
