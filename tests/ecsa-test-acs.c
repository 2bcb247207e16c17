/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-acs.h"

#include "ecsa-sigv4.h"

#include <string.h>

char *
ecsa_test_server_listen (SoupServer *server)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;
  GUri *uri;
  char *url;

  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  g_assert_nonnull (uris);
  uri = uris->data;
  url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uri));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return url;
}

const EcsaAwsCredentials *
ecsa_test_credentials (gboolean with_token)
{
  static EcsaAwsCredentials plain = { sizeof (EcsaAwsCredentials), 0, ECSA_TEST_ACCESS_KEY, ECSA_TEST_SECRET_KEY, "",
                                      0, "" };
  static EcsaAwsCredentials token = { sizeof (EcsaAwsCredentials), 0, ECSA_TEST_ACCESS_KEY, ECSA_TEST_SECRET_KEY,
                                      ECSA_TEST_SESSION_TOKEN, 0, "" };
  return with_token ? &token : &plain;
}

/* ---- IMDS ---------------------------------------------------------------------------------- */

static void
imds_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcsaTestImds *imds = user_data;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *token;
  const char *body;

  if (strcmp (path, "/latest/api/token") == 0)
    {
      const char *ttl = soup_message_headers_get_one (req, "X-aws-ec2-metadata-token-ttl-seconds");

      if (strcmp (method, "PUT") != 0)
        {
          soup_server_message_set_status (msg, 405, NULL);
          return;
        }
      imds->token_requests++;
      if (imds->token_status != 0)
        {
          soup_server_message_set_status (msg, imds->token_status, NULL);
          return;
        }
      if (ttl == NULL)
        {
          soup_server_message_set_status (msg, 400, NULL);
          return;
        }
      imds->token_ttl = (guint) g_ascii_strtoull (ttl, NULL, 10);
      g_free (imds->issued_token);
      imds->issued_token = g_strdup_printf ("imds-token-%u-%08x", imds->token_requests, g_random_int ());
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, imds->issued_token,
                                        strlen (imds->issued_token));
      return;
    }
  if (strcmp (method, "GET") != 0)
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  imds->gets++;
  token = soup_message_headers_get_one (req, "X-aws-ec2-metadata-token");
  if (token != NULL)
    imds->gets_with_token++;
  else
    imds->gets_without_token++;
  if (imds->stall_gets > 0)
    {
      imds->stall_gets--;
      soup_server_message_pause (msg);
      g_ptr_array_add (imds->stalled, g_object_ref (msg));
      return;
    }
  if (imds->fail_gets > 0)
    {
      imds->fail_gets--;
      soup_server_message_set_status (msg, 500, NULL);
      return;
    }
  if (token != NULL && imds->revoke_once)
    {
      imds->revoke_once = FALSE;
      g_clear_pointer (&imds->issued_token, g_free);
      soup_server_message_set_status (msg, 401, NULL);
      return;
    }
  if (token != NULL ? g_strcmp0 (token, imds->issued_token) != 0 : imds->require_token)
    {
      soup_server_message_set_status (msg, 401, NULL);
      return;
    }
  body = g_hash_table_lookup (imds->paths, path);
  if (body == NULL)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, body, strlen (body));
}

EcsaTestImds *
ecsa_test_imds_new (void)
{
  EcsaTestImds *imds = g_new0 (EcsaTestImds, 1);

  imds->paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  imds->stalled = g_ptr_array_new_with_free_func (g_object_unref);
  imds->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (imds->server, NULL, imds_handler, imds, NULL);
  imds->url = ecsa_test_server_listen (imds->server);
  return imds;
}

void
ecsa_test_imds_free (EcsaTestImds *imds)
{
  if (imds == NULL)
    return;
  for (guint i = 0; i < imds->stalled->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (imds->stalled, i);
      soup_server_message_set_status (msg, 500, NULL);
      soup_server_message_unpause (msg);
    }
  soup_server_disconnect (imds->server);
  g_object_unref (imds->server);
  g_ptr_array_unref (imds->stalled);
  g_hash_table_unref (imds->paths);
  g_free (imds->issued_token);
  g_free (imds->url);
  g_free (imds);
}

