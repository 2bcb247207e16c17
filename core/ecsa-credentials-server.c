/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-credentials-server.h"

#include <libsoup/soup.h>
#include <string.h>

#include "ecsa-credentials-caller.h"

#define APPLICATION_JSON "application/json"

/* v1.16.2's error codes (handlers/credentials/handler.go) */
#define ERROR_NO_ID "NoIdInRequest"
#define ERROR_INVALID_ID "InvalidIdInRequest"
#define ERROR_UNINITIALIZED "CredentialsUninitialized"
#define ERROR_INTERNAL "InternalServerError"

struct _EcsaCredentialsServer
{
  GObject parent_instance;

  EcsaCredentialsManager *manager;
  EcsaAuditLog *audit_log;
  EcsaTaskViewSource tasks;
  gboolean host_network_allowed;

  SoupServer *server;
  guint16 port;
  GCancellable *cancellable;
  EcsaCallerPool *pool;
  EcsaHttpListenRetry *retry; /* start(): listening, or trying again */
  guint16 start_port;
  guint pending;
  guint64 served;
};

G_DEFINE_FINAL_TYPE(EcsaCredentialsServer, ecsa_credentials_server, G_TYPE_OBJECT)

typedef struct
{
  SoupServerMessage *msg;
  int api_version;
  char *credentials_id;
  char *task_arn;
  char *remote;
  char *path;
  char *user_agent;
  EcsaCallerQuery *query;
} Lookup;

static void
lookup_free(Lookup *lookup)
{
  g_clear_object(&lookup->msg);
  g_free(lookup->credentials_id);
  g_free(lookup->task_arn);
  g_free(lookup->remote);
  g_free(lookup->path);
  g_free(lookup->user_agent);
  g_clear_pointer(&lookup->query, ecsa_caller_query_free);
  g_free(lookup);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Lookup, lookup_free)

static void
ecsa_credentials_server_dispose(GObject *object)
{
  EcsaCredentialsServer *self = ECSA_CREDENTIALS_SERVER(object);

  ecsa_credentials_server_stop(self);
  g_clear_object(&self->manager);
  g_clear_object(&self->audit_log);
  G_OBJECT_CLASS(ecsa_credentials_server_parent_class)->dispose(object);
}

static void
ecsa_credentials_server_finalize(GObject *object)
{
  EcsaCredentialsServer *self = ECSA_CREDENTIALS_SERVER(object);

  g_clear_pointer(&self->pool, ecsa_caller_pool_free);
  g_clear_object(&self->cancellable);
  G_OBJECT_CLASS(ecsa_credentials_server_parent_class)->finalize(object);
}

static void
ecsa_credentials_server_class_init(EcsaCredentialsServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = ecsa_credentials_server_dispose;
  object_class->finalize = ecsa_credentials_server_finalize;
}

static void
ecsa_credentials_server_init(EcsaCredentialsServer *self)
{
  self->cancellable = g_cancellable_new();
  self->pool = ecsa_caller_pool_new(ECSA_CREDENTIALS_SERVER_LOOKUP_THREADS);
}

EcsaCredentialsServer *
ecsa_credentials_server_new(EcsaCredentialsManager *manager, EcsaAuditLog *audit_log, const EcsaTaskViewSource *tasks,
                            gboolean host_network_allowed)
{
  EcsaCredentialsServer *self;

  g_return_val_if_fail(ECSA_IS_CREDENTIALS_MANAGER(manager), NULL);
  g_return_val_if_fail(ECSA_IS_AUDIT_LOG(audit_log), NULL);
  g_return_val_if_fail(tasks != NULL && tasks->lookup != NULL && tasks->free_view != NULL, NULL);

  self = g_object_new(ECSA_TYPE_CREDENTIALS_SERVER, NULL);
  self->manager = g_object_ref(manager);
  self->audit_log = g_object_ref(audit_log);
  self->tasks = *tasks;
  self->host_network_allowed = host_network_allowed;
  return self;
}

/* ---- responses ------------------------------------------------------------------------------- */

static EcsaHttpResponse *
error_response(guint status, const char *code, const char *message)
{
  GString *json = g_string_new("{\"code\":");
  g_autoptr(GBytes) body = NULL;

  ecsa_http_append_json_string(json, code);
  g_string_append(json, ",\"message\":");
  ecsa_http_append_json_string(json, message);
  g_string_append_c(json, '}');
  body = g_string_free_to_bytes(json);
  return ecsa_http_response_new(status, APPLICATION_JSON, body);
}

