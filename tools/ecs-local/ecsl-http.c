/* ecsl-http.c: the HTTPS server of ecs-local: the JSON 1.1 API, SigV4 verification, websocket
 * routing and the read-only status views (see ecsl-http.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-http.h"
#include "ecsl-acs.h"
#include "ecsl-ecs.h"
#include "ecsl-tcs.h"
#include "ecsl-util.h"

#include "ecsa-sigv4.h"

#include <stdio.h>
#include <string.h>

#define ECS_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
#define ECR_TARGET_PREFIX "AmazonEC2ContainerRegistry_V20150921."
#define MAX_BODY (1024 * 1024)

/* ------------------------------------------------------------------------------------------- */
/* signatures */

typedef struct
{
  EcslContext *ctx;
  const EcslCredEntry *entry;
} LookupData;

static gboolean
lookup_secret_cb (const char *access_key_id, char **out_secret, char **out_token, gpointer user_data)
{
  LookupData *data = user_data;
  const EcslCredEntry *entry = NULL;

  if (ecsl_credentials_lookup (data->ctx->creds, access_key_id, &entry) != ECSL_CRED_LOOKUP_OK)
    return FALSE;
  data->entry = entry;
  *out_secret = ecsl_credentials_secret (data->ctx->creds, entry);
  *out_token = ecsl_credentials_token (data->ctx->creds, entry);
  return TRUE;
}

static EcslApiError
map_sigv4_error (const GError *error)
{
  switch (error->code)
    {
    case ECSA_SIGV4_ERROR_MISSING_AUTHENTICATION_TOKEN:
      return ECSL_API_ERROR_MISSING_AUTHENTICATION;
    case ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE:
      return ECSL_API_ERROR_INCOMPLETE_SIGNATURE;
    case ECSA_SIGV4_ERROR_UNRECOGNIZED_CLIENT:
      return ECSL_API_ERROR_UNRECOGNIZED_CLIENT;
    case ECSA_SIGV4_ERROR_INVALID_SIGNATURE:
    case ECSA_SIGV4_ERROR_SIGNATURE_EXPIRED:
    default:
      return ECSL_API_ERROR_INVALID_SIGNATURE;
    }
}

gboolean
ecsl_verify_signature (EcslContext *ctx, const char *method, const char *path, const char *query,
                       SoupMessageHeaders *headers, GBytes *body, const char *service, const EcslCredEntry **out_entry,
                       GError **error)
{
  const char *authz = soup_message_headers_get_one (headers, "Authorization");
  g_autoptr(EcsaSigv4Authorization) auth = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) empty = NULL;
  LookupData data = { ctx, NULL };

  if (authz != NULL)
    {
      auth = ecsa_sigv4_authorization_parse (authz, &local);
      if (auth != NULL)
        {
          const EcslCredEntry *entry = NULL;
          EcslCredLookup found = ecsl_credentials_lookup (ctx->creds, auth->access_key_id, &entry);
          if (found == ECSL_CRED_LOOKUP_EXPIRED)
            {
              g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_EXPIRED_TOKEN,
                                   "The security token included in the request is expired");
              return FALSE;
            }
          if (found == ECSL_CRED_LOOKUP_OK && strcmp (auth->region, ctx->config.region) != 0)
            {
              g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_SIGNATURE,
                           "Credential should be scoped to a valid region, not '%s'. ", auth->region);
              return FALSE;
            }
        }
      g_clear_error (&local);
    }
  if (body == NULL)
    body = empty = g_bytes_new_static ("", 0);
  if (!ecsa_sigv4_verify (method, path, query, headers, body, service, lookup_secret_cb, &data,
                          g_get_real_time () / G_USEC_PER_SEC, NULL, &local))
    {
      g_set_error_literal (error, ECSL_API_ERROR, map_sigv4_error (local), local->message);
      return FALSE;
    }
  if (out_entry != NULL)
    *out_entry = data.entry;
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* trace */

static GThreadPool *trace_pool;
static FILE *trace_file;

static void
trace_write (gpointer data, gpointer user_data)
{
  char *line = data;

  if (trace_file != NULL)
    {
      fputs (line, trace_file);
      fputc ('\n', trace_file);
      fflush (trace_file);
    }
  g_free (line);
}

static void
scrub (JsonNode *node)
{
  static const char *const secret_members[] = { "secretAccessKey", "sessionToken", "authorizationToken",
                                                "SecretAccessKey", "Token", NULL };

  if (node == NULL)
    return;
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *o = json_node_get_object (node);
      GList *members = json_object_get_members (o);
      for (GList *l = members; l != NULL; l = l->next)
        {
          if (g_strv_contains (secret_members, l->data))
            json_object_set_string_member (o, l->data, "<redacted>");
          else
            scrub (json_object_get_member (o, l->data));
        }
      g_list_free (members);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (a); i++)
        scrub (json_array_get_element (a, i));
    }
}

