/* test-credentials-server.c: the credentials endpoint on loopback with real clients on this host:
 * libsoup, raw sockets, botocore's container provider (AWS_CONTAINER_CREDENTIALS_FULL_URI) and a
 * non-root process. v1.16.2's codes and bodies, the 503 of expected IDs, the audit log, and no secret
 * in any log line. (Containers and the 169.254.170.2 redirect: test-credentials-docker.c.)
 * SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <unistd.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-credentials-server.h"
#include "ecsa-log.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define TASK_A "arn:aws:ecs:us-west-2:123456789012:task/aaaaaaaa-1111-2222-3333-444444444444"
#define TASK_B "arn:aws:ecs:us-west-2:123456789012:task/bbbbbbbb-1111-2222-3333-444444444444"
#define ID_A "0d5b7c4e-aaaa-4c1b-9e3f-2a7d9c1e5f10"
#define ID_A_EXEC "7f3e2d1c-aaaa-4b5a-8c9d-0e1f2a3b4c5d"
#define ID_B "0d5b7c4e-bbbb-4c1b-9e3f-2a7d9c1e5f10"
#define CLUSTER "ecsa-test-cluster"
#define INSTANCE_ARN "arn:aws:ecs:us-west-2:123456789012:container-instance/ecsa-test-instance"
#define TIMEOUT_MS 20000

typedef struct
{
  char *dir;
  char *audit_path;
  EcsaCredentialsManager *manager;
  EcsaAuditLog *audit;
  EcsaTestTasks *tasks;
  EcsaCredentialsServer *server;
  guint16 port;
  GString *log;
} Fixture;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  GString *log = user_data;

  g_string_append(log, line);
  g_string_append_c(log, '\n');
}

static void
add_credentials(Fixture *fx, const char *id, const char *seed, const char *task_arn, const char *role)
{
  g_autofree char *json = ecsa_test_iam_credentials_json(id, seed);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data(parser, json, -1, &error);
  g_assert_no_error(error);
  g_assert_true(ecsa_credentials_manager_set_from_acs(fx->manager, json_node_get_object(json_parser_get_root(parser)),
                                                      task_arn, role, &error));
  g_assert_no_error(error);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->log = g_string_new(NULL);
  ecsa_log_set_capture(capture_cb, fx->log);
  ecsa_log_set_level(ECSA_LOG_DEBUG);

  fx->dir = ecsa_test_mkdtemp();
  fx->audit_path = g_build_filename(fx->dir, "log", "audit.log", NULL);
  fx->manager = ecsa_credentials_manager_new();
  fx->audit = ecsa_audit_log_new(fx->audit_path, FALSE, CLUSTER);
  ecsa_audit_log_set_container_instance_arn(fx->audit, INSTANCE_ARN);
  fx->tasks = ecsa_test_tasks_new();
  ecsa_test_tasks_add(fx->tasks, TASK_A, "family-a", "3", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials(fx->tasks, TASK_A, ID_A, ID_A_EXEC);
  ecsa_test_tasks_add(fx->tasks, TASK_B, "family-b", "1", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials(fx->tasks, TASK_B, ID_B, NULL);
  add_credentials(fx, ID_A, "alpha", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  add_credentials(fx, ID_A_EXEC, "alphaexec", TASK_A, ECSA_CREDENTIALS_ROLE_EXECUTION);
  add_credentials(fx, ID_B, "beta", TASK_B, ECSA_CREDENTIALS_ROLE_TASK);

  fx->server = ecsa_credentials_server_new(fx->manager, fx->audit, ecsa_test_tasks_source(fx->tasks), FALSE);
  g_assert_true(ecsa_credentials_server_listen(fx->server, 0, &error));
  g_assert_no_error(error);
  fx->port = ecsa_credentials_server_get_port(fx->server);
  g_assert_cmpuint(fx->port, >, 0);
}

/* No secret and no credentials ID in anything the agent logged or audited. */
static void
assert_no_secret(const char *text, const char *what)
{
  static const char *const secrets[] = { "secret-alpha", "token-alpha",  "ASIATESTALPHA",    "secret-beta",
                                         "token-beta",   "ASIATESTBETA", "secret-alphaexec", "token-alphaexec",
                                         ID_A,           ID_B,           ID_A_EXEC };

  for (guint i = 0; i < G_N_ELEMENTS(secrets); i++)
    {
      if (ecsa_test_contains(text, secrets[i]))
        g_error("%s contains '%s':\n%s", what, secrets[i], text);
    }
}