static EcsaHttpResponse *
credentials_error(int api_version, guint status, const char *code, const char *what, const char *remote)
{
  g_autofree char *message = g_strdup_printf("CredentialsV%dRequest: %s", api_version, what);

  if (remote != NULL)
    g_info("%s. Request IP Address: %s", message, remote);
  return error_response(status, code, message);
}

static void
wipe_bytes(gpointer data)
{
  ecsa_credentials_wipe_free(data);
}

static EcsaHttpResponse *
credentials_ok(const EcsaTaskCredentials *credentials)
{
  char *json = ecsa_task_credentials_to_json(credentials);
  g_autoptr(GBytes) body = g_bytes_new_with_free_func(json, strlen(json), wipe_bytes, json);

  return ecsa_http_response_new(200, APPLICATION_JSON, body);
}

EcsaHttpResponse *
ecsa_credentials_server_route(EcsaCredentialsServer *self, const char *method, const char *path, const char *raw_query,
                              const char *remote, int *out_api_version, char **out_credentials_id)
{
  g_autofree char *redirect = NULL;
  g_autofree char *id = NULL;
  int api_version;

  g_return_val_if_fail(ECSA_IS_CREDENTIALS_SERVER(self), NULL);

  *out_api_version = 0;
  redirect = ecsa_http_redirect_target(path, raw_query);
  if (redirect != NULL)
    return ecsa_http_response_new_redirect(method, redirect);

  if (strcmp(path, ECSA_CREDENTIALS_V1_PATH) == 0)
    {
      g_autoptr(GHashTable) query = ecsa_http_query_parse(raw_query);
      api_version = 1;
      id = g_strdup(g_hash_table_lookup(query, "id"));
    }
  else if (strcmp(path, ECSA_CREDENTIALS_V2_PATH) == 0)
    {
      /* Go's ServeMux: the subtree root without its slash redirects to it (query dropped) */
      return ecsa_http_response_new_redirect(method, ECSA_CREDENTIALS_V2_PATH "/");
    }
  else if (g_str_has_prefix(path, ECSA_CREDENTIALS_V2_PATH "/"))
    {
      /* v1.16.2 takes everything after the prefix of the request URL, query included */
      const char *rest = path + strlen(ECSA_CREDENTIALS_V2_PATH "/");
      api_version = 2;
      id = raw_query != NULL ? g_strconcat(rest, "?", raw_query, NULL) : g_strdup(rest);
    }
  else
    return ecsa_http_response_new_not_found();

  *out_api_version = api_version;
  if (id == NULL || *id == '\0')
    return credentials_error(api_version, 400, ERROR_NO_ID, "No ID in the request", remote);
  if (ecsa_credentials_manager_get(self->manager, id) == NULL)
    return credentials_error(api_version, 400, ERROR_INVALID_ID, "ID not found", remote);
  *out_credentials_id = g_steal_pointer(&id);
  return NULL;
}

/* ---- who may read what ----------------------------------------------------------------------- */

static gboolean
caller_allowed(EcsaCredentialsServer *self, const EcsaCaller *caller, const EcsaTaskCredentials *credentials)
{
  gboolean execution_role = g_strcmp0(credentials->role_type, ECSA_CREDENTIALS_ROLE_EXECUTION) == 0;

  switch (caller->kind)
    {
    case ECSA_CALLER_TASK_NETNS:
      return !execution_role;
    case ECSA_CALLER_TASK_HOST_PROCESS:
      return !execution_role && self->host_network_allowed;
    case ECSA_CALLER_HOST_PROCESS:
      return caller->uid == 0;
    case ECSA_CALLER_OTHER_CONTAINER:
    case ECSA_CALLER_UNKNOWN:
    default:
      return FALSE;
    }
}

static const char *
refusal_reason(EcsaCredentialsServer *self, const EcsaCaller *caller, const EcsaTaskCredentials *credentials)
{
  gboolean execution_role = g_strcmp0(credentials->role_type, ECSA_CREDENTIALS_ROLE_EXECUTION) == 0;

  if (execution_role && (caller->kind == ECSA_CALLER_TASK_NETNS || caller->kind == ECSA_CALLER_TASK_HOST_PROCESS))
    return "execution role credentials are for the agent and Docker, not for the task's containers";
  if (caller->kind == ECSA_CALLER_TASK_HOST_PROCESS)
    return "the caller is a host-network container of the task and ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST is off";
  if (caller->kind == ECSA_CALLER_HOST_PROCESS)
    return "the caller is a host process that is not root";
  if (caller->kind == ECSA_CALLER_OTHER_CONTAINER)
    return "the caller is a container of another task";
  return "the caller is not a container of the task";
}

