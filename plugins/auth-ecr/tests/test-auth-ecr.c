/* test-auth-ecr.c: ECR GetAuthorizationToken against a fake on loopback that verifies the SigV4
 * signature: instance and execution-role credentials, the token cache (its key, expiry and
 * invalidation), shared requests, error classes, retries, cancellation; no secret in any log line.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

#include "ecsa-sigv4.h"

#include <gio/gio.h>
#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_auth_ecr_get_descriptor (void);

#define REGION "us-west-2"
#define REGISTRY "123456789012"
#define IMAGE REGISTRY ".dkr.ecr." REGION ".amazonaws.com/app:1"
#define INSTANCE_KEY "AKIDINSTANCE"
#define INSTANCE_SECRET "instance-secret-k3y"
#define INSTANCE_TOKEN "instance-session-t0ken"
#define EXEC_KEY "AKIDEXECUTION"
#define EXEC_SECRET "execution-secret-k3y"
#define EXEC_TOKEN "execution-session-t0ken"
#define EXEC_ROLE "arn:aws:iam::123456789012:role/exec"

typedef enum
{
  ANSWER_TOKEN,
  ANSWER_ACCESS_DENIED,
  ANSWER_SERVER_ERROR,
  ANSWER_SERVER_ERROR_ONCE,
  ANSWER_INVALID_PARAMETER,
  ANSWER_EMPTY,
  ANSWER_BAD_TOKEN,
} Answer;

/* What the fake answers; read in the server's thread. */
typedef struct
{
  GMutex lock;
  Answer answer;
  gint64 expires_in; /* seconds */
  guint served;
  guint bad_signatures;
  GHashTable *secrets; /* access key -> secret */
} Fake;

static void
fake_handler (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type, GBytes **out_body,
              gpointer user_data)
{
  Fake *fake = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *access_key = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *password = NULL;
  g_autofree char *token = NULL;
  g_autofree char *body = NULL;
  const char *registry = "";
  JsonObject *in;
  JsonArray *ids;
  Answer answer;

  g_mutex_lock (&fake->lock);
  answer = fake->answer;
  if (answer == ANSWER_SERVER_ERROR_ONCE)
    fake->answer = ANSWER_TOKEN;
  fake->served++;
  g_mutex_unlock (&fake->lock);

  if (!ecsa_test_sigv4_verify (req->method, req->path, req->query, req->headers, req->body, fake->secrets,
                               &access_key, &scope, &error))
    {
      g_mutex_lock (&fake->lock);
      fake->bad_signatures++;
      g_mutex_unlock (&fake->lock);
      *out_status = 403;
      body = g_strdup_printf ("{\"__type\":\"%s\",\"message\":\"%s\"}", ecsa_sigv4_error_code (error),
                              error->message);
      *out_body = g_bytes_new (body, strlen (body));
      return;
    }
  if (g_strcmp0 (soup_message_headers_get_one (req->headers, "X-Amz-Target"),
                 "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken") != 0
      || !g_str_has_suffix (scope, "/" REGION "/ecr/aws4_request")
      || g_strcmp0 (soup_message_headers_get_content_type (req->headers, NULL), "application/x-amz-json-1.1") != 0
      || !json_parser_load_from_data (parser, g_bytes_get_data (req->body, NULL), (gssize) g_bytes_get_size (req->body),
                                      NULL))
    {
      *out_status = 400;
      *out_body = g_bytes_new_static ("{\"__type\":\"SerializationException\"}", 35);
      return;
    }
  in = json_node_get_object (json_parser_get_root (parser));
  ids = json_object_has_member (in, "registryIds") ? json_object_get_array_member (in, "registryIds") : NULL;
  if (ids != NULL && json_array_get_length (ids) == 1)
    registry = json_array_get_string_element (ids, 0);

  switch (answer)
    {
    case ANSWER_ACCESS_DENIED:
      *out_status = 400;
      body = g_strdup ("{\"__type\":\"AccessDeniedException\",\"message\":\"User: arn:aws:sts::123456789012:assumed-"
                       "role/r is not authorized to perform: ecr:GetAuthorizationToken\"}");
      break;
    case ANSWER_SERVER_ERROR:
    case ANSWER_SERVER_ERROR_ONCE:
      *out_status = 500;
      body = g_strdup ("{\"__type\":\"ServerException\",\"message\":\"try later\"}");
      break;
    case ANSWER_INVALID_PARAMETER:
      *out_status = 400;
      body = g_strdup ("{\"__type\":\"com.amazonaws.ecr#InvalidParameterException\",\"message\":\"bad registry id\"}");
      break;
    case ANSWER_EMPTY:
      *out_status = 200;
      body = g_strdup ("{\"authorizationData\":[]}");
      break;
    case ANSWER_BAD_TOKEN:
      *out_status = 200;
      body = g_strdup_printf ("{\"authorizationData\":[{\"authorizationToken\":\"bm9jb2xvbg==\",\"expiresAt\":%" G_GINT64_FORMAT
                              ",\"proxyEndpoint\":\"https://%s.dkr.ecr." REGION ".amazonaws.com\"}]}",
                              g_get_real_time () / G_USEC_PER_SEC + 3600, registry);
      break;
    case ANSWER_TOKEN:
    default:
      /* the password names who asked, so tests can tell tokens apart */
      password = g_strdup_printf ("pw-%s-%s-%u", access_key, registry, fake->served);
      {
        g_autofree char *plain = g_strdup_printf ("AWS:%s", password);
        token = g_base64_encode ((const guchar *) plain, strlen (plain));
      }
      *out_status = 200;
      body = g_strdup_printf ("{\"authorizationData\":[{\"authorizationToken\":\"%s\",\"expiresAt\":%.3f,"
                              "\"proxyEndpoint\":\"https://%s.dkr.ecr." REGION ".amazonaws.com\"}]}",
                              token, (double) (g_get_real_time () / G_USEC_PER_SEC + fake->expires_in) + 0.25,
                              *registry != '\0' ? registry : REGISTRY);
      break;
    }
  *out_content_type = g_strdup ("application/x-amz-json-1.1");
  *out_body = g_bytes_new_take (body, strlen (body));
  body = NULL;
}

