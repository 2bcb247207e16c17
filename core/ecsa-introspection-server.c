/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h" /* first: PACKAGE_VERSION */

#include "ecsa-introspection-server.h"

#include <libsoup/soup.h>
#include <string.h>

#include "ecsa-license-text.h"

#define DOCKER_SHORT_ID_LEN 12
#define TEXT_PLAIN "text/plain; charset=utf-8"

struct _EcsaIntrospectionServer
{
  GObject parent_instance;

  EcsaTaskViewSource tasks;
  char *cluster;
  char *version;
  char *container_instance_arn; /* NULL until registered */
  SoupServer *server;
  guint16 port;
  EcsaHttpListenRetry *retry; /* start(): listening, or trying again */
  guint16 start_port;
};

G_DEFINE_FINAL_TYPE(EcsaIntrospectionServer, ecsa_introspection_server, G_TYPE_OBJECT)

static void
ecsa_introspection_server_dispose(GObject *object)
{
  EcsaIntrospectionServer *self = ECSA_INTROSPECTION_SERVER(object);

  ecsa_introspection_server_stop(self);
  G_OBJECT_CLASS(ecsa_introspection_server_parent_class)->dispose(object);
}

static void
ecsa_introspection_server_finalize(GObject *object)
{
  EcsaIntrospectionServer *self = ECSA_INTROSPECTION_SERVER(object);

  g_free(self->cluster);
  g_free(self->version);
  g_free(self->container_instance_arn);
  G_OBJECT_CLASS(ecsa_introspection_server_parent_class)->finalize(object);
}

static void
ecsa_introspection_server_class_init(EcsaIntrospectionServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = ecsa_introspection_server_dispose;
  object_class->finalize = ecsa_introspection_server_finalize;
}

static void
ecsa_introspection_server_init(EcsaIntrospectionServer *self)
{
}

EcsaIntrospectionServer *
ecsa_introspection_server_new(const EcsaTaskViewSource *tasks, const char *cluster, const char *version)
{
  EcsaIntrospectionServer *self;

  g_return_val_if_fail(tasks != NULL && tasks->list != NULL && tasks->lookup != NULL, NULL);
  g_return_val_if_fail(tasks->lookup_by_docker_id != NULL && tasks->free_view != NULL, NULL);

  self = g_object_new(ECSA_TYPE_INTROSPECTION_SERVER, NULL);
  self->tasks = *tasks;
  self->cluster = g_strdup(cluster != NULL ? cluster : "");
  self->version = version != NULL
                    ? g_strdup(version)
                    : g_strdup("Amazon ECS Agent - v" ECSA_COMPAT_VERSION " (ecs-agent " PACKAGE_VERSION ")");
  return self;
}

void
ecsa_introspection_server_set_container_instance_arn(EcsaIntrospectionServer *self, const char *arn)
{
  g_return_if_fail(ECSA_IS_INTROSPECTION_SERVER(self));

  g_free(self->container_instance_arn);
  self->container_instance_arn = g_strdup(arn);
}

static gboolean
str_empty(const char *s)
{
  return s == NULL || *s == '\0';
}

/* ---- JSON shapes (v1.16.2's handlers/types.go) --------------------------------------------------- */

/* api.TaskStatus.BackendStatus(): what ECS calls the state. */
static const char *
backend_status(const char *status)
{
  if (g_strcmp0(status, "RUNNING") == 0)
    return "RUNNING";
  if (g_strcmp0(status, "STOPPED") == 0)
    return "STOPPED";
  return "PENDING";
}

static void
append_member(GString *out, const char *name, const char *value, gboolean first)
{
  if (!first)
    g_string_append_c(out, ',');
  ecsa_http_append_json_string(out, name);
  g_string_append_c(out, ':');
  ecsa_http_append_json_string(out, value);
}