void
ecsa_test_imds_set (EcsaTestImds *imds, const char *path, const char *body)
{
  g_hash_table_replace (imds->paths, g_strconcat ("/latest/", path, NULL), g_strdup (body));
}

void
ecsa_test_imds_set_role (EcsaTestImds *imds, const char *role, const char *akid, const char *secret, const char *token,
                         gint64 expires_in)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) expires = g_date_time_add_seconds (now, (gdouble) expires_in);
  g_autofree char *expiration = g_date_time_format (expires, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *path = g_strconcat ("meta-data/iam/security-credentials/", role, NULL);
  g_autofree char *json = g_strdup_printf ("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2017-11-27T19:00:00Z\",\n"
                                           "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
                                           "  \"SecretAccessKey\" : \"%s\",\n  \"Token\" : \"%s\",\n"
                                           "  \"Expiration\" : \"%s\"\n}",
                                           akid, secret, token, expiration);
  g_autofree char *list = g_strconcat (role, "\n", NULL);

  ecsa_test_imds_set (imds, "meta-data/iam/security-credentials/", list);
  ecsa_test_imds_set (imds, path, json);
}

void
ecsa_test_imds_set_identity (EcsaTestImds *imds, const char *instance_id, const char *region)
{
  g_autofree char *doc = g_strdup_printf (
    "{\n  \"accountId\" : \"123456789012\",\n  \"architecture\" : \"x86_64\",\n"
    "  \"availabilityZone\" : \"%sa\",\n  \"imageId\" : \"ami-0123456789abcdef0\",\n"
    "  \"instanceId\" : \"%s\",\n  \"instanceType\" : \"m5.large\",\n  \"pendingTime\" : \"2017-11-27T19:00:00Z\",\n"
    "  \"privateIp\" : \"10.0.0.10\",\n  \"region\" : \"%s\",\n  \"version\" : \"2017-09-30\"\n}",
    region, instance_id, region);

  ecsa_test_imds_set (imds, "dynamic/instance-identity/document", doc);
  ecsa_test_imds_set (imds, "dynamic/instance-identity/signature", "dGVzdC1zaWduYXR1cmUtb2YtdGhlLWRvY3VtZW50");
  ecsa_test_imds_set (imds, "meta-data/instance-id", instance_id);
}

/* ---- log capture --------------------------------------------------------------------------- */

static GString *captured;
static gboolean capturing;
static gboolean writer_installed;
G_LOCK_DEFINE_STATIC (captured);

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if (capturing)
    {
      const char *message = NULL, *domain = NULL;

      for (gsize i = 0; i < n_fields; i++)
        {
          if (strcmp (fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
          else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        }
      G_LOCK (captured);
      g_string_append_printf (captured, "%s: %s\n", domain != NULL ? domain : "-", message != NULL ? message : "");
      G_UNLOCK (captured);
    }
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && g_getenv ("G_MESSAGES_DEBUG") == NULL)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
ecsa_test_log_capture_start (void)
{
  if (!writer_installed)
    {
      g_log_set_writer_func (capture_writer, NULL, NULL);
      writer_installed = TRUE;
    }
  G_LOCK (captured);
  if (captured == NULL)
    captured = g_string_new (NULL);
  g_string_truncate (captured, 0);
  capturing = TRUE;
  G_UNLOCK (captured);
}

const char *
ecsa_test_log_captured (void)
{
  return captured != NULL ? captured->str : "";
}

void
ecsa_test_log_capture_stop (void)
{
  capturing = FALSE;
}

void
ecsa_test_log_assert_no_secret (const char *const *secrets)
{
  const char *text = ecsa_test_log_captured ();

  for (guint i = 0; secrets[i] != NULL; i++)
    if (*secrets[i] != '\0' && strstr (text, secrets[i]) != NULL)
      g_error ("secret '%.4s...' appears in the log:\n%s", secrets[i], text);
}

/* ---- TLS ----------------------------------------------------------------------------------- */

static void
run_certtool (const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                     &err, &status, &error))
    g_error ("certtool: %s (tools/setup.sh installs gnutls-bin)", error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("certtool failed: %s", err);
}

