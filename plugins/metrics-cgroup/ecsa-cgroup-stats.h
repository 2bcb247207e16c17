/* ecsa-cgroup-stats.h: reading a container's CPU and memory usage from its cgroup (v1 or v2).
 *
 * Pure functions over text and files, safe to call from any thread. Internal to the
 * metrics-cgroup plugin (the .so exports none of it).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *mount_point; /* where the hierarchy is mounted ("/sys/fs/cgroup/cpuacct"), NULL: absent */
  char *root;        /* the hierarchy path mounted there ("/" unless in a cgroup namespace) */
} EcsaCgroupMount;

typedef struct
{
  EcsaCgroupMount cpuacct; /* cgroup v1 controller holding cpuacct.usage */
  EcsaCgroupMount memory;  /* cgroup v1 memory controller */
  EcsaCgroupMount unified; /* cgroup2 */
} EcsaCgroupMounts;

/* Find the hierarchies in /proc/self/mountinfo's text. FALSE when neither v1 (cpuacct and memory)
 * nor v2 is mounted. */
gboolean ecsa_cgroup_mounts_parse (const char *mountinfo, EcsaCgroupMounts *out, GError **error);
void ecsa_cgroup_mounts_clear (EcsaCgroupMounts *mounts);
void ecsa_cgroup_mounts_copy (const EcsaCgroupMounts *src, EcsaCgroupMounts *dst);

typedef struct
{
  gboolean v2;
  char *cpu_file;  /* v1: cpuacct.usage (ns); v2: cpu.stat (usage_usec) */
  char *mem_file;  /* v1: memory.usage_in_bytes; v2: memory.current */
  char *stat_file; /* memory.stat (v1: cache; v2: file) */
} EcsaCgroupFiles;

/* The files of a container from its main process's /proc/<pid>/cgroup text. Fails with
 * G_IO_ERROR_NOT_FOUND when the process is not in a cgroup of that container (`docker_id` is not
 * in the path: the process exited and its PID was reused). v1 wins when its cpuacct and memory
 * controllers are mounted (a hybrid host), else v2. */
gboolean ecsa_cgroup_files_resolve (const EcsaCgroupMounts *mounts, const char *proc_cgroup, const char *docker_id,
                                    EcsaCgroupFiles *out, GError **error);
void ecsa_cgroup_files_clear (EcsaCgroupFiles *files);
void ecsa_cgroup_files_copy (const EcsaCgroupFiles *src, EcsaCgroupFiles *dst);

/* Parse a file holding one unsigned integer ("183928703\n"). */
gboolean ecsa_cgroup_parse_u64 (const char *text, guint64 *out, GError **error);
/* Find `key`'s value in "key value" lines (memory.stat, cpu.stat). */
gboolean ecsa_cgroup_parse_keyed (const char *text, const char *key, guint64 *out, GError **error);

/* One reading: cumulative CPU time (ns, all CPUs) and memory in use without the page cache
 * (bytes), as agent v1.16.2 computes them from Docker's stats (usage - cache). */
gboolean ecsa_cgroup_read (const EcsaCgroupFiles *files, guint64 *out_cpu_ns, guint64 *out_mem_bytes, GError **error);

G_END_DECLS
