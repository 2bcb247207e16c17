/* ecsa-cgroup.c: task cgroups (see the header).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-cgroup.h"

#include "ecsa-plugin.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define CPU_PERIOD_US 100000 /* v1.16.2: 100 ms */
#define MAX_TASK_VCPU 10
#define MIN_CPU_SHARES 2

typedef struct
{
  char *path;       /* mount point */
  gboolean cpu;     /* has the cpu controller */
  gboolean memory;  /* has the memory controller */
  gboolean cpuset;  /* has the cpuset controller */
  gboolean named;   /* name=systemd and the like: runc uses it, we only clean it */
  gboolean unified; /* a cgroup2 mount in a hybrid layout: cleaned only */
} Hierarchy;

struct _EcsaCgroup
{
  gboolean v2;
  char *v2_root;          /* v2: the unified mount */
  GPtrArray *hierarchies; /* v1: Hierarchy* */
};

static void
hierarchy_free(Hierarchy *h)
{
  g_free(h->path);
  g_free(h);
}

void
ecsa_cgroup_free(EcsaCgroup *cgroup)
{
  if (cgroup == NULL)
    return;
  g_free(cgroup->v2_root);
  g_ptr_array_unref(cgroup->hierarchies);
  g_free(cgroup);
}

static EcsaCgroup *
cgroup_alloc(void)
{
  EcsaCgroup *cg = g_new0(EcsaCgroup, 1);

  cg->hierarchies = g_ptr_array_new_with_free_func((GDestroyNotify)hierarchy_free);
  return cg;
}

/* mountinfo escapes spaces and the like as \ooo */
static char *
unescape_mountinfo(const char *s)
{
  GString *out = g_string_new(NULL);

  for (const char *p = s; *p != '\0'; p++)
    {
      if (p[0] == '\\' && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]) && g_ascii_isdigit(p[3]))
        {
          g_string_append_c(out, (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c(out, *p);
    }
  return g_string_free(out, FALSE);
}

EcsaCgroup *
ecsa_cgroup_new(const char *mountinfo, GError **error)
{
  g_autoptr(EcsaCgroup) cg = cgroup_alloc();
  g_autofree char *contents = NULL;
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *unified_root = NULL;
  const char *file = mountinfo != NULL ? mountinfo : "/proc/self/mountinfo";

  if (!g_file_get_contents(file, &contents, NULL, &local))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "cannot read '%s': %s", file, local->message);
      return NULL;
    }
  lines = g_strsplit(contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) halves = g_strsplit(lines[i], " - ", 2);
      g_auto(GStrv) left = NULL;
      g_auto(GStrv) right = NULL;
      g_autofree char *mount = NULL;

      if (halves[0] == NULL || halves[1] == NULL)
        continue;
      left = g_strsplit(halves[0], " ", -1);
      right = g_strsplit(halves[1], " ", -1);
      if (g_strv_length(left) < 5 || g_strv_length(right) < 3)
        continue;
      mount = unescape_mountinfo(left[4]);
      if (strcmp(right[0], "cgroup2") == 0)
        {
          if (unified_root == NULL)
            unified_root = g_strdup(mount);
          continue;
        }
      if (strcmp(right[0], "cgroup") == 0)
        {
          g_auto(GStrv) opts = g_strsplit(right[2], ",", -1);
          Hierarchy *h = g_new0(Hierarchy, 1);
          h->path = g_steal_pointer(&mount);
          for (guint j = 0; opts[j] != NULL; j++)
            {
              if (strcmp(opts[j], "cpu") == 0)
                h->cpu = TRUE;
              else if (strcmp(opts[j], "memory") == 0)
                h->memory = TRUE;
              else if (strcmp(opts[j], "cpuset") == 0)
                h->cpuset = TRUE;
              else if (g_str_has_prefix(opts[j], "name="))
                h->named = TRUE;
            }
          g_ptr_array_add(cg->hierarchies, h);
        }
    }
  if (cg->hierarchies->len == 0 && unified_root != NULL)
    {
      cg->v2 = TRUE;
      cg->v2_root = g_steal_pointer(&unified_root);
      return g_steal_pointer(&cg);
    }
  if (cg->hierarchies->len == 0)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "no cgroup hierarchy is mounted (read '%s')", file);
      return NULL;
    }
  if (unified_root != NULL)
    {
      /* hybrid: runc also makes the path under the unified mount; we clean it there */
      Hierarchy *h = g_new0(Hierarchy, 1);
      h->path = g_steal_pointer(&unified_root);
      h->unified = TRUE;
      g_ptr_array_add(cg->hierarchies, h);
    }
  return g_steal_pointer(&cg);
}

