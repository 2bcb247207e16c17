/* ecsa-container-metadata.c: container metadata files (see the header).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-container-metadata.h"

#include "ecsa-plugin.h"
#include "ecsa-task.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define METADATA_SUBDIR "metadata"

struct _EcsaContainerMetadata
{
  char *data_dir;
  char *data_dir_on_host;
  char *cluster;
  char *container_instance_arn;
};

EcsaContainerMetadata *
ecsa_container_metadata_new(const char *data_dir, const char *data_dir_on_host, const char *cluster)
{
  EcsaContainerMetadata *self = g_new0(EcsaContainerMetadata, 1);

  self->data_dir = g_strdup(data_dir);
  self->data_dir_on_host = g_strdup(data_dir_on_host != NULL ? data_dir_on_host : "");
  self->cluster = g_strdup(cluster != NULL ? cluster : "");
  return self;
}

void
ecsa_container_metadata_free(EcsaContainerMetadata *self)
{
  if (self == NULL)
    return;
  g_free(self->data_dir);
  g_free(self->data_dir_on_host);
  g_free(self->cluster);
  g_free(self->container_instance_arn);
  g_free(self);
}

void
ecsa_container_metadata_set_container_instance_arn(EcsaContainerMetadata *self, const char *arn)
{
  g_free(self->container_instance_arn);
  self->container_instance_arn = g_strdup(arn);
}

char *
ecsa_container_metadata_dir(EcsaContainerMetadata *self, const char *task_id, const char *container_name)
{
  return g_build_filename(self->data_dir, METADATA_SUBDIR, task_id, container_name, NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* rendering, as Go's json.MarshalIndent(m, "", "\t") writes it */

static void
append_json_string(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
          g_string_append(out, "\\\"");
          break;
        case '\\':
          g_string_append(out, "\\\\");
          break;
        case '\n':
          g_string_append(out, "\\n");
          break;
        case '\r':
          g_string_append(out, "\\r");
          break;
        case '\t':
          g_string_append(out, "\\t");
          break;
        case '<':
        case '>':
        case '&':
          /* Go escapes these for HTML safety */
          g_string_append_printf(out, "\\u%04x", *p);
          break;
        default:
          if (*p < 0x20)
            g_string_append_printf(out, "\\u%04x", *p);
          else
            g_string_append_c(out, (char)*p);
        }
    }
  g_string_append_c(out, '"');
}

typedef struct
{
  GString *out;
  gboolean first;
  int depth;
} Writer;

static void
indent(Writer *w)
{
  g_string_append_c(w->out, '\n');
  for (int i = 0; i < w->depth; i++)
    g_string_append_c(w->out, '\t');
}

static void
key(Writer *w, const char *name)
{
  if (!w->first)
    g_string_append_c(w->out, ',');
  w->first = FALSE;
  indent(w);
  append_json_string(w->out, name);
  g_string_append(w->out, ": ");
}

static void
str_member(Writer *w, const char *name, const char *value)
{
  if (value == NULL || *value == '\0') /* omitempty */
    return;
  key(w, name);
  append_json_string(w->out, value);
}

static const char *
obj_str(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string(n);
}

static JsonObject *
obj_obj(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n))
    return NULL;
  return json_node_get_object(n);
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(a, b);
}

static void
render_ports(Writer *w, JsonObject *inspect)
{
  g_autoptr(GPtrArray) b = ecsa_network_bindings_from_inspect(inspect);

  if (b->len == 0)
    return;
  key(w, "PortMappings");
  g_string_append_c(w->out, '[');
  w->depth++;
  for (guint i = 0; i < b->len; i++)
    {
      EcsaNetworkBinding *nb = b->pdata[i];
      if (i > 0)
        g_string_append_c(w->out, ',');
      indent(w);
      g_string_append_c(w->out, '{');
      w->depth++;
      w->first = TRUE;
      key(w, "ContainerPort");
      g_string_append_printf(w->out, "%u", nb->container_port);
      key(w, "HostPort");
      g_string_append_printf(w->out, "%u", nb->host_port);
      key(w, "BindIp");
      append_json_string(w->out, nb->bind_ip);
      key(w, "Protocol");
      append_json_string(w->out, nb->protocol);
      w->depth--;
      indent(w);
      g_string_append_c(w->out, '}');
    }
  w->depth--;
  indent(w);
  g_string_append_c(w->out, ']');
  w->first = FALSE;
}

static void
render_network(Writer *w, gboolean first, const char *mode, const char *ipv4)
{
  if (!first)
    g_string_append_c(w->out, ',');
  indent(w);
  g_string_append_c(w->out, '{');
  w->depth++;
  w->first = TRUE;
  str_member(w, "NetworkMode", mode);
  key(w, "IPv4Addresses");
  g_string_append_c(w->out, '[');
  w->depth++;
  indent(w);
  append_json_string(w->out, ipv4);
  w->depth--;
  indent(w);
  g_string_append_c(w->out, ']');
  w->depth--;
  indent(w);
  g_string_append_c(w->out, '}');
}