static void
respond(EcsaCredentialsServer *self, SoupServerMessage *msg, EcsaHttpResponse *response, const char *remote,
        const char *path, const char *user_agent, const char *task_arn, const char *role_type)
{
  ecsa_audit_log_record(self->audit_log, response->status, remote, path, user_agent, task_arn, role_type);
  ecsa_http_response_apply(response, msg);
  self->served++;
}

static void
identify_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaCredentialsServer *self = ECSA_CREDENTIALS_SERVER(source);
  g_autoptr(Lookup) lookup = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaCaller) caller = ecsa_caller_pool_identify_finish(result, &error);
  g_autoptr(EcsaHttpResponse) response = NULL;
  const EcsaTaskCredentials *credentials;
  const char *role_type = NULL;
  const char *audit_arn = NULL;

  self->pending--;
  if (g_cancellable_is_cancelled(self->cancellable))
    {
      soup_server_message_unpause(lookup->msg);
      return;
    }

  /* The manager may have changed while the lookup ran: read the ID again. */
  credentials = ecsa_credentials_manager_get(self->manager, lookup->credentials_id);
  if (credentials == NULL || strcmp(credentials->task_arn, lookup->task_arn) != 0)
    response = credentials_error(lookup->api_version, 400, ERROR_INVALID_ID, "ID not found", lookup->remote);
  else if (caller == NULL || !caller_allowed(self, caller, credentials))
    {
      g_message("credentials: refused the credentials of task '%s' to %s: %s%s%s%s", credentials->task_arn,
                lookup->remote,
                caller != NULL ? refusal_reason(self, caller, credentials) : "the caller could not be identified",
                caller != NULL && caller->container_id != NULL ? " (container " : "",
                caller != NULL && caller->container_id != NULL ? caller->container_id : "",
                caller != NULL && caller->container_id != NULL ? ")" : "");
      /* the same answer as an unknown ID: nothing to learn by probing */
      response = credentials_error(lookup->api_version, 400, ERROR_INVALID_ID, "ID not found", lookup->remote);
      audit_arn = credentials->task_arn;
      role_type = credentials->role_type;
    }
  else if (credentials->pending)
    {
      response = credentials_error(lookup->api_version, 503, ERROR_UNINITIALIZED, "Credentials uninitialized for ID",
                                   lookup->remote);
      audit_arn = credentials->task_arn;
    }
  else
    {
      response = credentials_ok(credentials);
      audit_arn = credentials->task_arn;
      role_type = credentials->role_type;
      g_debug("credentials: served the %s credentials of task '%s' to %s (%s)", credentials->role_type,
              credentials->task_arn, lookup->remote, ecsa_caller_kind_to_string(caller->kind));
    }
  respond(self, lookup->msg, response, lookup->remote, lookup->path, lookup->user_agent, audit_arn, role_type);
  soup_server_message_unpause(lookup->msg);
}

/* Start the caller lookup for a request whose ID is known. */
static void
start_lookup(EcsaCredentialsServer *self, SoupServerMessage *msg, int api_version, char *credentials_id,
             const char *remote, const char *path, const char *user_agent)
{
  const EcsaTaskCredentials *credentials = ecsa_credentials_manager_get(self->manager, credentials_id);
  g_autoptr(Lookup) lookup = g_new0(Lookup, 1);
  g_autoptr(GError) error = NULL;
  EcsaCallerQuery *query;
  EcsaTaskView *view;

  lookup->api_version = api_version;
  lookup->credentials_id = credentials_id;
  lookup->task_arn = g_strdup(credentials->task_arn);
  lookup->remote = g_strdup(remote);
  lookup->path = g_strdup(path);
  lookup->user_agent = g_strdup(user_agent);
  lookup->query = ecsa_caller_query_new(soup_server_message_get_remote_address(msg),
                                        soup_server_message_get_local_address(msg), &error);
  if (lookup->query == NULL)
    {
      g_autoptr(EcsaHttpResponse) response = NULL;

      g_message("credentials: cannot tell who is asking for the credentials of task '%s': %s", credentials->task_arn,
                error->message);
      response = credentials_error(api_version, 400, ERROR_INVALID_ID, "ID not found", remote);
      respond(self, msg, response, remote, path, user_agent, credentials->task_arn, credentials->role_type);
      return;
    }
  if (self->pending >= ECSA_CREDENTIALS_SERVER_MAX_PENDING)
    {
      g_autoptr(EcsaHttpResponse) response = NULL;

      g_warning("credentials: %u requests already wait for their caller lookup, answering 503 to %s", self->pending,
                remote);
      response = error_response(503, ERROR_INTERNAL, "Too many requests in progress");
      respond(self, msg, response, remote, path, user_agent, credentials->task_arn, credentials->role_type);
      return;
    }

  view = self->tasks.lookup(self->tasks.user_data, credentials->task_arn);
  for (guint i = 0; view != NULL && i < view->n_containers; i++)
    {
      const EcsaContainerView *c = view->containers[i];
      if (c->docker_id != NULL && *c->docker_id != '\0')
        ecsa_caller_query_add_container(lookup->query, c->docker_id, c->pid);
    }
  if (view != NULL)
    self->tasks.free_view(view);

  lookup->msg = g_object_ref(msg);
  soup_server_message_pause(msg);
  self->pending++;
  query = g_steal_pointer(&lookup->query);
  ecsa_caller_pool_identify_async(self->pool, self, query, self->cancellable, identify_ready_cb,
                                  g_steal_pointer(&lookup));
}