EcsaCgroup *
ecsa_cgroup_new_for_root(const char *root, gboolean v2)
{
  EcsaCgroup *cg = cgroup_alloc();
  const char *controllers[] = { "cpu", "memory", "pids" };

  if (v2)
    {
      cg->v2 = TRUE;
      cg->v2_root = g_strdup(root);
      return cg;
    }
  for (guint i = 0; i < G_N_ELEMENTS(controllers); i++)
    {
      Hierarchy *h = g_new0(Hierarchy, 1);
      h->path = g_build_filename(root, controllers[i], NULL);
      h->cpu = i == 0;
      h->memory = i == 1;
      g_ptr_array_add(cg->hierarchies, h);
    }
  return cg;
}

gboolean
ecsa_cgroup_is_v2(EcsaCgroup *cgroup)
{
  return cgroup->v2;
}

char *
ecsa_cgroup_task_path(const char *task_id)
{
  return g_strconcat(ECSA_CGROUP_ROOT "/", task_id, NULL);
}

gboolean
ecsa_cgroup_spec_for_task(const EcsaTask *task, EcsaCgroupSpec *out_spec, GError **error)
{
  EcsaCgroupSpec spec = { 0 };

  if (task->cpu > 0)
    {
      if (task->cpu > MAX_TASK_VCPU)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "task CPU limit %g vCPU is not supported (at most %d)", task->cpu, MAX_TASK_VCPU);
          return FALSE;
        }
      spec.cpu_period_us = CPU_PERIOD_US;
      spec.cpu_quota_us = (gint64)(task->cpu * CPU_PERIOD_US);
      if (spec.cpu_quota_us < 1000)
        spec.cpu_quota_us = 1000; /* the kernel's minimum quota */
    }
  else
    {
      for (guint i = 0; i < task->containers->len; i++)
        spec.cpu_shares += ((EcsaContainer *)task->containers->pdata[i])->cpu;
      if (spec.cpu_shares < MIN_CPU_SHARES)
        spec.cpu_shares = MIN_CPU_SHARES;
    }
  if (task->memory > 0)
    {
      for (guint i = 0; i < task->containers->len; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          if ((gint64)c->memory > task->memory)
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s' asks for %u MiB of memory, more than the task's limit of %" G_GINT64_FORMAT
                          " MiB",
                          c->name, c->memory, task->memory);
              return FALSE;
            }
        }
      spec.memory_bytes = task->memory * 1024 * 1024;
    }
  *out_spec = spec;
  return TRUE;
}

GPtrArray *
ecsa_cgroup_task_dirs(EcsaCgroup *cgroup, const char *task_id)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func(g_free);

  if (cgroup->v2)
    {
      g_ptr_array_add(dirs, g_build_filename(cgroup->v2_root, ECSA_CGROUP_ROOT, task_id, NULL));
      return dirs;
    }
  for (guint i = 0; i < cgroup->hierarchies->len; i++)
    {
      Hierarchy *h = cgroup->hierarchies->pdata[i];
      g_ptr_array_add(dirs, g_build_filename(h->path, ECSA_CGROUP_ROOT, task_id, NULL));
    }
  return dirs;
}

/* ------------------------------------------------------------------------------------------- */
/* file work (worker thread) */

static gboolean
write_value(const char *dir, const char *file, const char *value, GError **error)
{
  g_autofree char *path = g_build_filename(dir, file, NULL);
  g_autoptr(GError) local = NULL;

  if (!g_file_set_contents_full(path, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, &local))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot write '%s' to '%s': %s", value, path, local->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
make_dir(const char *path, GError **error)
{
  if (g_mkdir_with_parents(path, 0755) != 0)
    {
      int errsv = errno;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create cgroup '%s': %s", path, g_strerror(errsv));
      return FALSE;
    }
  return TRUE;
}

/* A new v1 cpuset has no CPUs or memory nodes: give it its parent's. */
static void
inherit_cpuset(const char *dir)
{
  const char *files[] = { "cpuset.cpus", "cpuset.mems" };
  g_autofree char *parent = g_path_get_dirname(dir);

  for (guint i = 0; i < G_N_ELEMENTS(files); i++)
    {
      g_autofree char *mine = g_build_filename(dir, files[i], NULL);
      g_autofree char *theirs = g_build_filename(parent, files[i], NULL);
      g_autofree char *value = NULL;
      g_autofree char *current = NULL;

      if (!g_file_get_contents(mine, &current, NULL, NULL) || *g_strstrip(current) != '\0')
        continue;
      if (g_file_get_contents(theirs, &value, NULL, NULL) && *g_strstrip(value) != '\0')
        g_file_set_contents_full(mine, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL);
    }
}

static gboolean
enable_v2_controllers(const char *dir, GError **error)
{
  g_autofree char *available_path = g_build_filename(dir, "cgroup.controllers", NULL);
  g_autofree char *available = NULL;
  g_autoptr(GString) want = g_string_new(NULL);
  const char *controllers[] = { "cpu", "memory", "pids" };

  if (!g_file_get_contents(available_path, &available, NULL, NULL))
    available = g_strdup("cpu memory pids");
  {
    g_auto(GStrv) have = g_strsplit_set(g_strstrip(available), " \n", -1);
    for (guint i = 0; i < G_N_ELEMENTS(controllers); i++)
      if (g_strv_contains((const char *const *)have, controllers[i]))
        g_string_append_printf(want, "%s+%s", want->len > 0 ? " " : "", controllers[i]);
  }
  if (want->len == 0)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                  "cgroup '%s' offers neither the cpu nor the memory controller", dir);
      return FALSE;
    }
  return write_value(dir, "cgroup.subtree_control", want->str, error);
}