static void
append_task(GString *out, const EcsaTaskView *task)
{
  const char *known = backend_status(task->known_status);
  const char *desired = backend_status(task->desired_status);
  gboolean first = TRUE;

  /* v1.16.2 hides a desired status that would read as a contradiction */
  if ((strcmp(known, "STOPPED") == 0 && strcmp(desired, "STOPPED") != 0)
      || (strcmp(known, "RUNNING") == 0 && strcmp(desired, "PENDING") == 0))
    desired = "";

  g_string_append_c(out, '{');
  append_member(out, "Arn", task->arn, TRUE);
  if (*desired != '\0')
    append_member(out, "DesiredStatus", desired, FALSE);
  append_member(out, "KnownStatus", known, FALSE);
  append_member(out, "Family", task->family, FALSE);
  append_member(out, "Version", task->version, FALSE);
  g_string_append(out, ",\"Containers\":[");
  for (guint i = 0; i < task->n_containers; i++)
    {
      const EcsaContainerView *c = task->containers[i];

      /* v1.16.2 lists a container once the engine started creating it */
      if (str_empty(c->docker_id) && str_empty(c->docker_name))
        continue;
      if (!first)
        g_string_append_c(out, ',');
      first = FALSE;
      g_string_append_c(out, '{');
      append_member(out, "DockerId", c->docker_id, TRUE);
      append_member(out, "DockerName", c->docker_name, FALSE);
      append_member(out, "Name", c->name, FALSE);
      g_string_append_c(out, '}');
    }
  g_string_append(out, "]}");
}

static EcsaHttpResponse *
json_response(guint status, GString *json)
{
  g_autoptr(GBytes) body = g_string_free_to_bytes(json);

  return ecsa_http_response_new(status, TEXT_PLAIN, body);
}

static EcsaHttpResponse *
task_response(EcsaIntrospectionServer *self, EcsaTaskView *task)
{
  GString *out = g_string_new(NULL);

  if (task == NULL)
    {
      g_string_append(out, "{\"Arn\":\"\",\"KnownStatus\":\"\",\"Family\":\"\",\"Version\":\"\",\"Containers\":null}");
      return json_response(404, out);
    }
  append_task(out, task);
  self->tasks.free_view(task);
  return json_response(200, out);
}

static EcsaHttpResponse *
metadata_response(EcsaIntrospectionServer *self)
{
  GString *out = g_string_new("{\"Cluster\":");

  ecsa_http_append_json_string(out, self->cluster);
  g_string_append(out, ",\"ContainerInstanceArn\":");
  if (self->container_instance_arn != NULL)
    ecsa_http_append_json_string(out, self->container_instance_arn);
  else
    g_string_append(out, "null");
  g_string_append(out, ",\"Version\":");
  ecsa_http_append_json_string(out, self->version);
  g_string_append_c(out, '}');
  return json_response(200, out);
}

/* The task whose container ID starts with `prefix` (v1.16.2's TaskByShortID); several -> 400. */
static EcsaHttpResponse *
short_id_response(EcsaIntrospectionServer *self, const char *prefix)
{
  g_autoptr(GPtrArray) all = self->tasks.list(self->tasks.user_data);
  const EcsaTaskView *match = NULL;
  GString *out;

  for (guint i = 0; all != NULL && i < all->len; i++)
    {
      const EcsaTaskView *task = g_ptr_array_index(all, i);

      for (guint j = 0; j < task->n_containers; j++)
        {
          const char *id = task->containers[j]->docker_id;
          if (str_empty(id) || !g_str_has_prefix(id, prefix))
            continue;
          if (match != NULL && match != task)
            {
              g_info("introspection: docker ID prefix '%s' matches containers of several tasks", prefix);
              return ecsa_http_response_new(400, NULL, NULL);
            }
          match = task;
        }
    }
  if (match == NULL)
    return task_response(self, NULL);
  out = g_string_new(NULL);
  append_task(out, match);
  return json_response(200, out);
}

static EcsaHttpResponse *
tasks_response(EcsaIntrospectionServer *self, const char *raw_query)
{
  g_autoptr(GHashTable) query = ecsa_http_query_parse(raw_query);
  const char *docker_id = g_hash_table_lookup(query, "dockerid");
  const char *task_arn = g_hash_table_lookup(query, "taskarn");
  g_autoptr(GPtrArray) all = NULL;
  GString *out;

  if (docker_id != NULL && task_arn != NULL)
    {
      g_info("introspection: request contains both dockerid and taskarn, expected at most one");
      return ecsa_http_response_new(400, NULL, NULL);
    }
  if (docker_id != NULL)
    {
      if (strlen(docker_id) > DOCKER_SHORT_ID_LEN)
        return task_response(self, self->tasks.lookup_by_docker_id(self->tasks.user_data, docker_id));
      return short_id_response(self, docker_id);
    }
  if (task_arn != NULL)
    return task_response(self, self->tasks.lookup(self->tasks.user_data, task_arn));

  all = self->tasks.list(self->tasks.user_data);
  out = g_string_new("{\"Tasks\":[");
  for (guint i = 0; all != NULL && i < all->len; i++)
    {
      if (i > 0)
        g_string_append_c(out, ',');
      append_task(out, g_ptr_array_index(all, i));
    }
  g_string_append(out, "]}");
  return json_response(200, out);
}