void
ecsa_test_make_certificates (const char *dir)
{
  g_autofree char *ca_tmpl = g_build_filename (dir, "ca.tmpl", NULL);
  g_autofree char *srv_tmpl = g_build_filename (dir, "server.tmpl", NULL);
  g_autofree char *ca_key = g_build_filename (dir, "ca.key", NULL);
  g_autofree char *ca_pem = g_build_filename (dir, "ca.pem", NULL);
  g_autofree char *srv_key = g_build_filename (dir, "server.key", NULL);
  g_autofree char *srv_pem = g_build_filename (dir, "server.pem", NULL);
  g_autofree char *other_key = g_build_filename (dir, "other.key", NULL);
  g_autofree char *other_pem = g_build_filename (dir, "other.pem", NULL);

  g_assert_true (g_file_set_contents (ca_tmpl, "cn = \"ecsa test CA\"\nca\ncert_signing_key\nexpiration_days = 2\n", -1,
                                      NULL));
  g_assert_true (g_file_set_contents (srv_tmpl,
                                      "cn = \"127.0.0.1\"\nip_address = \"127.0.0.1\"\ndns_name = \"localhost\"\n"
                                      "tls_www_server\nsigning_key\nencryption_key\nexpiration_days = 2\n",
                                      -1, NULL));
  {
    const char *argv[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", ca_key, NULL };
    run_certtool (argv);
  }
  {
    const char *argv[] = { "certtool", "--generate-self-signed", "--load-privkey", ca_key, "--template", ca_tmpl,
                           "--no-text", "--outfile", ca_pem, NULL };
    run_certtool (argv);
  }
  {
    const char *argv[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", srv_key,
                           NULL };
    run_certtool (argv);
  }
  {
    const char *argv[] = { "certtool", "--generate-certificate", "--load-privkey", srv_key, "--load-ca-certificate",
                           ca_pem, "--load-ca-privkey", ca_key, "--template", srv_tmpl, "--no-text", "--outfile",
                           srv_pem, NULL };
    run_certtool (argv);
  }
  /* a CA that signed nothing here: trusting only it means trusting nothing (and spares loading the
   * system store, which is slow under ASan) */
  {
    const char *argv[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", other_key,
                           NULL };
    run_certtool (argv);
  }
  {
    const char *argv[] = { "certtool", "--generate-self-signed", "--load-privkey", other_key, "--template", ca_tmpl,
                           "--no-text", "--outfile", other_pem, NULL };
    run_certtool (argv);
  }
}

char *
ecsa_test_server_listen_tls (SoupServer *server, const char *dir)
{
  g_autofree char *pem = g_build_filename (dir, "server.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "server.key", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files (pem, key, &error);
  GSList *uris;
  char *url;

  g_assert_no_error (error);
  soup_server_set_tls_certificate (server, cert);
  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  url = g_strdup_printf ("https://127.0.0.1:%d", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return url;
}

/* ---- signatures ---------------------------------------------------------------------------- */

gboolean
ecsa_test_secret_lookup (const char *access_key_id, char **out_secret, char **out_token, gpointer user_data)
{
  const gboolean *with_token = user_data;

  if (g_strcmp0 (access_key_id, ECSA_TEST_ACCESS_KEY) != 0)
    return FALSE;
  *out_secret = g_strdup (ECSA_TEST_SECRET_KEY);
  *out_token = with_token != NULL && *with_token ? g_strdup (ECSA_TEST_SESSION_TOKEN) : NULL;
  return TRUE;
}

/* ---- the ECS JSON API ---------------------------------------------------------------------- */

static void
ecs_call_free (EcsaTestEcsCall *call)
{
  g_free (call->op);
  g_clear_pointer (&call->body, json_node_unref);
  g_free (call->signed_headers);
  g_free (call->content_type);
  g_free (call->user_agent);
  g_free (call);
}

void
ecsa_test_ecs_reply_json (SoupServerMessage *msg, const char *json)
{
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/x-amz-json-1.1", SOUP_MEMORY_COPY, json, strlen (json));
}

void
ecsa_test_ecs_reply_error (SoupServerMessage *msg, guint status, const char *type, const char *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "__type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/x-amz-json-1.1", SOUP_MEMORY_COPY, text, strlen (text));
}

static char *
to_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static void
ecs_register (EcsaTestEcs *ecs, JsonObject *req, SoupServerMessage *msg)
{
  const char *cluster = json_object_get_string_member_with_default (req, "cluster", "default");
  const char *arn = json_object_get_string_member_with_default (req, "containerInstanceArn", NULL);
  g_autofree char *new_arn = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  if (ecs->missing_clusters && !g_hash_table_contains (ecs->clusters, cluster))
    {
      ecsa_test_ecs_reply_error (msg, 400, "ClusterNotFoundException", "Cluster not found.");
      return;
    }
  ecs->registrations++;
  if (arn == NULL)
    new_arn = g_strdup_printf ("arn:aws:ecs:" ECSA_TEST_REGION ":123456789012:container-instance/%s/%08x%08x", cluster,
                               g_random_int (), g_random_int ());
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "containerInstance");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "containerInstanceArn");
  json_builder_add_string_value (b, arn != NULL ? arn : new_arn);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "ACTIVE");
  json_builder_set_member_name (b, "agentConnected");
  json_builder_add_boolean_value (b, FALSE);
  if (!ecs->drop_attributes && json_object_has_member (req, "attributes"))
    {
      json_builder_set_member_name (b, "attributes");
      json_builder_add_value (b, json_node_copy (json_object_get_member (req, "attributes")));
    }
  if (json_object_has_member (req, "totalResources"))
    {
      json_builder_set_member_name (b, "registeredResources");
      json_builder_add_value (b, json_node_copy (json_object_get_member (req, "totalResources")));
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = to_json (root);
  ecsa_test_ecs_reply_json (msg, text);
}