static gboolean
init_root(EcsaCgroup *cg, GError **error)
{
  if (cg->v2)
    {
      g_autofree char *ecs = g_build_filename(cg->v2_root, ECSA_CGROUP_ROOT, NULL);
      return enable_v2_controllers(cg->v2_root, error) && make_dir(ecs, error) && enable_v2_controllers(ecs, error);
    }
  for (guint i = 0; i < cg->hierarchies->len; i++)
    {
      Hierarchy *h = cg->hierarchies->pdata[i];
      g_autofree char *ecs = g_build_filename(h->path, ECSA_CGROUP_ROOT, NULL);

      if (h->named || h->unified)
        continue;
      if (!make_dir(ecs, error))
        return FALSE;
      if (h->cpuset)
        inherit_cpuset(ecs);
    }
  return TRUE;
}

/* v1 shares to a v2 weight, as runc converts them */
static guint64
shares_to_weight(guint64 shares)
{
  if (shares < 2)
    shares = 2;
  if (shares > 262144)
    shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

static gboolean
setup_task(EcsaCgroup *cg, const char *task_id, const EcsaCgroupSpec *spec, GError **error)
{
  if (!init_root(cg, error))
    return FALSE;
  if (cg->v2)
    {
      g_autofree char *dir = g_build_filename(cg->v2_root, ECSA_CGROUP_ROOT, task_id, NULL);
      g_autofree char *cpu = NULL;

      if (!make_dir(dir, error))
        return FALSE;
      if (spec->cpu_quota_us > 0)
        cpu = g_strdup_printf("%" G_GINT64_FORMAT " %" G_GUINT64_FORMAT, spec->cpu_quota_us, spec->cpu_period_us);
      if (cpu != NULL && !write_value(dir, "cpu.max", cpu, error))
        return FALSE;
      if (cpu == NULL)
        {
          g_autofree char *w = g_strdup_printf("%" G_GUINT64_FORMAT, shares_to_weight(spec->cpu_shares));
          if (!write_value(dir, "cpu.weight", w, error))
            return FALSE;
        }
      if (spec->memory_bytes > 0)
        {
          g_autofree char *m = g_strdup_printf("%" G_GINT64_FORMAT, spec->memory_bytes);
          if (!write_value(dir, "memory.max", m, error))
            return FALSE;
        }
      return TRUE;
    }
  for (guint i = 0; i < cg->hierarchies->len; i++)
    {
      Hierarchy *h = cg->hierarchies->pdata[i];
      g_autofree char *dir = g_build_filename(h->path, ECSA_CGROUP_ROOT, task_id, NULL);

      if (h->named || h->unified)
        continue;
      if (!make_dir(dir, error))
        return FALSE;
      if (h->cpuset)
        inherit_cpuset(dir);
      if (h->cpu)
        {
          if (spec->cpu_quota_us > 0)
            {
              g_autofree char *period = g_strdup_printf("%" G_GUINT64_FORMAT, spec->cpu_period_us);
              g_autofree char *quota = g_strdup_printf("%" G_GINT64_FORMAT, spec->cpu_quota_us);
              if (!write_value(dir, "cpu.cfs_period_us", period, error)
                  || !write_value(dir, "cpu.cfs_quota_us", quota, error))
                return FALSE;
            }
          else
            {
              g_autofree char *shares = g_strdup_printf("%" G_GUINT64_FORMAT, spec->cpu_shares);
              if (!write_value(dir, "cpu.shares", shares, error))
                return FALSE;
            }
        }
      if (h->memory && spec->memory_bytes > 0)
        {
          g_autofree char *m = g_strdup_printf("%" G_GINT64_FORMAT, spec->memory_bytes);
          if (!write_value(dir, "memory.limit_in_bytes", m, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* Depth first: the container cgroups runc left, then the task's. */
static gboolean
remove_tree(const char *dir, GError **error)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return TRUE; /* gone already */
  while ((name = g_dir_read_name(d)) != NULL)
    {
      g_autofree char *child = g_build_filename(dir, name, NULL);
      if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
        {
          if (!remove_tree(child, error))
            return FALSE;
        }
    }
  if (g_rmdir(dir) != 0)
    {
      int errsv = errno;
      if (errsv == ENOENT)
        return TRUE;
      if (errsv == ENOTEMPTY || errsv == EEXIST)
        {
          /* a plain directory (tests' layout): its control files are regular files */
          g_autoptr(GDir) again = g_dir_open(dir, 0, NULL);
          while (again != NULL && (name = g_dir_read_name(again)) != NULL)
            {
              g_autofree char *child = g_build_filename(dir, name, NULL);
              g_unlink(child);
            }
          if (g_rmdir(dir) == 0)
            return TRUE;
          errsv = errno;
        }
      g_set_error(error, ECSA_ERROR, errsv == EBUSY ? ECSA_ERROR_RETRY : ECSA_ERROR_FAILED,
                  "cannot remove cgroup '%s': %s", dir, g_strerror(errsv));
      return FALSE;
    }
  return TRUE;
}

static gboolean
remove_task(EcsaCgroup *cg, const char *task_id, GError **error)
{
  g_autoptr(GPtrArray) dirs = ecsa_cgroup_task_dirs(cg, task_id);
  g_autoptr(GError) first = NULL;

  /* every hierarchy, even after a failure in one */
  for (guint i = 0; i < dirs->len; i++)
    {
      g_autoptr(GError) local = NULL;
      if (!remove_tree(dirs->pdata[i], &local) && first == NULL)
        first = g_steal_pointer(&local);
    }
  if (first != NULL)
    {
      g_propagate_error(error, g_steal_pointer(&first));
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* async wrappers */

typedef enum
{
  JOB_INIT,
  JOB_SETUP,
  JOB_REMOVE
} JobKind;

typedef struct
{
  EcsaCgroup *cgroup; /* borrowed: the owner keeps it until every job is done */
  JobKind kind;
  char *task_id;
  EcsaCgroupSpec spec;
} Job;

static void
job_free(Job *job)
{
  g_free(job->task_id);
  g_free(job);
}

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *job = data;
  g_autoptr(GError) error = NULL;
  gboolean ok = FALSE;

  switch (job->kind)
    {
    case JOB_INIT:
      ok = init_root(job->cgroup, &error);
      if (!ok)
        g_prefix_error(&error, "setting up the '" ECSA_CGROUP_ROOT "' cgroup: ");
      break;
    case JOB_SETUP:
      ok = setup_task(job->cgroup, job->task_id, &job->spec, &error);
      if (!ok)
        g_prefix_error(&error, "setting up the cgroup of task '%s': ", job->task_id);
      break;
    case JOB_REMOVE:
      ok = remove_task(job->cgroup, job->task_id, &error);
      if (!ok)
        g_prefix_error(&error, "removing the cgroup of task '%s': ", job->task_id);
      break;
    }
  if (ok)
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, g_steal_pointer(&error));
}

static void
run_job(EcsaCgroup *cgroup, JobKind kind, const char *task_id, const EcsaCgroupSpec *spec, GCancellable *cancellable,
        GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  Job *job = g_new0(Job, 1);

  job->cgroup = cgroup;
  job->kind = kind;
  job->task_id = g_strdup(task_id);
  if (spec != NULL)
    job->spec = *spec;
  g_task_set_source_tag(task, tag);
  g_task_set_task_data(task, job, (GDestroyNotify)job_free);
  g_task_run_in_thread(task, job_thread);
}

void
ecsa_cgroup_init_async(EcsaCgroup *cgroup, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(cgroup != NULL);
  run_job(cgroup, JOB_INIT, NULL, NULL, cancellable, callback, user_data, ecsa_cgroup_init_async);
}

gboolean
ecsa_cgroup_init_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
ecsa_cgroup_setup_task_async(EcsaCgroup *cgroup, const char *task_id, const EcsaCgroupSpec *spec,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(cgroup != NULL && task_id != NULL && spec != NULL);
  run_job(cgroup, JOB_SETUP, task_id, spec, cancellable, callback, user_data, ecsa_cgroup_setup_task_async);
}

gboolean
ecsa_cgroup_setup_task_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
ecsa_cgroup_remove_task_async(EcsaCgroup *cgroup, const char *task_id, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(cgroup != NULL && task_id != NULL);
  run_job(cgroup, JOB_REMOVE, task_id, NULL, cancellable, callback, user_data, ecsa_cgroup_remove_task_async);
}

gboolean
ecsa_cgroup_remove_task_finish(EcsaCgroup *cgroup, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}