void
ecsl_trace (EcslContext *ctx, const char *kind, const char *op, JsonNode *request, guint status, JsonNode *response)
{
  g_autoptr(JsonBuilder) b = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (ctx->config.trace_file == NULL)
    return;
  if (trace_pool == NULL)
    {
      trace_file = fopen (ctx->config.trace_file, "ae");
      if (trace_file == NULL)
        {
          g_warning ("cannot open the trace file %s: %s", ctx->config.trace_file, g_strerror (errno));
          g_clear_pointer (&ctx->config.trace_file, g_free);
          return;
        }
      trace_pool = g_thread_pool_new (trace_write, NULL, 1, FALSE, NULL);
    }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, kind);
  json_builder_set_member_name (b, "op");
  json_builder_add_string_value (b, op);
  json_builder_set_member_name (b, "status");
  json_builder_add_int_value (b, status);
  if (request != NULL)
    {
      JsonNode *copy = ecsl_json_deep_copy (request);
      scrub (copy);
      json_builder_set_member_name (b, "request");
      json_builder_add_value (b, copy);
    }
  if (response != NULL)
    {
      JsonNode *copy = ecsl_json_deep_copy (response);
      scrub (copy);
      json_builder_set_member_name (b, "response");
      json_builder_add_value (b, copy);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  g_thread_pool_push (trace_pool, ecsl_json_to_string (root), NULL);
}

void
ecsl_trace_close (void)
{
  if (trace_pool != NULL)
    g_thread_pool_free (trace_pool, FALSE, TRUE);
  trace_pool = NULL;
  if (trace_file != NULL)
    fclose (trace_file);
  trace_file = NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* responses */

static void
set_request_id (SoupServerMessage *msg)
{
  g_autofree char *id = ecsl_random_uuid ();

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "x-amzn-RequestId", id);
}

static void
respond_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autofree char *body = ecsl_json_to_string (node);
  gsize len = strlen (body);

  set_request_id (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/x-amz-json-1.1", SOUP_MEMORY_TAKE, g_steal_pointer (&body), len);
}

static JsonNode *
error_node (const GError *error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "__type");
  json_builder_add_string_value (b, ecsl_api_error_type (error));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, error->message);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
respond_error (EcslContext *ctx, SoupServerMessage *msg, const char *op, JsonNode *request, const GError *error)
{
  g_autoptr(JsonNode) node = error_node (error);
  guint status = ecsl_api_error_status (error);

  ecsl_trace (ctx, "api", op != NULL ? op : "", request, status, node);
  respond_json (msg, status, node);
}

/* ------------------------------------------------------------------------------------------- */
/* the API */

static const char *
short_key (const EcslCredEntry *entry)
{
  if (entry == NULL)
    return "?";
  switch (entry->kind)
    {
    case ECSL_CRED_INSTANCE_ROLE:
      return "instance role";
    case ECSL_CRED_TASK_ROLE:
      return "task role";
    case ECSL_CRED_EXECUTION_ROLE:
      return "execution role";
    case ECSL_CRED_ROOT:
    default:
      return "root";
    }
}