typedef struct
{
  EcsaTestHost *host;
  EcsaTestPlugin *plugin;
  Fake fake;
  EcsaTestHttpServer *server;
  char *endpoint;
  EcsaAwsCredentials exec;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_mutex_init (&fx->fake.lock);
  fx->fake.answer = ANSWER_TOKEN;
  fx->fake.expires_in = 12 * 3600;
  fx->fake.secrets = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (fx->fake.secrets, INSTANCE_KEY, INSTANCE_SECRET "\n" INSTANCE_TOKEN);
  g_hash_table_insert (fx->fake.secrets, EXEC_KEY, EXEC_SECRET "\n" EXEC_TOKEN);
  g_hash_table_insert (fx->fake.secrets, "AKIDOTHER", EXEC_SECRET "\n" EXEC_TOKEN);
  fx->server = ecsa_test_http_server_new (0, NULL, NULL, fake_handler, &fx->fake);
  fx->endpoint = ecsa_test_http_server_get_url (fx->server);

  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_region (fx->host, REGION);
  ecsa_test_host_set_instance_credentials (fx->host, INSTANCE_KEY, INSTANCE_SECRET, INSTANCE_TOKEN);
  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_ecr_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);

  fx->exec.struct_size = sizeof (EcsaAwsCredentials);
  fx->exec.access_key_id = EXEC_KEY;
  fx->exec.secret_access_key = EXEC_SECRET;
  fx->exec.session_token = EXEC_TOKEN;
  fx->exec.role_arn = EXEC_ROLE;
}