static char *
read_audit(Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  ecsa_audit_log_flush(fx->audit);
  g_file_get_contents(fx->audit_path, &text, NULL, &error);
  g_assert_no_error(error);
  return text;
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_autofree char *audit = NULL;

  ecsa_audit_log_flush(fx->audit);
  if (g_file_get_contents(fx->audit_path, &audit, NULL, NULL))
    assert_no_secret(audit, "the audit log");
  assert_no_secret(fx->log->str, "the agent's log");

  ecsa_credentials_server_stop(fx->server);
  g_clear_object(&fx->server);
  g_clear_object(&fx->audit);
  g_clear_object(&fx->manager);
  g_clear_pointer(&fx->tasks, ecsa_test_tasks_free);
  ecsa_log_set_capture(NULL, NULL);
  g_string_free(fx->log, TRUE);
  ecsa_test_rmdir_recursive(fx->dir);
  g_free(fx->dir);
  g_free(fx->audit_path);
}

static EcsaTestHttpResult *
get(Fixture *fx, const char *method, const char *path)
{
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", fx->port, path);

  return ecsa_test_http_request(method, url, "ecsa-test/1.0", TIMEOUT_MS);
}

static char *
expected_credentials_json(const char *seed)
{
  g_autofree char *upper = g_ascii_strup(seed, -1);

  return g_strdup_printf("{\"RoleArn\":\"arn:aws:iam::123456789012:role/%s\",\"AccessKeyId\":\"ASIATEST%sKEYID\","
                         "\"SecretAccessKey\":\"secret-%s-Xk9pQ2vL7mN4wR8tY1zB\","
                         "\"Token\":\"token-%s-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\","
                         "\"Expiration\":\"2030-01-02T03:04:05Z\"}",
                         seed, upper, seed, seed);
}

static void
test_ok(Fixture *fx, gconstpointer data)
{
  g_autofree char *expected_a = expected_credentials_json("alpha");
  g_autofree char *expected_exec = expected_credentials_json("alphaexec");
  g_autoptr(EcsaTestHttpResult) v1 = get(fx, "GET", "/v1/credentials?id=" ID_A);
  g_autoptr(EcsaTestHttpResult) v2 = get(fx, "GET", "/v2/credentials/" ID_A);
  g_autoptr(EcsaTestHttpResult) exec = get(fx, "GET", "/v2/credentials/" ID_A_EXEC);
  g_autoptr(EcsaTestHttpResult) post = get(fx, "POST", "/v1/credentials?id=" ID_A);
  g_autoptr(EcsaTestHttpResult) semicolon = get(fx, "GET", "/v1/credentials?x=1;id=" ID_A);
  g_autofree char *audit = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_cmpuint(v1->status, ==, 200);
  g_assert_cmpstr(v1->content_type, ==, "application/json");
  g_assert_cmpstr(v1->body, ==, expected_a);
  g_assert_cmpuint(v2->status, ==, 200);
  g_assert_cmpstr(v2->body, ==, expected_a);
  /* this test runs as root on the host: root host processes (dockerd) read the execution role */
  g_assert_cmpuint(exec->status, ==, 200);
  g_assert_cmpstr(exec->body, ==, expected_exec);
  /* v1.16.2 did not look at the method, and Go's query parser splits on ';' too */
  g_assert_cmpuint(post->status, ==, 200);
  g_assert_cmpstr(post->body, ==, expected_a);
  g_assert_cmpuint(semicolon->status, ==, 200);

  /* v1.16.2's audit format: one line per answer, never the ID */
  audit = read_audit(fx);
  lines = g_strsplit(g_strchomp(audit), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 5);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
      g_autofree char *remote_prefix = g_strdup("127.0.0.1:");

      g_assert_cmpuint(g_strv_length(f), ==, 10);
      g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$", f[0], 0, 0));
      g_assert_cmpstr(f[1], ==, "200");
      g_assert_true(g_str_has_prefix(f[2], remote_prefix));
      g_assert_true(g_strcmp0(f[3], "\"/v1/credentials\"") == 0 || g_strcmp0(f[3], "\"/v2/credentials\"") == 0);
      g_assert_cmpstr(f[4], ==, "\"ecsa-test/1.0\"");
      g_assert_cmpstr(f[5], ==, TASK_A);
      g_assert_cmpstr(f[6], ==, i == 2 ? "GetCredentialsExecutionRole" : "GetCredentials");
      g_assert_cmpstr(f[7], ==, "2");
      g_assert_cmpstr(f[8], ==, CLUSTER);
      g_assert_cmpstr(f[9], ==, INSTANCE_ARN);
    }
}