static void
handle_api (EcslContext *ctx, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *target = soup_message_headers_get_one (headers, "X-Amz-Target");
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageBody *req_body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) body = soup_message_body_flatten (req_body);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) request = NULL;
  g_autoptr(JsonNode) response = NULL;
  const EcslCredEntry *caller = NULL;
  const char *op = NULL;
  const char *service;
  gint64 started = g_get_monotonic_time ();

  if (target != NULL && g_str_has_prefix (target, ECS_TARGET_PREFIX))
    {
      op = target + strlen (ECS_TARGET_PREFIX);
      service = "ecs";
    }
  else if (target != NULL && g_str_has_prefix (target, ECR_TARGET_PREFIX))
    {
      op = target + strlen (ECR_TARGET_PREFIX);
      service = "ecr";
    }
  else
    {
      g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_UNKNOWN_OPERATION, "Unknown X-Amz-Target '%s'.",
                   target != NULL ? target : "");
      g_message ("refused a request with X-Amz-Target '%s'", target != NULL ? target : "(none)");
      respond_error (ctx, msg, NULL, NULL, error);
      return;
    }

  if (!ecsl_verify_signature (ctx, soup_server_message_get_method (msg), g_uri_get_path (uri), g_uri_get_query (uri),
                              headers, body, service, &caller, &error))
    {
      g_message ("%s: refused: %s: %s", op, ecsl_api_error_type (error), error->message);
      respond_error (ctx, msg, op, NULL, error);
      return;
    }

  if (g_bytes_get_size (body) > MAX_BODY)
    {
      g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "The request body is larger than %d bytes.",
                   MAX_BODY);
      respond_error (ctx, msg, op, NULL, error);
      return;
    }
  if (g_bytes_get_size (body) == 0)
    request = json_node_init_object (json_node_alloc (), json_object_new ());
  else
    request = ecsl_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), "The request body",
                               &error);
  if (request != NULL && !JSON_NODE_HOLDS_OBJECT (request))
    g_set_error_literal (&error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "The request body is not a JSON object.");
  if (error != NULL)
    {
      g_message ("%s: refused: %s", op, error->message);
      respond_error (ctx, msg, op, NULL, error);
      return;
    }

  if (strcmp (service, "ecr") == 0)
    {
      if (strcmp (op, "GetAuthorizationToken") == 0)
        response = ecsl_ecr_get_authorization_token (ctx, json_node_get_object (request), &error);
      else
        g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_UNKNOWN_OPERATION,
                     "ecs-local implements only ECR's GetAuthorizationToken, not %s.", op);
    }
  else
    {
      EcslOpFunc func = ecsl_ecs_lookup (op);
      if (func != NULL)
        response = func (ctx, json_node_get_object (request), &error);
      else
        g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_UNKNOWN_OPERATION,
                     "ecs-local does not implement %s.", op);
    }
  if (response == NULL)
    {
      if (error == NULL)
        g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_SERVER, "%s failed", op);
      g_message ("%s (%s): %s: %s", op, short_key (caller), ecsl_api_error_type (error), error->message);
      respond_error (ctx, msg, op, request, error);
      return;
    }
  g_debug ("%s (%s): OK in %" G_GINT64_FORMAT " µs", op, short_key (caller), g_get_monotonic_time () - started);
  ecsl_trace (ctx, "api", op, request, 200, response);
  respond_json (msg, 200, response);
}

/* ------------------------------------------------------------------------------------------- */
/* status views */

static void
handle_status (EcslContext *ctx, SoupServerMessage *msg, const char *path)
{
  g_autoptr(JsonNode) node = NULL;

  if (strcmp (path, "/_ecs-local/v1/metrics") == 0)
    node = ecsl_tcs_metrics_view (ctx->tcs);
  else if (strcmp (path, "/_ecs-local/v1/status") == 0)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "endpoint");
      json_builder_add_string_value (b, ctx->endpoint);
      json_builder_set_member_name (b, "telemetryEndpoint");
      json_builder_add_string_value (b, ctx->tcs_endpoint);
      json_builder_set_member_name (b, "region");
      json_builder_add_string_value (b, ctx->config.region);
      json_builder_set_member_name (b, "containerInstances");
      json_builder_begin_array (b);
      for (guint i = 0; i < ctx->state->instances->len; i++)
        {
          EcslInstance *inst = g_ptr_array_index (ctx->state->instances, i);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "containerInstanceArn");
          json_builder_add_string_value (b, inst->arn);
          json_builder_set_member_name (b, "status");
          json_builder_add_string_value (b, inst->status);
          json_builder_set_member_name (b, "agentConnected");
          json_builder_add_boolean_value (b, inst->agent_connected);
          json_builder_set_member_name (b, "acsConnects");
          json_builder_add_int_value (b, inst->connects);
          json_builder_set_member_name (b, "payloadsSent");
          json_builder_add_int_value (b, inst->payloads_sent);
          json_builder_set_member_name (b, "acks");
          json_builder_add_int_value (b, inst->acks);
          json_builder_set_member_name (b, "credentialAcks");
          json_builder_add_int_value (b, inst->credential_acks);
          json_builder_set_member_name (b, "heartbeatAcks");
          json_builder_add_int_value (b, inst->heartbeat_acks);
          json_builder_set_member_name (b, "unacknowledged");
          json_builder_add_int_value (b, inst->outbox->len);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      node = json_builder_get_root (b);
    }
  if (node == NULL)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  {
    g_autofree char *body = ecsl_json_to_string (node);
    gsize len = strlen (body);
    soup_server_message_set_status (msg, 200, NULL);
    soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, g_steal_pointer (&body), len);
  }
}

void
ecsl_http_refuse_handshake (SoupServerMessage *msg, guint status, const char *type, const char *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *body = NULL;
  gsize len;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, type);
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  body = ecsl_json_to_string (node);
  len = strlen (body);
  set_request_id (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, g_steal_pointer (&body), len);
}