static void
render_networks(Writer *w, JsonObject *inspect)
{
  JsonObject *ns = obj_obj(inspect, "NetworkSettings");
  JsonObject *hc = obj_obj(inspect, "HostConfig");
  JsonObject *nets = obj_obj(ns, "Networks");

  /* v1.16.2 writes nothing when it cannot find the settings */
  if (ns == NULL || hc == NULL)
    return;
  key(w, "Networks");
  g_string_append_c(w->out, '[');
  w->depth++;
  if (nets != NULL && json_object_get_size(nets) > 0)
    {
      g_autoptr(GList) names = g_list_sort(json_object_get_members(nets), compare_strings);
      gboolean first = TRUE;
      for (GList *l = names; l != NULL; l = l->next)
        {
          render_network(w, first, l->data, obj_str(obj_obj(nets, l->data), "IPAddress"));
          first = FALSE;
        }
    }
  else
    render_network(w, TRUE, obj_str(hc, "NetworkMode"), obj_str(ns, "IPAddress"));
  w->depth--;
  indent(w);
  g_string_append_c(w->out, ']');
  w->first = FALSE;
}

char *
ecsa_container_metadata_render(EcsaContainerMetadata *self, const char *task_arn, const char *container_name,
                               JsonObject *inspect)
{
  Writer w = { g_string_new("{"), TRUE, 1 };

  str_member(&w, "Cluster", self->cluster);
  str_member(&w, "ContainerInstanceARN", self->container_instance_arn);
  str_member(&w, "TaskARN", task_arn);
  if (inspect != NULL)
    str_member(&w, "ContainerID", obj_str(inspect, "Id"));
  str_member(&w, "ContainerName", container_name);
  if (inspect != NULL)
    {
      str_member(&w, "DockerContainerName", obj_str(inspect, "Name"));
      str_member(&w, "ImageID", obj_str(inspect, "Image"));
      str_member(&w, "ImageName", obj_str(obj_obj(inspect, "Config"), "Image"));
      render_ports(&w, inspect);
      render_networks(&w, inspect);
      key(&w, "MetadataFileStatus");
      append_json_string(w.out, "READY");
    }
  g_string_append(w.out, "\n}");
  return g_string_free(w.out, FALSE);
}

/* ------------------------------------------------------------------------------------------- */
/* host path of the bind */

/* Is `dir` inside a bind mount of some other directory (root field of mountinfo not "/"), as the
 * data directory of an agent running in a container is? */
static gboolean
bind_mounted(const char *dir)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  gsize best_len = 0;
  gboolean best_is_bind = FALSE;

  if (!g_file_get_contents("/proc/self/mountinfo", &contents, NULL, NULL))
    return FALSE;
  lines = g_strsplit(contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit(lines[i], " ", 6);
      gsize len;

      if (g_strv_length(f) < 6)
        continue;
      /* f[3]: the root of the mount within its filesystem, f[4]: the mount point */
      len = strlen(f[4]);
      if (!g_str_has_prefix(dir, f[4]) || (dir[len] != '/' && dir[len] != '\0' && strcmp(f[4], "/") != 0))
        continue;
      if (len >= best_len)
        {
          best_len = len;
          best_is_bind = strcmp(f[3], "/") != 0;
        }
    }
  return best_is_bind;
}