static void
ecs_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcsaTestEcs *ecs = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *target = soup_message_headers_get_one (headers, "X-Amz-Target");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(EcsaSigv4Authorization) auth = NULL;
  EcsaTestEcsCall *call;
  JsonObject *req;
  GSocket *socket = soup_server_message_get_socket (msg);
  const char *op;

  if (socket != NULL)
    g_hash_table_add (ecs->sockets, g_object_ref (socket));

  if (strcmp (soup_server_message_get_method (msg), "POST") != 0)
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  if (!ecs->any_signature
      && !ecsa_sigv4_verify ("POST", g_uri_get_path (uri), g_uri_get_query (uri), headers, bytes, "ecs",
                             ecsa_test_secret_lookup, &ecs->session_token, g_get_real_time () / G_USEC_PER_SEC, NULL,
                             &error))
    {
      ecs->bad_signatures++;
      g_free (ecs->last_signature_error);
      ecs->last_signature_error = g_strdup (error->message);
      ecsa_test_ecs_reply_error (msg, 403, ecsa_sigv4_error_code (error), error->message);
      return;
    }
  if (target == NULL || !g_str_has_prefix (target, "AmazonEC2ContainerServiceV20141113."))
    {
      ecsa_test_ecs_reply_error (msg, 400, "UnknownOperationException", "bad X-Amz-Target");
      return;
    }
  op = target + strlen ("AmazonEC2ContainerServiceV20141113.");
  if (!json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes), NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      ecsa_test_ecs_reply_error (msg, 400, "SerializationException", "body is not a JSON object");
      return;
    }
  req = json_node_get_object (json_parser_get_root (parser));
  auth = ecsa_sigv4_authorization_parse (soup_message_headers_get_one (headers, "Authorization"), NULL);
  call = g_new0 (EcsaTestEcsCall, 1);
  call->op = g_strdup (op);
  call->body = json_node_ref (json_parser_get_root (parser));
  call->signed_headers = auth != NULL ? g_strjoinv (";", auth->signed_headers) : NULL;
  call->content_type = g_strdup (soup_message_headers_get_one (headers, "Content-Type"));
  call->user_agent = g_strdup (soup_message_headers_get_one (headers, "User-Agent"));
  g_ptr_array_add (ecs->calls, call);

  if (ecs->hook != NULL && ecs->hook (ecs, op, req, msg, ecs->hook_data))
    return;

  if (strcmp (op, "RegisterContainerInstance") == 0)
    ecs_register (ecs, req, msg);
  else if (strcmp (op, "CreateCluster") == 0)
    {
      const char *name = json_object_get_string_member_with_default (req, "clusterName", "default");
      g_autofree char *json = g_strdup_printf ("{\"cluster\":{\"clusterName\":\"%s\",\"clusterArn\":\"arn:aws:ecs:"
                                               ECSA_TEST_REGION ":123456789012:cluster/%s\",\"status\":\"ACTIVE\"}}",
                                               name, name);
      g_hash_table_add (ecs->clusters, g_strdup (name));
      ecsa_test_ecs_reply_json (msg, json);
    }
  else if (strcmp (op, "DiscoverPollEndpoint") == 0)
    {
      g_autofree char *json = ecs->tcs_endpoint != NULL
                                ? g_strdup_printf ("{\"endpoint\":\"%s\",\"telemetryEndpoint\":\"%s\"}",
                                                   ecs->acs_endpoint, ecs->tcs_endpoint)
                                : g_strdup_printf ("{\"endpoint\":\"%s\"}", ecs->acs_endpoint);
      ecsa_test_ecs_reply_json (msg, json);
    }
  else if (strcmp (op, "SubmitTaskStateChange") == 0 || strcmp (op, "SubmitContainerStateChange") == 0)
    ecsa_test_ecs_reply_json (msg, "{\"acknowledgment\":\"ACK\"}");
  else
    ecsa_test_ecs_reply_error (msg, 400, "UnknownOperationException", op);
}