typedef struct
{
  const char *method;
  const char *path;
  guint status;
  const char *content_type;
  const char *body;     /* exact, or NULL */
  const char *location; /* exact, or NULL */
  gboolean audited;
} ErrorCase;

static const ErrorCase error_cases[] = {
  { "GET", "/v1/credentials", 400, "application/json",
    "{\"code\":\"NoIdInRequest\",\"message\":\"CredentialsV1Request: No ID in the request\"}", NULL, TRUE },
  { "GET", "/v1/credentials?id=", 400, "application/json",
    "{\"code\":\"NoIdInRequest\",\"message\":\"CredentialsV1Request: No ID in the request\"}", NULL, TRUE },
  { "GET", "/v1/credentials?ID=" ID_A, 400, "application/json",
    "{\"code\":\"NoIdInRequest\",\"message\":\"CredentialsV1Request: No ID in the request\"}", NULL, TRUE },
  { "GET", "/v2/credentials/", 400, "application/json",
    "{\"code\":\"NoIdInRequest\",\"message\":\"CredentialsV2Request: No ID in the request\"}", NULL, TRUE },
  { "GET", "/v1/credentials?id=no-such-id", 400, "application/json",
    "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV1Request: ID not found\"}", NULL, TRUE },
  { "GET", "/v2/credentials/no-such-id", 400, "application/json",
    "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}", NULL, TRUE },
  /* v1.16.2 takes the query as part of a v2 ID */
  { "GET", "/v2/credentials/" ID_A "?x=1", 400, "application/json",
    "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}", NULL, TRUE },
  { "GET", "/v2/credentials/" ID_A "/", 400, "application/json",
    "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}", NULL, TRUE },
  /* Go's ServeMux */
  { "GET", "/v2/credentials", 301, "text/html; charset=utf-8",
    "<a href=\"/v2/credentials/\">Moved Permanently</a>.\n\n", "/v2/credentials/", FALSE },
  { "GET", "/v2//credentials/" ID_A, 301, "text/html; charset=utf-8", NULL, "/v2/credentials/" ID_A, FALSE },
  { "HEAD", "/v2//credentials/x", 301, NULL, NULL, "/v2/credentials/x", FALSE },
  { "GET", "/v1/credentials/", 404, "text/plain; charset=utf-8", "404 page not found\n", NULL, FALSE },
  { "GET", "/", 404, "text/plain; charset=utf-8", "404 page not found\n", NULL, FALSE },
  { "GET", "/v1/metadata", 404, "text/plain; charset=utf-8", "404 page not found\n", NULL, FALSE },
  { "GET", "/latest/meta-data/", 404, "text/plain; charset=utf-8", "404 page not found\n", NULL, FALSE },
};

static void
test_errors(Fixture *fx, gconstpointer data)
{
  guint audited = 0;
  g_autofree char *audit = NULL;
  g_auto(GStrv) lines = NULL;

  for (guint i = 0; i < G_N_ELEMENTS(error_cases); i++)
    {
      const ErrorCase *c = &error_cases[i];
      g_autoptr(EcsaTestHttpResult) r = get(fx, c->method, c->path);

      g_test_message("%s %s -> %u", c->method, c->path, r->status);
      g_assert_cmpuint(r->status, ==, c->status);
      g_assert_cmpstr(r->content_type, ==, c->content_type);
      if (c->body != NULL)
        g_assert_cmpstr(r->body, ==, c->body);
      g_assert_cmpstr(r->location, ==, c->location);
      audited += c->audited ? 1 : 0;
    }

  audit = read_audit(fx);
  lines = g_strsplit(g_strchomp(audit), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, audited);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
      g_assert_cmpuint(g_strv_length(f), ==, 10);
      g_assert_cmpstr(f[1], ==, "400");
      g_assert_cmpstr(f[5], ==, "-");
    }
}