/* The path as the logs may show it: never a credentials ID (the log also masks every known ID). */
static const char *
loggable_path(const char *path)
{
  if (strstr(path, "credentials/") != NULL)
    return ECSA_CREDENTIALS_V2_PATH "/<id>";
  return path;
}

static void
handle_request_cb(SoupServer *server, SoupServerMessage *msg, const char *unused_path, GHashTable *unused_query,
                  gpointer user_data)
{
  EcsaCredentialsServer *self = user_data;
  const char *method = soup_server_message_get_method(msg);
  g_autofree char *path = NULL;
  g_autofree char *raw_query = NULL;
  const char *user_agent = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "User-Agent");
  g_autofree char *remote = ecsa_http_remote_address(msg);
  g_autofree char *credentials_id = NULL;
  g_autoptr(EcsaHttpResponse) response = NULL;
  int api_version = 0;

  ecsa_http_request_target(msg, &path, &raw_query);
  g_debug("credentials: %s %s from %s", method, loggable_path(path), remote);
  response = ecsa_credentials_server_route(self, method, path, raw_query, remote, &api_version, &credentials_id);
  if (response == NULL)
    {
      start_lookup(self, msg, api_version, g_steal_pointer(&credentials_id), remote, path,
                   user_agent != NULL ? user_agent : "");
      return;
    }
  if (api_version != 0)
    {
      /* an answer of the credentials handler (no ID, unknown ID): the audit log gets it */
      respond(self, msg, response, remote, path, user_agent != NULL ? user_agent : "", NULL, NULL);
      return;
    }
  ecsa_http_response_apply(response, msg);
  self->served++;
}

gboolean
ecsa_credentials_server_listen(EcsaCredentialsServer *self, guint16 port, GError **error)
{
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, port);
  guint16 bound;

  g_return_val_if_fail(ECSA_IS_CREDENTIALS_SERVER(self), FALSE);
  g_return_val_if_fail(self->server == NULL, FALSE);

  server = ecsa_http_server_new();
  soup_server_add_handler(server, NULL, handle_request_cb, self, NULL);
  bound = ecsa_http_server_listen(server, address, error);
  if (bound == 0)
    {
      g_prefix_error(error, "credentials endpoint on 127.0.0.1:%u: ", port);
      return FALSE;
    }
  self->port = bound;
  self->server = g_steal_pointer(&server);
  g_info("credentials endpoint listening on 127.0.0.1:%u", self->port);
  return TRUE;
}

static gboolean
start_listen(gpointer server, GError **error)
{
  EcsaCredentialsServer *self = server;

  return ecsa_credentials_server_listen(self, self->start_port, error);
}

void
ecsa_credentials_server_start(EcsaCredentialsServer *self, guint16 port)
{
  g_return_if_fail(ECSA_IS_CREDENTIALS_SERVER(self));
  g_return_if_fail(self->retry == NULL && self->server == NULL);

  self->start_port = port;
  self->retry = ecsa_http_listen_retry_start("credentials endpoint", start_listen, self);
}

guint16
ecsa_credentials_server_get_port(EcsaCredentialsServer *self)
{
  g_return_val_if_fail(ECSA_IS_CREDENTIALS_SERVER(self), 0);

  return self->port;
}

void
ecsa_credentials_server_stop(EcsaCredentialsServer *self)
{
  g_return_if_fail(ECSA_IS_CREDENTIALS_SERVER(self));

  g_cancellable_cancel(self->cancellable);
  g_clear_pointer(&self->retry, ecsa_http_listen_retry_free);
  if (self->server == NULL)
    return;
  soup_server_disconnect(self->server);
  g_clear_object(&self->server);
}

guint64
ecsa_credentials_server_get_served(EcsaCredentialsServer *self)
{
  g_return_val_if_fail(ECSA_IS_CREDENTIALS_SERVER(self), 0);

  return self->served;
}