EcsaHttpResponse *
ecsa_introspection_server_route(EcsaIntrospectionServer *self, const char *method, const char *path,
                                const char *raw_query)
{
  g_autofree char *redirect = NULL;

  g_return_val_if_fail(ECSA_IS_INTROSPECTION_SERVER(self), NULL);

  redirect = ecsa_http_redirect_target(path, raw_query);
  if (redirect != NULL)
    return ecsa_http_response_new_redirect(method, redirect);
  if (strcmp(path, "/v1/metadata") == 0)
    return metadata_response(self);
  if (strcmp(path, "/v1/tasks") == 0)
    return tasks_response(self, raw_query);
  if (strcmp(path, "/license") == 0)
    return ecsa_http_response_new_text(200, TEXT_PLAIN, ecsa_license_text);
  return ecsa_http_response_new_text(200, TEXT_PLAIN,
                                     "{\"AvailableCommands\":[\"/v1/metadata\",\"/v1/tasks\",\"/license\"]}");
}

static void
handle_request_cb(SoupServer *server, SoupServerMessage *msg, const char *unused_path, GHashTable *unused_query,
                  gpointer user_data)
{
  EcsaIntrospectionServer *self = user_data;
  const char *method = soup_server_message_get_method(msg);
  g_autoptr(EcsaHttpResponse) response = NULL;
  g_autofree char *path = NULL;
  g_autofree char *raw_query = NULL;

  ecsa_http_request_target(msg, &path, &raw_query);
  g_debug("introspection: %s %s from %s", method, path, soup_server_message_get_remote_host(msg));
  response = ecsa_introspection_server_route(self, method, path, raw_query);
  ecsa_http_response_apply(response, msg);
}

gboolean
ecsa_introspection_server_listen(EcsaIntrospectionServer *self, guint16 port, gboolean loopback_only, GError **error)
{
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GInetAddress) v4 = NULL;
  g_autoptr(GSocketAddress) v4_address = NULL;
  guint16 bound;

  g_return_val_if_fail(ECSA_IS_INTROSPECTION_SERVER(self), FALSE);
  g_return_val_if_fail(self->server == NULL, FALSE);

  server = ecsa_http_server_new();
  soup_server_add_handler(server, NULL, handle_request_cb, self, NULL);
  v4 = loopback_only ? g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4) : g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  v4_address = g_inet_socket_address_new(v4, port);
  bound = ecsa_http_server_listen(server, v4_address, error);
  if (bound == 0)
    {
      g_prefix_error(error, "introspection API on %s:%u: ", loopback_only ? "127.0.0.1" : "0.0.0.0", port);
      return FALSE;
    }
  if (!loopback_only)
    {
      /* like Go's ":51678": IPv6 too, where the host has it */
      g_autoptr(GInetAddress) v6 = g_inet_address_new_any(G_SOCKET_FAMILY_IPV6);
      g_autoptr(GSocketAddress) v6_address = g_inet_socket_address_new(v6, bound);
      g_autoptr(GError) v6_error = NULL;

      if (ecsa_http_server_listen(server, v6_address, &v6_error) == 0)
        g_info("introspection API: not listening on IPv6: %s", v6_error->message);
    }
  self->port = bound;
  self->server = g_steal_pointer(&server);
  g_info("introspection API listening on %s:%u", loopback_only ? "127.0.0.1" : "*", self->port);
  return TRUE;
}

static gboolean
start_listen(gpointer server, GError **error)
{
  EcsaIntrospectionServer *self = server;

  return ecsa_introspection_server_listen(self, self->start_port, FALSE, error);
}

void
ecsa_introspection_server_start(EcsaIntrospectionServer *self, guint16 port)
{
  g_return_if_fail(ECSA_IS_INTROSPECTION_SERVER(self));
  g_return_if_fail(self->retry == NULL && self->server == NULL);

  self->start_port = port;
  self->retry = ecsa_http_listen_retry_start("introspection API", start_listen, self);
}

guint16
ecsa_introspection_server_get_port(EcsaIntrospectionServer *self)
{
  g_return_val_if_fail(ECSA_IS_INTROSPECTION_SERVER(self), 0);

  return self->port;
}

void
ecsa_introspection_server_stop(EcsaIntrospectionServer *self)
{
  g_return_if_fail(ECSA_IS_INTROSPECTION_SERVER(self));

  g_clear_pointer(&self->retry, ecsa_http_listen_retry_free);
  if (self->server == NULL)
    return;
  soup_server_disconnect(self->server);
  g_clear_object(&self->server);
}
