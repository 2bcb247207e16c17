/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-cgroup-stats.h"

#include <gio/gio.h>
#include <string.h>

static void
mount_set (EcsaCgroupMount *m, const char *mount_point, const char *root)
{
  if (m->mount_point != NULL) /* the first mount of a hierarchy wins */
    return;
  m->mount_point = g_strcompress (mount_point); /* mountinfo escapes spaces as \040 */
  m->root = g_strcompress (root);
}

gboolean
ecsa_cgroup_mounts_parse (const char *mountinfo, EcsaCgroupMounts *out, GError **error)
{
  g_auto(GStrv) lines = g_strsplit (mountinfo, "\n", -1);
  EcsaCgroupMounts m = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    {
      /* "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct" */
      const char *sep = strstr (lines[i], " - ");
      g_auto(GStrv) head = NULL;
      g_auto(GStrv) tail = NULL;

      if (sep == NULL)
        continue;
      head = g_strsplit (lines[i], " ", 6);
      tail = g_strsplit (sep + 3, " ", 3);
      if (g_strv_length (head) < 5 || g_strv_length (tail) < 3)
        continue;
      if (g_str_equal (tail[0], "cgroup2"))
        mount_set (&m.unified, head[4], head[3]);
      else if (g_str_equal (tail[0], "cgroup"))
        {
          g_auto(GStrv) opts = g_strsplit (tail[2], ",", -1);
          if (g_strv_contains ((const char *const *) opts, "cpuacct"))
            mount_set (&m.cpuacct, head[4], head[3]);
          if (g_strv_contains ((const char *const *) opts, "memory"))
            mount_set (&m.memory, head[4], head[3]);
        }
    }
  if ((m.cpuacct.mount_point == NULL || m.memory.mount_point == NULL) && m.unified.mount_point == NULL)
    {
      ecsa_cgroup_mounts_clear (&m);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "neither cgroup v1 (cpuacct and memory) nor cgroup v2 is mounted");
      return FALSE;
    }
  *out = m;
  return TRUE;
}

void
ecsa_cgroup_mounts_clear (EcsaCgroupMounts *m)
{
  EcsaCgroupMount *all[] = { &m->cpuacct, &m->memory, &m->unified };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (all); i++)
    {
      g_clear_pointer (&all[i]->mount_point, g_free);
      g_clear_pointer (&all[i]->root, g_free);
    }
}

void
ecsa_cgroup_mounts_copy (const EcsaCgroupMounts *src, EcsaCgroupMounts *dst)
{
  dst->cpuacct.mount_point = g_strdup (src->cpuacct.mount_point);
  dst->cpuacct.root = g_strdup (src->cpuacct.root);
  dst->memory.mount_point = g_strdup (src->memory.mount_point);
  dst->memory.root = g_strdup (src->memory.root);
  dst->unified.mount_point = g_strdup (src->unified.mount_point);
  dst->unified.root = g_strdup (src->unified.root);
}

/* The directory of cgroup `path` (as /proc/<pid>/cgroup names it) under mount `m`. */
static char *
cgroup_dir (const EcsaCgroupMount *m, const char *path)
{
  const char *rel = path;
  gsize root_len = strlen (m->root);

  if (!g_str_equal (m->root, "/") && g_str_has_prefix (path, m->root)
      && (path[root_len] == '/' || path[root_len] == '\0'))
    rel = path + root_len;
  return g_build_filename (m->mount_point, rel, NULL);
}

gboolean
ecsa_cgroup_files_resolve (const EcsaCgroupMounts *mounts, const char *proc_cgroup, const char *docker_id,
                           EcsaCgroupFiles *out, GError **error)
{
  g_auto(GStrv) lines = g_strsplit (proc_cgroup, "\n", -1);
  const char *cpuacct_path = NULL;
  const char *memory_path = NULL;
  const char *unified_path = NULL;
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    {
      /* "4:memory:/docker/<id>", "2:cpu,cpuacct:/ecs/<task>/<id>", "0::/system.slice/docker-<id>.scope" */
      g_auto(GStrv) f = g_strsplit (lines[i], ":", 3);
      g_auto(GStrv) controllers = NULL;

      if (g_strv_length (f) != 3)
        continue;
      if (g_str_equal (f[0], "0") && f[1][0] == '\0')
        {
          unified_path = strchr (strchr (lines[i], ':') + 1, ':') + 1;
          continue;
        }
      controllers = g_strsplit (f[1], ",", -1);
      if (g_strv_contains ((const char *const *) controllers, "cpuacct"))
        cpuacct_path = strchr (strchr (lines[i], ':') + 1, ':') + 1;
      if (g_strv_contains ((const char *const *) controllers, "memory"))
        memory_path = strchr (strchr (lines[i], ':') + 1, ':') + 1;
    }

  if (mounts->cpuacct.mount_point != NULL && mounts->memory.mount_point != NULL && cpuacct_path != NULL
      && memory_path != NULL)
    {
      g_autofree char *cpu_dir = NULL;
      g_autofree char *mem_dir = NULL;

      if (strstr (cpuacct_path, docker_id) == NULL || strstr (memory_path, docker_id) == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the process is in cgroup '%s', not in one of '%s'",
                       cpuacct_path, docker_id);
          return FALSE;
        }
      cpu_dir = cgroup_dir (&mounts->cpuacct, cpuacct_path);
      mem_dir = cgroup_dir (&mounts->memory, memory_path);
      out->v2 = FALSE;
      out->cpu_file = g_build_filename (cpu_dir, "cpuacct.usage", NULL);
      out->mem_file = g_build_filename (mem_dir, "memory.usage_in_bytes", NULL);
      out->stat_file = g_build_filename (mem_dir, "memory.stat", NULL);
      return TRUE;
    }
  if (mounts->unified.mount_point != NULL && unified_path != NULL)
    {
      g_autofree char *dir = NULL;

      if (strstr (unified_path, docker_id) == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the process is in cgroup '%s', not in one of '%s'",
                       unified_path, docker_id);
          return FALSE;
        }
      dir = cgroup_dir (&mounts->unified, unified_path);
      out->v2 = TRUE;
      out->cpu_file = g_build_filename (dir, "cpu.stat", NULL);
      out->mem_file = g_build_filename (dir, "memory.current", NULL);
      out->stat_file = g_build_filename (dir, "memory.stat", NULL);
      return TRUE;
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "the process's cgroups name no mounted cpuacct+memory (v1) or cgroup2 hierarchy");
  return FALSE;
}