static void test_no_secret_logged (void);

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  test_no_secret_logged ();
  ecsa_test_plugin_free (fx->plugin);
  ecsa_test_host_free (fx->host);
  ecsa_test_http_server_free (fx->server);
  g_hash_table_unref (fx->fake.secrets);
  g_mutex_clear (&fx->fake.lock);
  g_free (fx->endpoint);
}

static void
set_answer (Fixture *fx, Answer answer)
{
  g_mutex_lock (&fx->fake.lock);
  fx->fake.answer = answer;
  g_mutex_unlock (&fx->fake.lock);
}

static EcsaAuthRequest
request (Fixture *fx, const char *image, const char *registry_id, gboolean exec)
{
  EcsaAuthRequest req = {
    .struct_size = sizeof (EcsaAuthRequest),
    .use_execution_role = exec,
    .image = image,
    .registry = "",
    .auth_type = "ecr",
    .ecr_registry_id = registry_id,
    .ecr_region = REGION,
    .ecr_endpoint_override = fx->endpoint,
    .execution_credentials = exec ? &fx->exec : NULL,
  };
  return req;
}

static EcsaRegistryCredentials *
get_ok (Fixture *fx, const EcsaAuthRequest *req)
{
  g_autoptr(GError) error = NULL;
  EcsaRegistryCredentials *c = ecsa_test_get_credentials (fx->plugin, req, &error);

  g_assert_no_error (error);
  g_assert_nonnull (c);
  return c;
}

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_auth_ecr_get_descriptor (), ECSA_PLUGIN_KIND_REGISTRY_AUTH, "ecr",
                              (const char *const[]){ "com.amazonaws.ecs.capability.ecr-auth",
                                                     "ecs.capability.execution-role-ecr-pull", NULL });
}

static void
test_instance_credentials (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(EcsaRegistryCredentials) c = get_ok (fx, &req);
  g_autoptr(EcsaTestHttpRequest) sent = NULL;
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *text = NULL;

  g_assert_cmpstr (c->username, ==, "AWS");
  g_assert_cmpstr (c->password, ==, "pw-" INSTANCE_KEY "-" REGISTRY "-1");
  g_assert_cmpstr (c->server_address, ==, "https://" REGISTRY ".dkr.ecr." REGION ".amazonaws.com");
  g_assert_cmpuint (fx->host->aws_credentials_calls, ==, 1);
  g_assert_cmpuint (fx->fake.bad_signatures, ==, 0);
  sent = ecsa_test_http_server_get (fx->server, 0);
  g_assert_cmpstr (sent->method, ==, "POST");
  g_assert_cmpstr (sent->path, ==, "/");
  g_assert_cmpstr (soup_message_headers_get_one (sent->headers, "X-Amz-Security-Token"), ==, INSTANCE_TOKEN);
  body = json_from_string (g_bytes_get_data (sent->body, NULL), NULL);
  text = json_to_string (body, FALSE);
  g_assert_cmpstr (text, ==, "{\"registryIds\":[\"" REGISTRY "\"]}");
}

static void
test_default_registry (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, "", FALSE);
  g_autoptr(EcsaRegistryCredentials) c = get_ok (fx, &req);
  g_autoptr(EcsaTestHttpRequest) sent = ecsa_test_http_server_get (fx->server, 0);

  g_assert_cmpmem (g_bytes_get_data (sent->body, NULL), g_bytes_get_size (sent->body), "{}", 2);
}

static void
test_execution_role (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, TRUE);
  g_autoptr(EcsaRegistryCredentials) c = get_ok (fx, &req);
  g_autoptr(EcsaTestHttpRequest) sent = ecsa_test_http_server_get (fx->server, 0);

  g_assert_cmpstr (c->password, ==, "pw-" EXEC_KEY "-" REGISTRY "-1");
  g_assert_cmpuint (fx->host->aws_credentials_calls, ==, 0);
  g_assert_cmpstr (soup_message_headers_get_one (sent->headers, "X-Amz-Security-Token"), ==, EXEC_TOKEN);
  g_assert_cmpuint (fx->host->sigv4_calls, ==, 1);
}