gboolean
ecsl_http_verify_handshake (EcslContext *ctx, SoupServerMessage *msg, const char *what)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr(GError) error = NULL;

  if (!ecsl_verify_signature (ctx, "GET", g_uri_get_path (uri), g_uri_get_query (uri),
                              soup_server_message_get_request_headers (msg), NULL, "ecs", NULL, &error))
    {
      g_message ("%s handshake refused: %s: %s", what, ecsl_api_error_type (error), error->message);
      ecsl_http_refuse_handshake (msg, 403, "AccessDeniedException", error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_tcs_port (EcslContext *ctx, SoupServerMessage *msg)
{
  GSocketAddress *local = soup_server_message_get_local_address (msg);

  return local != NULL && G_IS_INET_SOCKET_ADDRESS (local)
         && g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) == ctx->tcs_port;
}

static void
root_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcslContext *ctx = user_data;
  const char *method = soup_server_message_get_method (msg);

  if (g_str_has_prefix (path, "/_ecs-local/"))
    {
      if (strcmp (method, "GET") != 0)
        soup_server_message_set_status (msg, 405, NULL);
      else
        handle_status (ctx, msg, path);
      return;
    }
  if (strcmp (method, "POST") == 0 && strcmp (path, "/") == 0 && !is_tcs_port (ctx, msg))
    {
      handle_api (ctx, msg);
      return;
    }
  {
    g_autoptr(GError) error = NULL;
    g_set_error (&error, ECSL_API_ERROR, ECSL_API_ERROR_UNKNOWN_OPERATION, "No operation at %s %s.", method, path);
    respond_error (ctx, msg, NULL, NULL, error);
  }
}

/* The HTTP side of a websocket handshake: refuse it here (setting a status) or let libsoup
 * complete it. */
static void
ws_http_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcslContext *ctx = user_data;

  if (strcmp (path, "/ws") != 0)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  if (is_tcs_port (ctx, msg))
    ecsl_tcs_check_handshake (ctx, msg);
  else
    ecsl_acs_check_handshake (ctx, msg);
}

static void
ws_cb (SoupServer *server, SoupServerMessage *msg, const char *path, SoupWebsocketConnection *conn,
       gpointer user_data)
{
  EcslContext *ctx = user_data;

  soup_websocket_connection_set_max_incoming_payload_size (conn, 4 * 1024 * 1024);
  if (is_tcs_port (ctx, msg))
    ecsl_tcs_connected (ctx, msg, conn);
  else
    ecsl_acs_connected (ctx, msg, conn);
}

static gboolean
listen_on (SoupServer *server, const char *address, int port, SoupServerListenOptions options, guint *out_port,
           GError **error)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr(GSocketAddress) sa = NULL;
  GSList *listeners;
  guint bound = 0;

  if (inet == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--listen '%s' is not an IP address", address);
      return FALSE;
    }
  sa = g_inet_socket_address_new (inet, (guint16) port);
  if (!soup_server_listen (server, sa, options, error))
    {
      g_prefix_error (error, "cannot listen on %s port %d: ", address, port);
      return FALSE;
    }
  /* libsoup lists its listeners oldest first: the one just added is the last. */
  listeners = soup_server_get_listeners (server);
  if (listeners != NULL)
    {
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (g_slist_last (listeners)->data, NULL);
      if (local != NULL)
        bound = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (listeners);
  *out_port = bound;
  return TRUE;
}

gboolean
ecsl_http_start (EcslContext *ctx, GError **error)
{
  const char *host = ctx->config.advertise_host;
  gboolean v6 = strchr (host, ':') != NULL;

  ctx->server = soup_server_new ("tls-certificate", ecsl_tls_get_server_certificate (ctx->tls), "raw-paths", TRUE,
                                 "server-header", "ecs-local", NULL);
  soup_server_add_handler (ctx->server, "/", root_cb, ctx, NULL);
  soup_server_add_handler (ctx->server, "/ws", ws_http_cb, ctx, NULL);
  soup_server_add_websocket_handler (ctx->server, "/ws", NULL, NULL, ws_cb, ctx, NULL);
  if (!listen_on (ctx->server, ctx->config.listen_address, ctx->config.port, SOUP_SERVER_LISTEN_HTTPS, &ctx->port,
                  error))
    return FALSE;
  if (!listen_on (ctx->server, ctx->config.listen_address, ctx->config.tcs_port, SOUP_SERVER_LISTEN_HTTPS,
                  &ctx->tcs_port, error))
    return FALSE;
  ctx->endpoint = g_strdup_printf ("https://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", ctx->port);
  ctx->tcs_endpoint = g_strdup_printf ("https://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", ctx->tcs_port);
  return TRUE;
}

void
ecsl_http_stop (EcslContext *ctx)
{
  if (ctx->server != NULL)
    soup_server_disconnect (ctx->server);
  g_clear_object (&ctx->server);
}