EcsaTestEcs *
ecsa_test_ecs_new (gboolean tls, const char *cert_dir)
{
  EcsaTestEcs *ecs = g_new0 (EcsaTestEcs, 1);

  ecs->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) ecs_call_free);
  ecs->clusters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ecs->sockets = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  ecs->acs_endpoint = g_strdup ("https://ecs-a-1." ECSA_TEST_REGION ".amazonaws.com/");
  ecs->tcs_endpoint = g_strdup ("https://ecs-t-1." ECSA_TEST_REGION ".amazonaws.com/");
  ecs->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (ecs->server, NULL, ecs_handler, ecs, NULL);
  ecs->url = tls ? ecsa_test_server_listen_tls (ecs->server, cert_dir) : ecsa_test_server_listen (ecs->server);
  return ecs;
}

void
ecsa_test_ecs_free (EcsaTestEcs *ecs)
{
  if (ecs == NULL)
    return;
  soup_server_disconnect (ecs->server);
  g_object_unref (ecs->server);
  g_ptr_array_unref (ecs->calls);
  g_hash_table_unref (ecs->clusters);
  g_hash_table_unref (ecs->sockets);
  g_free (ecs->acs_endpoint);
  g_free (ecs->tcs_endpoint);
  g_free (ecs->last_signature_error);
  g_free (ecs->url);
  g_free (ecs);
}

guint
ecsa_test_ecs_count_connections (EcsaTestEcs *ecs)
{
  return g_hash_table_size (ecs->sockets);
}

guint
ecsa_test_ecs_count (EcsaTestEcs *ecs, const char *op)
{
  guint n = 0;

  for (guint i = 0; i < ecs->calls->len; i++)
    if (strcmp (((EcsaTestEcsCall *) g_ptr_array_index (ecs->calls, i))->op, op) == 0)
      n++;
  return n;
}