static void
test_execution_role_missing (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  req.execution_credentials = NULL;
  c = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_null (c);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "the task has no execution role credentials"));
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 0);
}

static void
test_missing_region (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  req.ecr_region = "";
  c = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "no ecrAuthData region"));
}

static void
test_cache (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  EcsaAuthRequest other_image = request (fx, REGISTRY ".dkr.ecr." REGION ".amazonaws.com/other:2", REGISTRY, FALSE);
  g_autoptr(EcsaRegistryCredentials) a = get_ok (fx, &req);
  g_autoptr(EcsaRegistryCredentials) b = get_ok (fx, &req);
  g_autoptr(EcsaRegistryCredentials) c = get_ok (fx, &other_image);

  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 1);
  g_assert_cmpstr (a->password, ==, b->password);
  g_assert_cmpstr (a->password, ==, c->password);
}

/* The key is (execution role, region, registry, endpoint): each part gets its own token. */
static void
test_cache_key (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest instance = request (fx, IMAGE, REGISTRY, FALSE);
  EcsaAuthRequest exec = request (fx, IMAGE, REGISTRY, TRUE);
  EcsaAuthRequest other_registry = request (fx, "210987654321.dkr.ecr." REGION ".amazonaws.com/app", "210987654321",
                                            FALSE);
  EcsaAwsCredentials other_role = fx->exec;
  g_autoptr(EcsaRegistryCredentials) c1 = get_ok (fx, &instance);
  g_autoptr(EcsaRegistryCredentials) c2 = get_ok (fx, &exec);
  g_autoptr(EcsaRegistryCredentials) c3 = get_ok (fx, &other_registry);
  g_autoptr(EcsaRegistryCredentials) c4 = NULL;
  g_autoptr(EcsaRegistryCredentials) c5 = NULL;
  g_autoptr(EcsaRegistryCredentials) c6 = NULL;

  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 3);
  g_assert_cmpstr (c1->password, !=, c2->password);

  /* another task with the same execution role shares the token (as v1.16.2) */
  other_role.access_key_id = "AKIDOTHER";
  exec.execution_credentials = &other_role;
  c4 = get_ok (fx, &exec);
  g_assert_cmpstr (c4->password, ==, c2->password);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 3);

  /* a different role does not */
  other_role.role_arn = "arn:aws:iam::123456789012:role/other";
  c5 = get_ok (fx, &exec);
  g_assert_cmpstr (c5->password, !=, c2->password);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 4);

  /* nor a different endpoint (same server, another spelling of its URL) */
  {
    g_autofree char *endpoint = g_strconcat (fx->endpoint, "/", NULL);
    instance.ecr_endpoint_override = endpoint;
    c6 = get_ok (fx, &instance);
  }
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 5);
}

/* A token that expires within the refresh margin (30 to 60 min) is used once, not cached. */
static void
test_expiry (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(EcsaRegistryCredentials) a = NULL;
  g_autoptr(EcsaRegistryCredentials) b = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  fx->fake.expires_in = 20 * 60;
  a = get_ok (fx, &req);
  b = get_ok (fx, &req);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 2);
  g_assert_cmpstr (a->password, !=, b->password);
  fx->fake.expires_in = 61 * 60;
  c = get_ok (fx, &req);
  g_clear_pointer (&c, ecsa_registry_credentials_free);
  c = get_ok (fx, &req);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 3);
}

static void
test_invalidate (Fixture *fx, gconstpointer data)
{
  const EcsaRegistryAuthVTable *vt = fx->plugin->desc->vtable;
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(EcsaRegistryCredentials) a = get_ok (fx, &req);
  g_autoptr(EcsaRegistryCredentials) b = NULL;

  vt->invalidate (fx->plugin->state, &req);
  b = get_ok (fx, &req);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 2);
  g_assert_cmpstr (a->password, !=, b->password);
  g_assert_true (ecsa_test_log_contains ("dropped the cached ECR token"));
}