static char *
host_dir_for(EcsaContainerMetadata *self, const char *dir)
{
  g_autofree char *prefixed = NULL;
  struct stat a, b;

  if (*self->data_dir_on_host == '\0')
    return g_strdup(dir);
  /* v1.16.2's formula: ECS_HOST_DATA_DIR + "/" + the data directory path */
  prefixed = g_strdup_printf("%s/%s", self->data_dir_on_host, dir);
  if (g_stat(prefixed, &a) == 0 && g_stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return g_steal_pointer(&prefixed);
  /* an agent in a container sees its data directory through a bind mount: the host path is then
   * ECS_HOST_DATA_DIR's; an agent on the host sees the host path itself */
  if (bind_mounted(dir))
    return g_steal_pointer(&prefixed);
  return g_strdup(dir);
}

/* ------------------------------------------------------------------------------------------- */
/* file work */

static gboolean
write_metadata(const char *dir, const char *data, GError **error)
{
  g_autofree char *tmp = g_build_filename(dir, "temp_metadata_fileXXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, ECSA_CONTAINER_METADATA_FILE, NULL);
  g_autoptr(GError) local = NULL;
  int fd;
  gsize len = strlen(data);
  const char *p = data;

  if (g_mkdir_with_parents(dir, 0755) != 0)
    {
      int errsv = errno;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create '%s': %s", dir, g_strerror(errsv));
      return FALSE;
    }
  fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create a file in '%s': %s", dir, g_strerror(errsv));
      return FALSE;
    }
  while (len > 0)
    {
      ssize_t n = write(fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int errsv = errno;
          close(fd);
          g_unlink(tmp);
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot write '%s': %s", tmp, g_strerror(errsv));
          return FALSE;
        }
      p += n;
      len -= (gsize)n;
    }
  fchmod(fd, 0644);
  close(fd);
  if (g_rename(tmp, path) != 0)
    {
      int errsv = errno;
      g_unlink(tmp);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot rename '%s' to '%s': %s", tmp, path, g_strerror(errsv));
      return FALSE;
    }
  return TRUE;
}

static gboolean
remove_tree(const char *path, GError **error)
{
  g_autoptr(GFile) f = g_file_new_for_path(path);
  g_autoptr(GFileEnumerator) e = NULL;
  g_autoptr(GError) local = NULL;

  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
    {
      e = g_file_enumerate_children(f, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL,
                                    error);
      if (e == NULL)
        return FALSE;
      for (;;)
        {
          GFileInfo *info = NULL;
          g_autofree char *child = NULL;
          if (!g_file_enumerator_iterate(e, &info, NULL, NULL, error))
            return FALSE;
          if (info == NULL)
            break;
          child = g_build_filename(path, g_file_info_get_name(info), NULL);
          if (!remove_tree(child, error))
            return FALSE;
        }
    }
  if (!g_file_delete(f, NULL, &local) && !g_error_matches(local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  return TRUE;
}

typedef enum
{
  MD_CREATE,
  MD_UPDATE,
  MD_CLEAN
} MdKind;

typedef struct
{
  MdKind kind;
  char *dir;
  char *contents;
  char *bind;
  char *env;
  char *what;
} MdJob;

static void
md_job_free(MdJob *job)
{
  g_free(job->dir);
  g_free(job->contents);
  g_free(job->bind);
  g_free(job->env);
  g_free(job->what);
  g_free(job);
}

static void
md_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MdJob *job = data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (job->kind == MD_CLEAN)
    ok = remove_tree(job->dir, &error);
  else
    ok = write_metadata(job->dir, job->contents, &error);
  if (!ok)
    {
      g_prefix_error(&error, "%s: ", job->what);
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
  g_task_return_boolean(task, TRUE);
}

static void
md_run(MdJob *job, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

  g_task_set_source_tag(task, tag);
  g_task_set_task_data(task, job, (GDestroyNotify)md_job_free);
  g_task_run_in_thread(task, md_thread);
}

void
ecsa_container_metadata_create_async(EcsaContainerMetadata *self, const char *task_arn, const char *task_id,
                                     const char *container_name, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  MdJob *job = g_new0(MdJob, 1);
  g_autofree char *uuid = g_uuid_string_random();
  g_autofree char *host_dir = NULL;

  job->kind = MD_CREATE;
  job->dir = ecsa_container_metadata_dir(self, task_id, container_name);
  job->contents = ecsa_container_metadata_render(self, task_arn, container_name, NULL);
  job->what = g_strdup_printf("container metadata of '%s' in task '%s'", container_name, task_arn);
  host_dir = host_dir_for(self, job->dir);
  job->bind = g_strdup_printf("%s:%s/%s", host_dir, ECSA_CONTAINER_METADATA_MOUNT, uuid);
  job->env = g_strdup_printf("%s=%s/%s/%s", ECSA_CONTAINER_METADATA_ENV, ECSA_CONTAINER_METADATA_MOUNT, uuid,
                             ECSA_CONTAINER_METADATA_FILE);
  md_run(job, cancellable, callback, user_data, ecsa_container_metadata_create_async);
}

gboolean
ecsa_container_metadata_create_finish(EcsaContainerMetadata *self, GAsyncResult *result, char **out_bind,
                                      char **out_env, GError **error)
{
  MdJob *job;

  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  if (!g_task_propagate_boolean(G_TASK(result), error))
    return FALSE;
  job = g_task_get_task_data(G_TASK(result));
  if (out_bind != NULL)
    *out_bind = g_strdup(job->bind);
  if (out_env != NULL)
    *out_env = g_strdup(job->env);
  return TRUE;
}

void
ecsa_container_metadata_update_async(EcsaContainerMetadata *self, const char *task_arn, const char *task_id,
                                     const char *container_name, JsonObject *inspect, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  MdJob *job = g_new0(MdJob, 1);

  job->kind = MD_UPDATE;
  job->dir = ecsa_container_metadata_dir(self, task_id, container_name);
  job->contents = ecsa_container_metadata_render(self, task_arn, container_name, inspect);
  job->what = g_strdup_printf("container metadata of '%s' in task '%s'", container_name, task_arn);
  md_run(job, cancellable, callback, user_data, ecsa_container_metadata_update_async);
}

gboolean
ecsa_container_metadata_update_finish(EcsaContainerMetadata *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
ecsa_container_metadata_clean_async(EcsaContainerMetadata *self, const char *task_id, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  MdJob *job = g_new0(MdJob, 1);

  job->kind = MD_CLEAN;
  job->dir = g_build_filename(self->data_dir, METADATA_SUBDIR, task_id, NULL);
  job->what = g_strdup_printf("container metadata of task '%s'", task_id);
  md_run(job, cancellable, callback, user_data, ecsa_container_metadata_clean_async);
}

gboolean
ecsa_container_metadata_clean_finish(EcsaContainerMetadata *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}