void
ecsa_cgroup_files_clear (EcsaCgroupFiles *files)
{
  g_clear_pointer (&files->cpu_file, g_free);
  g_clear_pointer (&files->mem_file, g_free);
  g_clear_pointer (&files->stat_file, g_free);
}

void
ecsa_cgroup_files_copy (const EcsaCgroupFiles *src, EcsaCgroupFiles *dst)
{
  dst->v2 = src->v2;
  dst->cpu_file = g_strdup (src->cpu_file);
  dst->mem_file = g_strdup (src->mem_file);
  dst->stat_file = g_strdup (src->stat_file);
}

gboolean
ecsa_cgroup_parse_u64 (const char *text, guint64 *out, GError **error)
{
  g_autofree char *s = g_strstrip (g_strdup (text));

  if (s[0] == '\0' || !g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT64, out, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%.32s' is not an unsigned integer", s);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_cgroup_parse_keyed (const char *text, const char *key, guint64 *out, GError **error)
{
  gsize key_len = strlen (key);
  const char *line = text;

  while (line != NULL && *line != '\0')
    {
      const char *end = strchr (line, '\n');

      if (strncmp (line, key, key_len) == 0 && line[key_len] == ' ')
        {
          g_autofree char *value = g_strndup (line + key_len + 1,
                                              end != NULL ? (gsize) (end - line) - key_len - 1 : strlen (line + key_len + 1));
          return ecsa_cgroup_parse_u64 (value, out, error);
        }
      line = end != NULL ? end + 1 : NULL;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no '%s' line", key);
  return FALSE;
}

static gboolean
read_file (const char *path, char **out, GError **error)
{
  if (!g_file_get_contents (path, out, NULL, error))
    return FALSE;
  return TRUE;
}

gboolean
ecsa_cgroup_read (const EcsaCgroupFiles *files, guint64 *out_cpu_ns, guint64 *out_mem_bytes, GError **error)
{
  g_autofree char *cpu = NULL;
  g_autofree char *mem = NULL;
  g_autofree char *stat = NULL;
  guint64 cpu_ns = 0;
  guint64 usage = 0;
  guint64 cache = 0;

  if (!read_file (files->cpu_file, &cpu, error) || !read_file (files->mem_file, &mem, error)
      || !read_file (files->stat_file, &stat, error))
    return FALSE;
  if (files->v2)
    {
      guint64 usec = 0;
      if (!ecsa_cgroup_parse_keyed (cpu, "usage_usec", &usec, error))
        {
          g_prefix_error (error, "'%s': ", files->cpu_file);
          return FALSE;
        }
      cpu_ns = usec * 1000;
    }
  else if (!ecsa_cgroup_parse_u64 (cpu, &cpu_ns, error))
    {
      g_prefix_error (error, "'%s': ", files->cpu_file);
      return FALSE;
    }
  if (!ecsa_cgroup_parse_u64 (mem, &usage, error))
    {
      g_prefix_error (error, "'%s': ", files->mem_file);
      return FALSE;
    }
  /* v1.16.2 subtracts Docker's memory_stats.stats.cache (v1 memory.stat "cache"); on v2 the page
   * cache is memory.stat "file". A missing line counts as no cache. */
  if (!ecsa_cgroup_parse_keyed (stat, files->v2 ? "file" : "cache", &cache, NULL))
    cache = 0;
  *out_cpu_ns = cpu_ns;
  *out_mem_bytes = usage > cache ? usage - cache : 0;
  return TRUE;
}