typedef struct
{
  gboolean done;
  EcsaRegistryCredentials *creds;
  GError *error;
  const EcsaRegistryAuthVTable *vt; /* the plugin itself may be gone (shut down) when this completes */
} Pending;

static void
pending_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;

  p->creds = p->vt->get_credentials_finish (NULL, result, &p->error);
  p->done = TRUE;
}

/* Pulls that need the same token at once share one request. */
static void
test_shared_request (Fixture *fx, gconstpointer data)
{
  const EcsaRegistryAuthVTable *vt = fx->plugin->desc->vtable;
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  Pending p[3] = { { 0 } };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (p); i++)
    {
      p[i].vt = vt;
      vt->get_credentials_async (fx->plugin->state, &req, NULL, pending_cb, &p[i]);
    }
  for (i = 0; i < G_N_ELEMENTS (p); i++)
    {
      ecsa_test_wait (&p[i].done, 30000, "shared GetAuthorizationToken");
      g_assert_no_error (p[i].error);
      g_assert_cmpstr (p[i].creds->password, ==, "pw-" INSTANCE_KEY "-" REGISTRY "-1");
      ecsa_registry_credentials_free (p[i].creds);
    }
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 1);
}

static void
check_error (Fixture *fx, Answer answer, int code, const char *fragment, guint expected_requests)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  set_answer (fx, answer);
  c = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_null (c);
  g_assert_error (error, ECSA_ERROR, code);
  g_test_message ("%s", error->message);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' lacks '%s'", error->message, fragment);
  g_assert_true (g_str_has_prefix (error->message, "GetAuthorizationToken for registry '" REGISTRY "' in '"
                                                   REGION "'"));
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, expected_requests);
}

static void
test_access_denied (Fixture *fx, gconstpointer data)
{
  check_error (fx, ANSWER_ACCESS_DENIED, ECSA_ERROR_AUTH,
               "HTTP 400 AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/r is not authorized", 1);
}

static void
test_server_error_retried (Fixture *fx, gconstpointer data)
{
  check_error (fx, ANSWER_SERVER_ERROR, ECSA_ERROR_RETRY, "HTTP 500 ServerException: try later", 3);
}

static void
test_server_error_once (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  set_answer (fx, ANSWER_SERVER_ERROR_ONCE);
  c = get_ok (fx, &req);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 2);
  g_assert_true (ecsa_test_log_contains ("retrying in 250 ms"));
}

static void
test_invalid_parameter (Fixture *fx, gconstpointer data)
{
  check_error (fx, ANSWER_INVALID_PARAMETER, ECSA_ERROR_INVALID_DATA, "InvalidParameterException: bad registry id", 1);
}

static void
test_empty_answer (Fixture *fx, gconstpointer data)
{
  check_error (fx, ANSWER_EMPTY, ECSA_ERROR_INVALID_DATA, "unexpected number of results in authorizationData (0)", 1);
}

static void
test_bad_token (Fixture *fx, gconstpointer data)
{
  check_error (fx, ANSWER_BAD_TOKEN, ECSA_ERROR_INVALID_DATA, "authorizationToken is not base64 of 'user:password'", 1);
}

static void
test_bad_signature (Fixture *fx, gconstpointer data)
{
  ecsa_test_host_set_instance_credentials (fx->host, INSTANCE_KEY, "not-the-secret", INSTANCE_TOKEN);
  check_error (fx, ANSWER_TOKEN, ECSA_ERROR_AUTH, "InvalidSignatureException", 1);
  g_assert_cmpuint (fx->fake.bad_signatures, ==, 1);
}

static void
test_no_instance_credentials (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  ecsa_test_host_set_instance_credentials (fx->host, NULL, NULL, NULL);
  c = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "instance credentials: no instance credentials"));
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 0);
}