EcsaTestEcsCall *
ecsa_test_ecs_call (EcsaTestEcs *ecs, const char *op, guint n)
{
  for (guint i = 0; i < ecs->calls->len; i++)
    {
      EcsaTestEcsCall *call = g_ptr_array_index (ecs->calls, i);
      if (strcmp (call->op, op) == 0 && n-- == 0)
        return call;
    }
  return NULL;
}

/* ---- ACS / TCS websockets ------------------------------------------------------------------ */

static void
frame_free (EcsaTestFrame *frame)
{
  g_free (frame->type);
  g_clear_pointer (&frame->message, json_object_unref);
  g_free (frame->raw);
  g_free (frame->frame_headers);
  g_free (frame);
}

static gboolean
verify_tcs_frame (EcsaTestWs *ws, const char *text, gsize len, const char **out_json, char **out_headers)
{
  const char *sep = g_strstr_len (text, (gssize) len, "\r\n\r\n");
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  g_autofree char *block = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  if (sep == NULL)
    {
      g_free (ws->last_signature_error);
      ws->last_signature_error = g_strdup ("no header block");
      return FALSE;
    }
  block = g_strndup (text, (gsize) (sep - text));
  *out_headers = g_strdup (block);
  *out_json = sep + 4;
  lines = g_strsplit (block, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      soup_message_headers_append (headers, lines[i], g_strstrip (colon + 1));
    }
  body = g_bytes_new (*out_json, len - (gsize) (*out_json - text));
  if (!ecsa_sigv4_verify ("GET", ws->path, ws->query, headers, body, "ecs", ecsa_test_secret_lookup,
                          &ws->session_token, g_get_real_time () / G_USEC_PER_SEC, NULL, &error))
    {
      g_free (ws->last_signature_error);
      ws->last_signature_error = g_strdup (error->message);
      return FALSE;
    }
  return TRUE;
}

static void
ws_message_cb (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  EcsaTestWs *ws = user_data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);
  const char *json = text;
  EcsaTestFrame *frame = g_new0 (EcsaTestFrame, 1);
  g_autoptr(JsonParser) parser = json_parser_new ();

  frame->raw = g_strndup (text, len);
  frame->connection = ws->connections;
  if (ws->tcs)
    {
      frame->signature_ok = verify_tcs_frame (ws, frame->raw, len, &json, &frame->frame_headers);
      if (!frame->signature_ok)
        ws->bad_signatures++;
    }
  if (json_parser_load_from_data (parser, json, -1, NULL) && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      JsonNode *m = json_object_get_member (o, "message");

      frame->type = g_strdup (json_object_get_string_member_with_default (o, "type", ""));
      frame->message = m != NULL && JSON_NODE_HOLDS_OBJECT (m) ? json_object_ref (json_node_get_object (m))
                                                               : json_object_new ();
    }
  else
    {
      frame->type = g_strdup ("");
      frame->message = json_object_new ();
    }
  g_ptr_array_add (ws->frames, frame);
}

static void
ws_closed_cb (SoupWebsocketConnection *conn, gpointer user_data)
{
  EcsaTestWs *ws = user_data;

  ws->closed++;
  if (ws->conn == conn)
    g_clear_object (&ws->conn);
}

static void
ws_connected_cb (SoupServer *server, SoupServerMessage *msg, const char *path, SoupWebsocketConnection *connection,
                 gpointer user_data)
{
  EcsaTestWs *ws = user_data;
  gint64 now = g_get_monotonic_time ();

  if (ws->conn != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws->conn, ws);
      g_clear_object (&ws->conn);
    }
  ws->conn = g_object_ref (connection);
  ws->connections++;
  g_array_append_val (ws->connect_times, now);
  g_free (ws->path);
  ws->path = g_strdup (g_uri_get_path (soup_server_message_get_uri (msg)));
  g_free (ws->query);
  ws->query = g_strdup (g_uri_get_query (soup_server_message_get_uri (msg)));
  g_object_set (connection, "max-incoming-payload-size", (guint64) 16 * 1024 * 1024, NULL);
  g_signal_connect (connection, "message", G_CALLBACK (ws_message_cb), ws);
  g_signal_connect (connection, "closed", G_CALLBACK (ws_closed_cb), ws);
}

