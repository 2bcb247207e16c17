/* ecsa-cgroup.h: task-level CPU and memory limits (ECS_ENABLE_TASK_CPU_MEM_LIMIT).
 *
 * As agent v1.16.2 (agent/resources): every task gets a cgroup /ecs/<task-id> that Docker uses as
 * the CgroupParent of its containers. Task `cpu` (vCPU) becomes a CFS quota over a 100 ms period
 * (at most 10 vCPU); without it the task's CPU shares are the sum of its containers' (at least 2).
 * Task `memory` (MiB) becomes the memory limit; no container may ask for more than the task.
 *
 * cgroup v1: the directory is made in every mounted controller hierarchy (runc fills it in), the
 * limits go to cpu.cfs_quota_us/cpu.cfs_period_us or cpu.shares, and memory.limit_in_bytes.
 * cgroup v2 (unified): /sys/fs/cgroup/ecs/<task-id> with the cpu, memory and pids controllers
 * enabled below the root and /ecs; limits in cpu.max or cpu.weight, and memory.max.
 * Removal takes the container directories runc left inside first, in every hierarchy.
 *
 * All file work runs in a worker thread; results come back on the caller's main context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-task.h"

G_BEGIN_DECLS

#define ECSA_CGROUP_ROOT "/ecs"

typedef struct
{
  gint64 cpu_quota_us; /* > 0: CFS quota over cpu_period_us; 0: use cpu_shares */
  guint64 cpu_period_us;
  guint64 cpu_shares;
  gint64 memory_bytes; /* 0: no memory limit */
} EcsaCgroupSpec;

typedef struct _EcsaCgroup EcsaCgroup;

/* Find the cgroup hierarchies from `mountinfo` (NULL: /proc/self/mountinfo). Fails with
 * ECSA_ERROR_NOT_SUPPORTED when none is mounted. */
EcsaCgroup *ecsa_cgroup_new(const char *mountinfo, GError **error);
/* A unified (v2) or v1-style layout under `root`, for tests of a layout this host lacks: v1 takes
 * one directory per controller (root/cpu, root/memory, ...). */
EcsaCgroup *ecsa_cgroup_new_for_root(const char *root, gboolean v2);
void ecsa_cgroup_free(EcsaCgroup *cgroup);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaCgroup, ecsa_cgroup_free)

gboolean ecsa_cgroup_is_v2(EcsaCgroup *cgroup);

/* "/ecs/<task-id>": the CgroupParent of the task's containers. */
char *ecsa_cgroup_task_path(const char *task_id);

/* v1.16.2's BuildLinuxResourceSpec: fails with ECSA_ERROR_INVALID_DATA when the task asks for more
 * than 10 vCPU, or a container asks for more memory than the task. */
gboolean ecsa_cgroup_spec_for_task(const EcsaTask *task, EcsaCgroupSpec *out_spec, GError **error);

/* Create /ecs (at start-up). */
void ecsa_cgroup_init_async(EcsaCgroup *cgroup, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
gboolean ecsa_cgroup_init_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error);

/* Create /ecs/<task-id> (or keep the existing one) and apply the limits. */
void ecsa_cgroup_setup_task_async(EcsaCgroup *cgroup, const char *task_id, const EcsaCgroupSpec *spec,
                                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_cgroup_setup_task_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error);

/* Remove /ecs/<task-id> and what runc left inside, in every hierarchy; a missing one is fine. */
void ecsa_cgroup_remove_task_async(EcsaCgroup *cgroup, const char *task_id, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_cgroup_remove_task_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error);

/* The directories of /ecs/<task-id> (one per hierarchy), for tests and diagnostics. */
GPtrArray *ecsa_cgroup_task_dirs(EcsaCgroup *cgroup, const char *task_id);

G_END_DECLS