/* A token is handed out only for images under its proxyEndpoint. */
static void
test_proxy_endpoint_mismatch (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = request (fx, "evil.example.com/" REGISTRY ".dkr.ecr." REGION ".amazonaws.com/app", REGISTRY,
                                 FALSE);
  EcsaAuthRequest prefix = request (fx, REGISTRY ".dkr.ecr." REGION ".amazonaws.com.evil.example/app", REGISTRY,
                                    FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autoptr(EcsaRegistryCredentials) c = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_autoptr(EcsaRegistryCredentials) c2 = ecsa_test_get_credentials (fx->plugin, &prefix, &error2);

  g_assert_null (c);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "does not serve image 'evil.example.com/"));
  g_assert_null (c2);
  g_assert_error (error2, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
}

/* A server that accepts and never answers: a waiter's cancellation ends its wait at once, and
 * shutdown ends the request. */
static void
test_cancel (Fixture *fx, gconstpointer data)
{
  const EcsaRegistryAuthVTable *vt = fx->plugin->desc->vtable;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GInetAddress) lo = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *endpoint = NULL;
  EcsaAuthRequest req = request (fx, IMAGE, REGISTRY, FALSE);
  Pending a = { .vt = vt };
  Pending b = { .vt = vt };

  g_assert_true (g_socket_listener_add_address (listener, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &bound, &error));
  g_assert_no_error (error);
  endpoint = g_strdup_printf ("http://127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  req.ecr_endpoint_override = endpoint;

  vt->get_credentials_async (fx->plugin->state, &req, cancellable, pending_cb, &a);
  vt->get_credentials_async (fx->plugin->state, &req, NULL, pending_cb, &b);
  g_cancellable_cancel (cancellable);
  ecsa_test_wait (&a.done, 5000, "cancelled GetAuthorizationToken");
  g_assert_error (a.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&a.error);
  g_assert_false (b.done);

  ecsa_test_plugin_free (g_steal_pointer (&fx->plugin));
  ecsa_test_wait (&b.done, 5000, "GetAuthorizationToken at shutdown");
  g_assert_error (b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&b.error);
}

static void
test_no_secret_logged (void)
{
  const char *const secrets[] = { INSTANCE_SECRET, INSTANCE_TOKEN, EXEC_SECRET, EXEC_TOKEN, "pw-AKID", NULL };
  guint i;

  for (i = 0; secrets[i] != NULL; i++)
    ecsa_test_assert_no_secret (secrets[i]);
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/auth-ecr/descriptor", test_descriptor);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/auth-ecr/instance-credentials", test_instance_credentials);
  ADD ("/auth-ecr/default-registry", test_default_registry);
  ADD ("/auth-ecr/execution-role", test_execution_role);
  ADD ("/auth-ecr/execution-role-missing", test_execution_role_missing);
  ADD ("/auth-ecr/missing-region", test_missing_region);
  ADD ("/auth-ecr/cache/hit", test_cache);
  ADD ("/auth-ecr/cache/key", test_cache_key);
  ADD ("/auth-ecr/cache/expiry", test_expiry);
  ADD ("/auth-ecr/cache/invalidate", test_invalidate);
  ADD ("/auth-ecr/shared-request", test_shared_request);
  ADD ("/auth-ecr/errors/access-denied", test_access_denied);
  ADD ("/auth-ecr/errors/server-error-retried", test_server_error_retried);
  ADD ("/auth-ecr/errors/server-error-once", test_server_error_once);
  ADD ("/auth-ecr/errors/invalid-parameter", test_invalid_parameter);
  ADD ("/auth-ecr/errors/empty-answer", test_empty_answer);
  ADD ("/auth-ecr/errors/bad-token", test_bad_token);
  ADD ("/auth-ecr/errors/bad-signature", test_bad_signature);
  ADD ("/auth-ecr/errors/no-instance-credentials", test_no_instance_credentials);
  ADD ("/auth-ecr/errors/proxy-endpoint-mismatch", test_proxy_endpoint_mismatch);
  ADD ("/auth-ecr/cancel", test_cancel);
  g_test_add_func ("/auth-ecr/zz/no-secret-logged", test_no_secret_logged);
  return g_test_run ();
}