/* Requests libsoup's client would not send. */
static void
test_raw(Fixture *fx, gconstpointer data)
{
  static const struct
  {
    const char *request;
    const char *status_line;
    const char *body; /* substring, or NULL */
  } cases[] = {
    /* libsoup refuses bad escapes before the router sees them: 400 as v1.16.2, without its JSON */
    { "GET /v1/credentials?id=%zz HTTP/1.0\r\n\r\n", "HTTP/1.0 400", NULL },
    { "GET /v1/credentials?id=%00 HTTP/1.0\r\n\r\n", "HTTP/1.0 400", NULL },
    { "GET /v1/credentials?id=" ID_A "&id=other HTTP/1.0\r\n\r\n", "HTTP/1.0 200", "\"RoleArn\"" },
    { "GET /v1/credentials?id=%30d5b7c4e-aaaa-4c1b-9e3f-2a7d9c1e5f10 HTTP/1.0\r\n\r\n", "HTTP/1.0 200", "\"RoleArn\"" },
    { "GET /v2/credentials/%zz HTTP/1.0\r\n\r\n", "HTTP/1.0 400", NULL },
    { "GARBAGE\r\n\r\n", "HTTP/1.0 400", NULL },
    { "GET /v2/credentials/" ID_A " HTTP/1.1\r\n\r\n", "HTTP/1.1 400", NULL }, /* no Host */
    { "DELETE /v2/credentials/" ID_A " HTTP/1.0\r\n\r\n", "HTTP/1.0 200", "\"Token\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autofree char *reply = ecsa_test_http_raw(fx->port, cases[i].request, TIMEOUT_MS);

      g_test_message("%s -> %.40s", cases[i].request, reply);
      g_assert_true(g_str_has_prefix(reply, cases[i].status_line));
      if (cases[i].body != NULL)
        g_assert_true(ecsa_test_contains(reply, cases[i].body));
    }
}

/* After a restart the engine marks restored IDs as expected: 503 (SDKs retry), not 400, until ACS
 * resends the credentials. */
static void
test_pending(Fixture *fx, gconstpointer data)
{
  g_autofree char *expected = expected_credentials_json("gamma");
  g_autoptr(EcsaTestHttpResult) before = NULL;
  g_autoptr(EcsaTestHttpResult) after = NULL;
  g_autoptr(EcsaTestHttpResult) gone = NULL;

  ecsa_credentials_manager_expect(fx->manager, "id-restored-gamma", TASK_B);
  before = get(fx, "GET", "/v2/credentials/id-restored-gamma");
  g_assert_cmpuint(before->status, ==, 503);
  g_assert_cmpstr(before->content_type, ==, "application/json");
  g_assert_cmpstr(before->body, ==,
                  "{\"code\":\"CredentialsUninitialized\",\"message\":\"CredentialsV2Request: Credentials "
                  "uninitialized for ID\"}");

  add_credentials(fx, "id-restored-gamma", "gamma", TASK_B, ECSA_CREDENTIALS_ROLE_TASK);
  after = get(fx, "GET", "/v2/credentials/id-restored-gamma");
  g_assert_cmpuint(after->status, ==, 200);
  g_assert_cmpstr(after->body, ==, expected);

  /* the task is removed: its IDs go with it */
  ecsa_credentials_manager_remove_task(fx->manager, TASK_B);
  gone = get(fx, "GET", "/v2/credentials/id-restored-gamma");
  g_assert_cmpuint(gone->status, ==, 400);
  g_assert_true(ecsa_test_contains(gone->body, "InvalidIdInRequest"));
}

static JsonObject *
parse_output(const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data(parser, text, -1, &error);
  g_assert_no_error(error);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
  return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static char *
client_path(void)
{
  return g_build_filename(g_getenv("ECSA_SOURCE_ROOT"), "tests", "credentials-client.py", NULL);
}

/* botocore's ContainerProvider, given AWS_CONTAINER_CREDENTIALS_FULL_URI as an SDK in a task might be. */
static void
test_botocore_full_uri(Fixture *fx, gconstpointer data)
{
  g_autofree char *client = client_path();
  g_autofree char *uri
    = g_strdup_printf("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%u/v2/credentials/%s", fx->port, ID_B);
  g_autofree char *bad_uri
    = g_strdup_printf("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%u/v2/credentials/not-an-id", fx->port);
  const char *argv[]
    = { "env", "-u", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", uri, "/usr/bin/python3", client, "sdk", NULL };
  g_autofree char *out = ecsa_test_spawn_ok(argv, TIMEOUT_MS);
  g_autoptr(JsonObject) creds = parse_output(out);
  g_autofree char *bad_out = NULL;
  g_autoptr(JsonObject) bad = NULL;

  g_assert_cmpstr(json_object_get_string_member(creds, "access_key"), ==, "ASIATESTBETAKEYID");
  g_assert_cmpstr(json_object_get_string_member(creds, "secret_key"), ==, "secret-beta-Xk9pQ2vL7mN4wR8tY1zB");
  g_assert_cmpstr(json_object_get_string_member(creds, "token"), ==, "token-beta-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
  g_assert_cmpstr(json_object_get_string_member(creds, "expiry"), ==, "2030-01-02T03:04:05Z");

  argv[3] = bad_uri;
  g_assert_cmpint(ecsa_test_spawn(argv, NULL, TIMEOUT_MS, &bad_out, NULL), ==, 2);
  bad = parse_output(bad_out);
  g_assert_true(ecsa_test_contains(json_object_get_string_member(bad, "message"), "InvalidIdInRequest"));
}

/* A host process that is not root is not a task and not Docker: refused like an unknown ID. */
static void
test_host_non_root(Fixture *fx, gconstpointer data)
{
  g_autofree char *client = client_path();
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/v2/credentials/%s", fx->port, ID_A);
  const char *as_nobody[]
    = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", client, "http", url, NULL };
  const char *as_root[] = { "/usr/bin/python3", client, "http", url, NULL };
  g_autofree char *nobody_out = NULL;
  g_autofree char *root_out = NULL;
  g_autoptr(JsonObject) refused = NULL;
  g_autoptr(JsonObject) served = NULL;

  g_assert_cmpuint(getuid(), ==, 0); /* the suite runs as root, as CI does */
  nobody_out = ecsa_test_spawn_ok(as_nobody, TIMEOUT_MS);
  refused = parse_output(nobody_out);
  g_assert_cmpint(json_object_get_int_member(refused, "status"), ==, 400);
  g_assert_cmpstr(json_object_get_string_member(refused, "body"), ==,
                  "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}");
  g_assert_true(ecsa_test_contains(fx->log->str, "refused the credentials of task '" TASK_A "'"));

  root_out = ecsa_test_spawn_ok(as_root, TIMEOUT_MS);
  served = parse_output(root_out);
  g_assert_cmpint(json_object_get_int_member(served, "status"), ==, 200);
}

typedef struct
{
  guint done;
  guint ok;
} Burst;

static void
burst_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Burst *burst = user_data;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), result, NULL);
  SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);

  if (body != NULL && soup_message_get_status(msg) == 200)
    burst->ok++;
  burst->done++;
}

/* Many requests at once: every one is answered, the main context never waits on a lookup. */
static void
test_burst(Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupSession) session
    = soup_session_new_with_options("max-conns", 64, "max-conns-per-host", 64, "proxy-resolver", NULL, NULL);
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/v2/credentials/%s", fx->port, ID_B);
  Burst burst = { 0 };
  const guint n = 200;
  g_autoptr(GTimer) timer = g_timer_new();

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
      soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, burst_ready_cb, &burst);
    }
  ecsa_test_wait_for_count(&burst.done, n, TIMEOUT_MS);
  g_test_message("%u requests in %.3f s", n, g_timer_elapsed(timer, NULL));
  g_assert_cmpuint(burst.ok, ==, n);
  g_assert_cmpuint(ecsa_credentials_server_get_served(fx->server), ==, n);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD("/credentials-server/ok", test_ok);
  ADD("/credentials-server/errors", test_errors);
  ADD("/credentials-server/raw", test_raw);
  ADD("/credentials-server/pending", test_pending);
  ADD("/credentials-server/botocore-full-uri", test_botocore_full_uri);
  ADD("/credentials-server/host-non-root", test_host_non_root);
  ADD("/credentials-server/burst", test_burst);
#undef ADD
  return g_test_run();
}