static GHashTable *
decode_query (const char *query)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) pairs = g_strsplit (query != NULL ? query : "", "&", -1);

  for (guint i = 0; pairs[i] != NULL; i++)
    {
      char *eq = strchr (pairs[i], '=');
      g_autofree char *k = NULL;
      g_autofree char *v = NULL;

      if (eq == NULL)
        continue;
      *eq = '\0';
      g_strdelimit (pairs[i], "+", ' ');
      g_strdelimit (eq + 1, "+", ' ');
      k = g_uri_unescape_string (pairs[i], NULL);
      v = g_uri_unescape_string (eq + 1, NULL);
      if (k != NULL && v != NULL)
        g_hash_table_replace (table, g_steal_pointer (&k), g_steal_pointer (&v));
    }
  return table;
}

static gboolean
other_secret_lookup (const char *access_key_id, char **out_secret, char **out_token, gpointer user_data)
{
  if (!ecsa_test_secret_lookup (access_key_id, out_secret, out_token, user_data))
    return FALSE;
  g_free (*out_secret);
  *out_secret = g_strdup ("some-other-secret");
  return TRUE;
}

static void
ws_early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcsaTestWs *ws = user_data;
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaSigv4Authorization) auth = NULL;

  ws->handshakes++;
  if (ws->refuse_status != 0)
    {
      const char *body = ws->refuse_body != NULL ? ws->refuse_body : "";
      guint status = ws->refuse_status;

      if (ws->refuse_count > 0 && --ws->refuse_count == 0)
        ws->refuse_status = 0;
      soup_server_message_set_status (msg, status, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
      return;
    }
  if (!ecsa_sigv4_verify ("GET", g_uri_get_path (uri), g_uri_get_query (uri), headers, NULL, "ecs",
                          ws->other_secret ? other_secret_lookup : ecsa_test_secret_lookup, &ws->session_token,
                          g_get_real_time () / G_USEC_PER_SEC, NULL, &error))
    {
      ws->bad_signatures++;
      g_free (ws->last_signature_error);
      ws->last_signature_error = g_strdup (error->message);
      soup_server_message_set_status (msg, 403, NULL);
      return;
    }
  auth = ecsa_sigv4_authorization_parse (soup_message_headers_get_one (headers, "Authorization"), NULL);
  g_ptr_array_add (ws->signed_headers, auth != NULL ? g_strjoinv (";", auth->signed_headers) : g_strdup (""));
  g_ptr_array_add (ws->queries, decode_query (g_uri_get_query (uri)));
  g_ptr_array_add (ws->raw_queries, g_strdup (g_uri_get_query (uri)));
}

EcsaTestWs *
ecsa_test_ws_new (gboolean tcs, gboolean tls, const char *cert_dir)
{
  EcsaTestWs *ws = g_new0 (EcsaTestWs, 1);

  ws->tcs = tcs;
  ws->queries = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  ws->raw_queries = g_ptr_array_new_with_free_func (g_free);
  ws->signed_headers = g_ptr_array_new_with_free_func (g_free);
  ws->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  ws->connect_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  ws->server = soup_server_new (NULL, NULL);
  soup_server_add_early_handler (ws->server, "/ws", ws_early_handler, ws, NULL);
  soup_server_add_websocket_handler (ws->server, "/ws", NULL, NULL, ws_connected_cb, ws, NULL);
  {
    g_autofree char *base = tls ? ecsa_test_server_listen_tls (ws->server, cert_dir) : ecsa_test_server_listen (ws->server);
    ws->url = g_strconcat (base, "/", NULL);
  }
  return ws;
}

void
ecsa_test_ws_free (EcsaTestWs *ws)
{
  if (ws == NULL)
    return;
  if (ws->conn != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws->conn, ws);
      if (soup_websocket_connection_get_state (ws->conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (ws->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&ws->conn);
    }
  soup_server_disconnect (ws->server);
  g_object_unref (ws->server);
  g_ptr_array_unref (ws->queries);
  g_ptr_array_unref (ws->raw_queries);
  g_ptr_array_unref (ws->signed_headers);
  g_ptr_array_unref (ws->frames);
  g_array_unref (ws->connect_times);
  g_free (ws->refuse_body);
  g_free (ws->last_signature_error);
  g_free (ws->path);
  g_free (ws->query);
  g_free (ws->url);
  g_free (ws);
}

void
ecsa_test_ws_send_raw (EcsaTestWs *ws, const char *text)
{
  g_assert_nonnull (ws->conn);
  soup_websocket_connection_send_text (ws->conn, text);
}

void
ecsa_test_ws_send (EcsaTestWs *ws, const char *type, const char *message_json)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"%s\",\"message\":%s}", type, message_json);

  ecsa_test_ws_send_raw (ws, text);
}

void
ecsa_test_ws_close (EcsaTestWs *ws, gushort code)
{
  g_assert_nonnull (ws->conn);
  soup_websocket_connection_close (ws->conn, code, NULL);
}

gboolean
ecsa_test_guard_cb (gpointer what)
{
  g_error ("test guard timeout waiting for: %s", (const char *) what);
  return G_SOURCE_REMOVE;
}

#define WAIT_UNTIL(cond, timeout_ms, what)                                                                          \
  G_STMT_START                                                                                                      \
  {                                                                                                                 \
    GSource *guard_ = g_timeout_source_new (timeout_ms);                                                            \
    g_source_set_callback (guard_, ecsa_test_guard_cb, (gpointer) (what), NULL);                                       \
    g_source_attach (guard_, NULL);                                                                                 \
    while (!(cond))                                                                                                 \
      g_main_context_iteration (NULL, TRUE);                                                                        \
    g_source_destroy (guard_);                                                                                      \
    g_source_unref (guard_);                                                                                        \
  }                                                                                                                 \
  G_STMT_END

void
ecsa_test_ws_wait_connections (EcsaTestWs *ws, guint n, guint timeout_ms)
{
  WAIT_UNTIL (ws->connections >= n, timeout_ms, "waiting for websocket connections");
}

void
ecsa_test_ws_wait_closed (EcsaTestWs *ws, guint n, guint timeout_ms)
{
  WAIT_UNTIL (ws->closed >= n, timeout_ms, "waiting for websocket closes");
}

guint
ecsa_test_ws_count (EcsaTestWs *ws, const char *type)
{
  guint n = 0;

  for (guint i = 0; i < ws->frames->len; i++)
    if (g_strcmp0 (((EcsaTestFrame *) g_ptr_array_index (ws->frames, i))->type, type) == 0)
      n++;
  return n;
}

static EcsaTestFrame *
nth_frame (EcsaTestWs *ws, const char *type, guint n)
{
  for (guint i = 0; i < ws->frames->len; i++)
    {
      EcsaTestFrame *f = g_ptr_array_index (ws->frames, i);
      if (g_strcmp0 (f->type, type) == 0 && n-- == 0)
        return f;
    }
  return NULL;
}

EcsaTestFrame *
ecsa_test_ws_wait_frame (EcsaTestWs *ws, const char *type, guint n, guint timeout_ms)
{
  WAIT_UNTIL (nth_frame (ws, type, n) != NULL, timeout_ms, type);
  return nth_frame (ws, type, n);
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsa_test_acs_run_for (guint ms)
{
  gboolean done = FALSE;
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, flag_cb, &done, NULL);
  g_source_attach (source, NULL);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  g_source_unref (source);
}
