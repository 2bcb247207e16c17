/* test-docker-client.c: EcsaDockerClient against the real dockerd.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-client.h"
#include "ecsa-log.h"
#include "ecsa-test-docker.h"
#include "ecsa-test-utils.h"

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#define GUARD_MS 60000

typedef struct
{
  EcsaDockerClient *client;
  const char *prefix;
  GAsyncResult *result;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->prefix = ecsa_test_docker_prefix("dc");
  fx->client = ecsa_docker_client_new(NULL, &error);
  g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_object(&fx->client);
  g_clear_object(&fx->result);
  ecsa_test_docker_cleanup(fx->prefix);
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref(result);
}

static gboolean
have_result(gpointer user_data)
{
  return *(GAsyncResult **)user_data != NULL;
}

/* Wait for the pending call of the fixture and hand its result over. */
static GAsyncResult *
wait_result(Fixture *fx)
{
  ecsa_test_wait_until(NULL, have_result, &fx->result, GUARD_MS, "docker call result");
  return g_steal_pointer(&fx->result);
}

/* A client of dockerd through `proxy`, its API version negotiated. */
static EcsaDockerClient *
negotiated_client(Fixture *fx, EcsaTestDockerProxy *proxy)
{
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  client = ecsa_docker_client_new(ecsa_test_docker_proxy_get_host(proxy), &error);
  g_assert_no_error(error);
  ecsa_docker_client_negotiate_async(client, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_negotiate_finish(client, res, &error));
  g_assert_no_error(error);
  return g_steal_pointer(&client);
}

static char *
name_for(Fixture *fx, const char *suffix)
{
  return g_strconcat(fx->prefix, suffix, NULL);
}

static JsonNode *
create_body(const char *cmd)
{
  g_autofree char *json = g_strdup_printf("{\"Image\":\"%s\",\"Cmd\":[\"sh\",\"-c\",\"%s\"],"
                                          "\"Labels\":{\"ecsa.test\":\"docker-client\"},"
                                          "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
                                          ECSA_TEST_IMAGE, cmd);
  return json_from_string(json, NULL);
}

static char *
create_sync(Fixture *fx, const char *name, const char *cmd)
{
  g_autoptr(JsonNode) body = create_body(cmd);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  char *id;

  ecsa_docker_client_create_container_async(fx->client, name, body, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  id = ecsa_docker_client_create_container_finish(fx->client, res, &error);
  g_assert_no_error(error);
  g_assert_nonnull(id);
  return id;
}

static void
start_sync(Fixture *fx, const char *id)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  ecsa_docker_client_start_container_async(fx->client, id, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_start_container_finish(fx->client, res, &error));
  g_assert_no_error(error);
}

static const char *
state_status(JsonObject *inspect)
{
  return json_object_get_string_member(json_object_get_object_member(inspect, "State"), "Status");
}

/* ------------------------------------------------------------------------------------------- */

static void
test_host_invalid(void)
{
  const char *bad[] = { "http://127.0.0.1:2375", "unix://relative/path", "tcp://", "npipe:////./pipe/docker" };

  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EcsaDockerClient) c = ecsa_docker_client_new(bad[i], &error);

      g_assert_null(c);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull(strstr(error->message, bad[i]));
    }
}

static void
test_negotiate(Fixture *fx, gconstpointer data)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *daemon_api = ecsa_test_docker_cli(NULL, "version", "-f", "{{.Server.APIVersion}}", NULL);
  g_autofree char *daemon_version = ecsa_test_docker_cli(NULL, "version", "-f", "{{.Server.Version}}", NULL);
  const char *expected;

  g_assert_null(ecsa_docker_client_get_api_version(fx->client));
  ecsa_docker_client_negotiate_async(fx->client, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_negotiate_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_assert_nonnull(daemon_api);
  expected = ecsa_docker_api_version_compare(daemon_api, ECSA_DOCKER_API_VERSION_MAX) > 0 ? ECSA_DOCKER_API_VERSION_MAX
                                                                                          : daemon_api;
  g_assert_cmpstr(ecsa_docker_client_get_api_version(fx->client), ==, expected);
  g_assert_cmpstr(ecsa_docker_client_get_server_version(fx->client), ==, daemon_version);
  /* dockerd 20.10's oldest is 1.12: the ping at 1.17 succeeds, which is all the capabilities need */
  g_assert_null(ecsa_docker_client_get_min_api_version(fx->client));
}

/* A daemon on a unix socket that answers the negotiation as told, and records the paths asked. */
typedef struct
{
  guint ping_status;
  const char *ping_body;
  const char *api_version_header; /* or NULL */
  const char *server_header;      /* or NULL */
  const char *version_json;       /* GET /version's answer, or NULL: 500 */
  const char *events_body;        /* GET /v<api>/events's answer (the stream then ends), or NULL: 500 */
  GPtrArray *paths;
  GPtrArray *events_since; /* the "since" of each GET /events ("" when none) */
} FakeDaemon;

static void
fake_daemon_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  FakeDaemon *fake = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

  g_ptr_array_add(fake->paths, g_strdup(path));
  if (fake->api_version_header != NULL)
    soup_message_headers_replace(headers, "Api-Version", fake->api_version_header);
  if (fake->server_header != NULL)
    soup_message_headers_replace(headers, "Server", fake->server_header);
  if (g_str_has_suffix(path, "/_ping"))
    {
      soup_server_message_set_status(msg, fake->ping_status, NULL);
      soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC, fake->ping_body,
                                       strlen(fake->ping_body));
    }
  else if (g_str_has_suffix(path, "/events") && fake->events_body != NULL)
    {
      const char *since = query != NULL ? g_hash_table_lookup(query, "since") : NULL;

      g_ptr_array_add(fake->events_since, g_strdup(since != NULL ? since : ""));
      soup_server_message_set_status(msg, 200, NULL);
      soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, fake->events_body,
                                       strlen(fake->events_body));
    }
  else if (strcmp(path, "/version") == 0 && fake->version_json != NULL)
    {
      soup_server_message_set_status(msg, 200, NULL);
      soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, fake->version_json,
                                       strlen(fake->version_json));
    }
  else
    soup_server_message_set_status(msg, 500, NULL);
}

/* Serve `fake` on a unix socket in a new directory; returns the client's DOCKER_HOST. */
static char *
fake_daemon_start(FakeDaemon *fake, SoupServer **out_server, char **out_dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *sock_path = g_build_filename(dir, "docker.sock", NULL);
  g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock_path);
  SoupServer *server = soup_server_new(NULL, NULL);

  g_assert_no_error(error);
  g_assert_true(g_socket_bind(sock, addr, TRUE, &error));
  g_assert_no_error(error);
  g_assert_true(g_socket_listen(sock, &error));
  soup_server_add_handler(server, NULL, fake_daemon_cb, fake, NULL);
  g_assert_true(soup_server_listen_socket(server, sock, 0, &error));
  g_assert_no_error(error);
  *out_server = server;
  *out_dir = g_steal_pointer(&dir);
  return g_strconcat("unix://", sock_path, NULL);
}

/* Negotiate with `fake`; returns the client, negotiated. */
static EcsaDockerClient *
negotiate_with_fake(Fixture *fx, FakeDaemon *fake, SoupServer **out_server, char **out_dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *host = fake_daemon_start(fake, out_server, out_dir);
  EcsaDockerClient *client;
  g_autoptr(GAsyncResult) res = NULL;

  client = ecsa_docker_client_new(host, &error);
  g_assert_no_error(error);
  ecsa_docker_client_negotiate_async(client, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_negotiate_finish(client, res, &error));
  g_assert_no_error(error);
  return client;
}

static void
fake_daemon_done(SoupServer *server, char *dir)
{
  soup_server_disconnect(server);
  g_object_unref(server);
  ecsa_test_rmdir_recursive(dir);
  g_free(dir);
}

/* The ping says it all, also when the daemon no longer speaks 1.17 (Docker 25 and newer): its 400
 * names the oldest version. GET /version (which runs runc and docker-init) is not asked. */
static void
test_negotiate_ping(Fixture *fx, gconstpointer data)
{
  FakeDaemon fake = {
    .ping_status = 400,
    .ping_body = "client version 1.17 is too old. Minimum supported API version is 1.24, please upgrade your client to "
                 "a newer version\n",
    .api_version_header = "1.45",
    .server_header = "Docker/26.1.4 (linux)",
    .paths = g_ptr_array_new_with_free_func(g_free),
  };
  SoupServer *server = NULL;
  char *dir = NULL;
  g_autoptr(EcsaDockerClient) client = negotiate_with_fake(fx, &fake, &server, &dir);

  g_assert_cmpstr(ecsa_docker_client_get_api_version(client), ==, ECSA_DOCKER_API_VERSION_MAX);
  g_assert_cmpstr(ecsa_docker_client_get_server_version(client), ==, "26.1.4");
  g_assert_cmpstr(ecsa_docker_client_get_min_api_version(client), ==, "1.24");
  g_assert_cmpuint(fake.paths->len, ==, 1);
  g_assert_cmpstr(fake.paths->pdata[0], ==, "/v" ECSA_DOCKER_API_VERSION_PROBED "/_ping");
  g_clear_object(&client);
  fake_daemon_done(server, dir);
  g_ptr_array_unref(fake.paths);
}

/* A ping whose answer does not tell (no headers; another server): GET /version, as before */
static void
test_negotiate_fallback(Fixture *fx, gconstpointer data)
{
  const struct
  {
    guint status;
    const char *api, *server;
  } cases[] = {
    { 404, NULL, NULL },                      /* no ping at all */
    { 200, NULL, "Docker/1.12.6 (linux)" },   /* no Api-Version */
    { 200, "1.41", "Libpod/4.3.1 (linux)" },  /* another server */
    { 400, "1.41", "Docker/26.1.4 (linux)" }, /* a 400 that does not name the oldest version */
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      FakeDaemon fake = {
        .ping_status = cases[i].status,
        .ping_body = "page not found",
        .api_version_header = cases[i].api,
        .server_header = cases[i].server,
        .version_json = "{\"ApiVersion\":\"1.40\",\"Version\":\"19.03.15\",\"MinAPIVersion\":\"1.12\"}",
        .paths = g_ptr_array_new_with_free_func(g_free),
      };
      SoupServer *server = NULL;
      char *dir = NULL;
      g_autoptr(EcsaDockerClient) client = negotiate_with_fake(fx, &fake, &server, &dir);

      g_test_message("case %u", i);
      g_assert_cmpstr(ecsa_docker_client_get_api_version(client), ==, "1.40");
      g_assert_cmpstr(ecsa_docker_client_get_server_version(client), ==, "19.03.15");
      g_assert_cmpstr(ecsa_docker_client_get_min_api_version(client), ==, "1.12");
      g_assert_cmpuint(fake.paths->len, ==, 2);
      g_assert_cmpstr(fake.paths->pdata[1], ==, "/version");
      g_clear_object(&client);
      fake_daemon_done(server, dir);
      g_ptr_array_unref(fake.paths);
    }
}

static void
test_lifecycle(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "life");
  g_autofree char *id = create_sync(fx, name, "trap 'exit 7' TERM; sleep 600 & wait");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) inspect = NULL;
  g_autoptr(JsonObject) cli = NULL;

  /* inspect by name, through the client */
  ecsa_docker_client_inspect_container_async(fx->client, name, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  inspect = ecsa_docker_client_inspect_container_finish(fx->client, res, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(inspect), "Id"), ==, id);
  g_assert_cmpstr(state_status(json_node_get_object(inspect)), ==, "created");
  g_clear_object(&res);

  start_sync(fx, id);
  cli = ecsa_test_docker_inspect(id);
  g_assert_cmpstr(state_status(cli), ==, "running");
  g_clear_pointer(&cli, json_object_unref);

  /* start again: 304, which is success */
  start_sync(fx, id);

  ecsa_docker_client_stop_container_async(fx->client, id, 5, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_stop_container_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_clear_object(&res);
  cli = ecsa_test_docker_inspect(id);
  g_assert_cmpstr(state_status(cli), ==, "exited");
  /* the SIGTERM reached the container's trap */
  g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(cli, "State"), "ExitCode"), ==, 7);
  g_clear_pointer(&cli, json_object_unref);

  /* stop again: 304, which is success */
  ecsa_docker_client_stop_container_async(fx->client, id, 5, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_stop_container_finish(fx->client, res, &error));
  g_clear_object(&res);

  ecsa_docker_client_remove_container_async(fx->client, id, TRUE, FALSE, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_remove_container_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_assert_null(ecsa_test_docker_inspect(id));
}

static void
test_not_found(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "missing");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  ecsa_docker_client_inspect_container_async(fx->client, name, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  node = ecsa_docker_client_inspect_container_finish(fx->client, res, &error);
  g_assert_null(node);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "No such container"));
  g_assert_nonnull(strstr(error->message, name));
  g_clear_error(&error);
  g_clear_object(&res);

  ecsa_docker_client_start_container_async(fx->client, name, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_start_container_finish(fx->client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "start container"));
}

static void
test_conflict_and_bad_request(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "dup");
  g_autofree char *id = create_sync(fx, name, "true");
  g_autoptr(JsonNode) body = create_body("true");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *name2 = name_for(fx, "bad name!");

  ecsa_docker_client_create_container_async(fx->client, name, body, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  id2 = ecsa_docker_client_create_container_finish(fx->client, res, &error);
  g_assert_null(id2);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "is already in use"));
  g_clear_error(&error);
  g_clear_object(&res);

  /* an invalid name is a 400 */
  ecsa_docker_client_create_container_async(fx->client, name2, body, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  id2 = ecsa_docker_client_create_container_finish(fx->client, res, &error);
  g_assert_null(id2);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "create container"));
  g_assert_nonnull(strstr(error->message, "Invalid container name"));
}

static void
test_api_version_override(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "v124");
  g_autoptr(JsonNode) body = create_body("true");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  ecsa_docker_client_create_container_async(fx->client, name, body, "1.24", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  id = ecsa_docker_client_create_container_finish(fx->client, res, &error);
  g_assert_no_error(error);
  g_assert_nonnull(id);
  g_clear_object(&res);

  ecsa_docker_client_create_container_async(fx->client, name, body, "one.two", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_create_container_finish(fx->client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "one.two"));
}

/* A container that ignores SIGTERM is killed once the stop timeout runs out. */
static void
test_stop_kills_after_timeout(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "noterm");
  g_autofree char *id = create_sync(fx, name, "trap '' TERM; while true; do sleep 1; done");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) cli = NULL;
  gint64 t0;

  start_sync(fx, id);
  t0 = g_get_monotonic_time();
  ecsa_docker_client_stop_container_async(fx->client, id, 1, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_stop_container_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_assert_cmpint(g_get_monotonic_time() - t0, >=, 900 * 1000);
  cli = ecsa_test_docker_inspect(id);
  g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(cli, "State"), "ExitCode"), ==, 137);
}

/* The client's own limit for stop is 30 s plus the stop timeout; a daemon that does not answer
 * in that time is reported as a timeout naming the call (shortened here). */
static void
test_stop_call_timeout(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  client = negotiated_client(fx, proxy);

  g_assert_cmpuint(ecsa_docker_client_get_timeout(client, ECSA_DOCKER_CALL_STOP), ==, 30000);
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_STOP, 200);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  ecsa_docker_client_stop_container_async(client, "stuck", 1, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_stop_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "docker stop container 'stuck': timed out after 1.2s");
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_STOP, 0);
  g_assert_cmpuint(ecsa_docker_client_get_timeout(client, ECSA_DOCKER_CALL_STOP), ==, 30000);
}

/* A daemon that accepts connections and never answers. */
static void
test_hung_daemon(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  client = ecsa_docker_client_new(ecsa_test_docker_proxy_get_host(proxy), &error);
  g_assert_no_error(error);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_VERSION, 300);
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_INSPECT, 200);

  /* queued behind the version negotiation, the inspect still fails at its own limit */
  ecsa_docker_client_inspect_container_async(client, "whatever", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  node = ecsa_docker_client_inspect_container_finish(client, res, &error);
  g_assert_null(node);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "docker inspect container 'whatever': timed out after 0.2s");
  g_clear_error(&error);
  g_clear_object(&res);

  ecsa_docker_client_negotiate_async(client, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_negotiate_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "docker get version: timed out after 0.3s");
  g_clear_error(&error);
  g_clear_object(&res);

  /* once negotiated, a hung inspect times out on its own limit */
  ecsa_test_docker_proxy_set_blackhole(proxy, FALSE);
  ecsa_docker_client_negotiate_async(client, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_negotiate_finish(client, res, &error));
  g_clear_object(&res);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  ecsa_docker_client_inspect_container_async(client, "other", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_inspect_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "docker inspect container 'other': timed out after 0.2s");
}

static gboolean
flag_cb(gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
flag_set(gpointer user_data)
{
  return *(gboolean *)user_data;
}

static void
collect_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_ptr_array_add(user_data, g_object_ref(result));
}

static gboolean
have_results(gpointer user_data)
{
  GPtrArray **wanted = user_data;

  return wanted[0]->len >= GPOINTER_TO_UINT(wanted[1]);
}

static void
wait_results(GPtrArray *results, guint n)
{
  gpointer wanted[2] = { results, GUINT_TO_POINTER(n) };

  ecsa_test_wait_until(NULL, have_results, wanted, GUARD_MS, "image inspections");
}

static void
run_for(guint ms)
{
  gboolean over = FALSE;

  g_timeout_add(ms, flag_cb, &over);
  ecsa_test_wait_until(NULL, flag_set, &over, GUARD_MS, "a pause");
}

/* An inspection goes out at once, and times out after 0.2 s on the blackholed proxy, which has
 * then accepted `n_accepted` connections in all. */
static void
assert_inspect_goes_out(Fixture *fx, EcsaDockerClient *client, EcsaTestDockerProxy *proxy, guint n_accepted)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_INSPECT, 200);
  ecsa_docker_client_inspect_container_async(client, "other", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_inspect_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy), ==, n_accepted);
}

/* At most 32 container creations are in flight: 80 at once all get their answer (dockerd refuses
 * their names at once); once nothing is in flight for 2 s the connections are closed (the next
 * call opens a new one); 40 creations on a hung daemon use at most 32 connections, a waiting one
 * does not time out while it waits (its limit runs from when it goes out), a cancelled one leaves
 * the queue, and other calls do not wait. */
static void
test_create_limit(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GPtrArray) hung = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GCancellable) hang_up = g_cancellable_new();
  g_autoptr(JsonNode) body = create_body("true");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  gboolean idle_over = FALSE;
  gint64 started;
  guint n;

  client = negotiated_client(fx, proxy);

  for (guint i = 0; i < 80; i++)
    {
      g_autofree char *name = g_strdup_printf("ecsa bad name %u", i);
      ecsa_docker_client_create_container_async(client, name, body, NULL, NULL, collect_result_cb, results);
    }
  wait_results(results, 80);
  for (guint i = 0; i < results->len; i++)
    {
      g_autofree char *id = ecsa_docker_client_create_container_finish(client, results->pdata[i], &error);
      g_assert_null(id);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_clear_error(&error);
    }
  n = ecsa_test_docker_proxy_get_n_accepted(proxy);
  g_assert_cmpuint(n, >=, 2);
  g_assert_cmpuint(n, <=, 32 + 1);

  /* idle for 2 s: closed */
  g_timeout_add(2600, flag_cb, &idle_over);
  ecsa_test_wait_until(NULL, flag_set, &idle_over, GUARD_MS, "the idle time");
  ecsa_docker_client_inspect_container_async(client, "ecsa-no-such-container", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_inspect_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_clear_object(&res);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy), ==, n + 1);

  /* 40 hung creations: 32 hold every slot (and at most 32 connections), 8 wait */
  n = ecsa_test_docker_proxy_get_n_accepted(proxy);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_CREATE, 60000);
  for (guint i = 0; i < 40; i++)
    ecsa_docker_client_create_container_async(client, "hung", body, NULL, hang_up, collect_result_cb, hung);
  /* one more waits too, and its time limit does not run while it waits */
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_CREATE, 200);
  ecsa_docker_client_create_container_async(client, "waiting", body, NULL, NULL, store_result_cb, &fx->result);
  run_for(600);
  g_assert_null(fx->result);
  g_assert_cmpuint(hung->len, ==, 0);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, <=, 32);
  /* an inspect takes no slot: it goes out (and hangs too) while the creations wait */
  assert_inspect_goes_out(fx, client, proxy, n + 33);
  /* cancelled, the hung ones end, the 8 waiting ones too (without going out) */
  g_cancellable_cancel(hang_up);
  wait_results(hung, 40);
  for (guint i = 0; i < hung->len; i++)
    {
      g_assert_null(ecsa_docker_client_create_container_finish(client, hung->pdata[i], &error));
      g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_clear_error(&error);
    }
  /* then the waiting one goes out, and fails at its own limit from there */
  started = g_get_monotonic_time();
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_create_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "docker create container 'waiting': timed out after 0.2s");
  g_assert_cmpint(g_get_monotonic_time() - started, <, 10 * G_USEC_PER_SEC);
  g_clear_error(&error);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 34);
}

/* Creations wait while 32 quick calls of any kind are in flight (new work enters only while
 * dockerd keeps up with the work begun), with their time limit stopped, and that work never
 * waits; stops, which last as long as the container takes to exit, do not hold creations back. */
static void
test_create_admission(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GPtrArray) hung = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GCancellable) hang_up = g_cancellable_new();
  g_autoptr(JsonNode) body = create_body("true");
  g_autoptr(GAsyncResult) res = NULL;
  GAsyncResult *waiting = NULL;
  g_autoptr(GError) error = NULL;
  guint n;

  client = negotiated_client(fx, proxy);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  n = ecsa_test_docker_proxy_get_n_accepted(proxy);

  /* 32 hung inspections all go out */
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_INSPECT, 60000);
  for (guint i = 0; i < 32; i++)
    ecsa_docker_client_inspect_container_async(client, "hung", hang_up, collect_result_cb, hung);
  run_for(300);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 32);
  /* a creation waits for them (past its own limit: that runs from when it goes out) */
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_CREATE, 200);
  ecsa_docker_client_create_container_async(client, "waiting", body, NULL, NULL, store_result_cb, &waiting);
  run_for(600);
  g_assert_null(waiting);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 32);
  /* work already begun never waits: one more inspection goes out */
  assert_inspect_goes_out(fx, client, proxy, n + 33);
  /* the inspections end: the creation goes out, and times out 0.2 s later */
  g_cancellable_cancel(hang_up);
  wait_results(hung, 32);
  g_ptr_array_set_size(hung, 0);
  ecsa_test_wait_until(NULL, have_result, &waiting, GUARD_MS, "the waiting creation");
  g_assert_null(ecsa_docker_client_create_container_finish(client, waiting, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_clear_error(&error);
  g_clear_object(&waiting);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 34);

  /* 40 hung stops hold nothing back: a creation goes out at once */
  g_clear_object(&hang_up);
  hang_up = g_cancellable_new();
  n = ecsa_test_docker_proxy_get_n_accepted(proxy);
  for (guint i = 0; i < 40; i++)
    ecsa_docker_client_stop_container_async(client, "hung", 30, hang_up, collect_result_cb, hung);
  run_for(300);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 40);
  ecsa_docker_client_create_container_async(client, "not-waiting", body, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_create_container_finish(client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_clear_error(&error);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - n, ==, 41);
  g_cancellable_cancel(hang_up);
  wait_results(hung, 40);
}

/* Inspections of one image in flight together share one call: one answer (or error) for all. */
static void
test_inspect_image_shared(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GCancellable) other = g_cancellable_new();
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first_id = NULL;
  guint accepted;

  client = negotiated_client(fx, proxy);
  ecsa_docker_client_set_timeout(client, ECSA_DOCKER_CALL_INSPECT_IMAGE, 300);

  /* a daemon that never answers: ten askers, one connection at most, the same error for each */
  accepted = ecsa_test_docker_proxy_get_n_accepted(proxy);
  ecsa_test_docker_proxy_set_blackhole(proxy, TRUE);
  for (guint i = 0; i < 10; i++)
    ecsa_docker_client_inspect_image_async(client, ECSA_TEST_IMAGE, NULL, collect_result_cb, results);
  wait_results(results, 10);
  g_assert_cmpuint(ecsa_test_docker_proxy_get_n_accepted(proxy) - accepted, <=, 1);
  for (guint i = 0; i < results->len; i++)
    {
      g_autoptr(GError) e = NULL;

      g_assert_null(ecsa_docker_client_inspect_image_finish(client, g_ptr_array_index(results, i), &e));
      g_assert_error(e, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
    }
  g_ptr_array_set_size(results, 0);

  /* answered: every asker gets the image; another cancellable is a call of its own, and cancelling
   * it leaves the others alone */
  ecsa_test_docker_proxy_set_blackhole(proxy, FALSE);
  for (guint i = 0; i < 10; i++)
    ecsa_docker_client_inspect_image_async(client, ECSA_TEST_IMAGE, NULL, collect_result_cb, results);
  ecsa_docker_client_inspect_image_async(client, ECSA_TEST_IMAGE, other, store_result_cb, &fx->result);
  g_cancellable_cancel(other);
  wait_results(results, 10);
  for (guint i = 0; i < results->len; i++)
    {
      g_autoptr(GError) e = NULL;
      g_autoptr(JsonNode) node = ecsa_docker_client_inspect_image_finish(client, g_ptr_array_index(results, i), &e);
      const char *id;

      g_assert_no_error(e);
      g_assert_nonnull(node);
      id = json_object_get_string_member(json_node_get_object(node), "Id");
      g_assert_true(g_str_has_prefix(id, "sha256:"));
      if (first_id == NULL)
        first_id = g_strdup(id);
      g_assert_cmpstr(id, ==, first_id);
    }
  g_clear_object(&res);
  res = wait_result(fx);
  g_assert_null(ecsa_docker_client_inspect_image_finish(client, res, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* An unversioned request goes out at once: no GET /version before it (the start-up asks for
 * /info beside the negotiation) */
static void
collect_event_cb(EcsaDockerClient *client, const char *id, const char *action, JsonObject *attributes, gint64 nano,
                 gpointer user_data)
{
  g_ptr_array_add(user_data, g_strdup_printf("%s %s %" G_GINT64_FORMAT, id, action, nano));
}

static gboolean
events_replayed(gpointer user_data)
{
  FakeDaemon *fake = user_data;

  return fake->events_since->len >= 3;
}

/* dockerd stamps events before it orders its stream: an event older than one already received is
 * still delivered (the "die" of a container must never be lost), and only the very same event
 * (time, container, action) is dropped, as when the stream is replayed after a reconnect. */
static void
test_events_out_of_order(Fixture *fx, gconstpointer data)
{
  FakeDaemon fake = {
    .ping_status = 200,
    .ping_body = "OK",
    .api_version_header = "1.41",
    .server_header = "Docker/20.10.24+dfsg1 (linux)",
    .events_body = "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"aaa\",\"Attributes\":{}},"
                   "\"timeNano\":2000000000}\n"
                   "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"bbb\",\"Attributes\":"
                   "{\"exitCode\":\"3\"}},\"timeNano\":1000000000}\n"
                   "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"aaa\",\"Attributes\":{}},"
                   "\"timeNano\":2000000000}\n"
                   /* the same time and container, another action: another event */
                   "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"aaa\",\"Attributes\":{}},"
                   "\"timeNano\":2000000000}\n",
    .paths = g_ptr_array_new_with_free_func(g_free),
    .events_since = g_ptr_array_new_with_free_func(g_free),
  };
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
  SoupServer *server = NULL;
  char *dir = NULL;
  g_autofree char *host = fake_daemon_start(&fake, &server, &dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaDockerClient) client = ecsa_docker_client_new(host, &error);

  g_assert_no_error(error);
  g_signal_connect(client, "container-event", G_CALLBACK(collect_event_cb), events);
  ecsa_docker_client_watch_events(client, NULL);
  /* each stream ends after its four lines: the client reconnects, and the same lines come again */
  ecsa_test_wait_until(NULL, events_replayed, &fake, GUARD_MS, "three event streams");
  ecsa_docker_client_unwatch_events(client);
  g_assert_cmpuint(events->len, ==, 3);
  g_assert_cmpstr(events->pdata[0], ==, "aaa start 2000000000");
  g_assert_cmpstr(events->pdata[1], ==, "bbb die 1000000000");
  g_assert_cmpstr(events->pdata[2], ==, "aaa die 2000000000");
  /* a reconnected stream starts at the newest event seen */
  g_assert_cmpstr(fake.events_since->pdata[0], ==, "");
  g_assert_cmpstr(fake.events_since->pdata[1], ==, "2.000000000");
  g_clear_object(&client);
  fake_daemon_done(server, dir);
  g_ptr_array_unref(fake.paths);
  g_ptr_array_unref(fake.events_since);
}

static void
test_unversioned_request(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  guint status = 0;

  client = ecsa_docker_client_new(NULL, &error);
  g_assert_no_error(error);
  ecsa_docker_client_request_unversioned_async(client, "GET", "/info", 0, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  body = ecsa_docker_client_request_finish(client, res, &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 200);
  g_assert_true(json_parser_load_from_data(parser, g_bytes_get_data(body, NULL), g_bytes_get_size(body), &error));
  g_assert_no_error(error);
  g_assert_true(json_object_has_member(json_node_get_object(json_parser_get_root(parser)), "ServerVersion"));
  /* nothing was negotiated */
  g_assert_null(ecsa_docker_client_get_api_version(client));
  g_assert_null(ecsa_docker_client_get_server_version(client));
}

static void
test_unreachable(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  client = ecsa_docker_client_new("unix:///nonexistent/ecsa/docker.sock", &error);
  g_assert_no_error(error);
  ecsa_docker_client_inspect_container_async(client, "x", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  node = ecsa_docker_client_inspect_container_finish(client, res, &error);
  g_assert_null(node);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_RETRY);
  g_assert_nonnull(strstr(error->message, "cannot reach dockerd at 'unix:///nonexistent/ecsa/docker.sock'"));
  g_assert_nonnull(strstr(error->message, "inspect container 'x'"));
}

static void
test_cancel(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "cancel");
  g_autofree char *id = create_sync(fx, name, "trap '' TERM; while true; do sleep 1; done");
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  start_sync(fx, id);
  ecsa_docker_client_stop_container_async(fx->client, id, 30, cancellable, store_result_cb, &fx->result);
  g_cancellable_cancel(cancellable);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_stop_container_finish(fx->client, res, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_list_and_request(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "list");
  g_autofree char *id = create_sync(fx, name, "true");
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(GBytes) body = NULL;
  gboolean found = FALSE;
  guint status = 0;
  g_autofree char *path = NULL;

  ecsa_docker_client_list_containers_async(fx->client, "ecsa.test=docker-client", NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  list = ecsa_docker_client_list_containers_finish(fx->client, res, &error);
  g_assert_no_error(error);
  for (guint i = 0; i < json_array_get_length(json_node_get_array(list)); i++)
    {
      JsonObject *c = json_array_get_object_element(json_node_get_array(list), i);
      g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(c, "Labels"), "ecsa.test"), ==,
                      "docker-client");
      if (g_strcmp0(json_object_get_string_member(c, "Id"), id) == 0)
        found = TRUE;
    }
  g_assert_true(found);
  g_clear_object(&res);

  /* the generic call returns Docker's status and body without turning them into errors */
  path = g_strdup_printf("/containers/%snothere/json", fx->prefix);
  ecsa_docker_client_request_async(fx->client, "GET", path, NULL, 0, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  body = ecsa_docker_client_request_finish(fx->client, res, &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 404);
  g_assert_nonnull(g_strstr_len(g_bytes_get_data(body, NULL), g_bytes_get_size(body), "No such container"));
}

static void
test_volume(Fixture *fx, gconstpointer data)
{
  g_autofree char *name = name_for(fx, "vol");
  g_autoptr(GHashTable) labels = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *fmt = NULL;
  g_autofree char *out = NULL;

  g_hash_table_insert(labels, (gpointer) "com.amazonaws.ecs.task-arn", (gpointer) "arn:aws:ecs:r:1:task/x");
  ecsa_docker_client_create_volume_async(fx->client, name, labels, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_create_volume_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_clear_object(&res);
  out = ecsa_test_docker_cli(NULL, "volume", "inspect", "-f", "{{index .Labels \"com.amazonaws.ecs.task-arn\"}}", name,
                             NULL);
  g_assert_cmpstr(out, ==, "arn:aws:ecs:r:1:task/x");

  ecsa_docker_client_remove_volume_async(fx->client, name, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_remove_volume_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(NULL, "volume", "inspect", name, NULL);
  g_assert_null(out);
}

static void
test_pull_registry(Fixture *fx, gconstpointer data)
{
  g_autofree char *repo = g_strdup_printf("%spull", fx->prefix);
  g_autoptr(EcsaTestRegistry) registry = ecsa_test_registry_start(repo);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *no_tag = NULL;

  g_assert_null(ecsa_test_docker_cli(NULL, "image", "inspect", ecsa_test_registry_get_image(registry), NULL));
  /* no tag: ":latest" is pulled */
  no_tag = g_strdup_printf("%s/%s", ecsa_test_registry_get_host(registry), repo);
  ecsa_docker_client_pull_image_async(fx->client, no_tag, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_true(ecsa_docker_client_pull_image_finish(fx->client, res, &error));
  g_assert_no_error(error);
  g_clear_object(&res);
  out = ecsa_test_docker_cli(NULL, "image", "inspect", "-f", "{{.Id}}", ecsa_test_registry_get_image(registry), NULL);
  g_assert_nonnull(out);

  missing = g_strdup_printf("%s/%snothere:latest", ecsa_test_registry_get_host(registry), fx->prefix);
  ecsa_docker_client_pull_image_async(fx->client, missing, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_pull_image_finish(fx->client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "pull image"));
  g_assert_nonnull(strstr(error->message, "not found"));
}

static gboolean
hold_connection_cb(GSocketService *service, GSocketConnection *connection, GObject *source, gpointer user_data)
{
  g_ptr_array_add(user_data, g_object_ref(connection));
  return TRUE;
}

/* A registry that accepts the connection and never answers: no progress within the pull-begin
 * limit (5 min in v1.16.2, shortened here) fails the pull as a timeout. */
static void
test_pull_begin_timeout(Fixture *fx, gconstpointer data)
{
  g_autoptr(GSocketService) service = g_socket_service_new();
  g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *image = NULL;
  guint16 port;

  port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(service), NULL, &error);
  g_assert_no_error(error);
  g_signal_connect(service, "incoming", G_CALLBACK(hold_connection_cb), held);
  g_socket_service_start(service);
  image = g_strdup_printf("127.0.0.1:%u/%shung:latest", port, fx->prefix);
  ecsa_docker_client_set_timeout(fx->client, ECSA_DOCKER_CALL_PULL_BEGIN, 500);
  ecsa_docker_client_pull_image_async(fx->client, image, NULL, NULL, store_result_cb, &fx->result);
  res = wait_result(fx);
  g_assert_false(ecsa_docker_client_pull_image_finish(fx->client, res, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_nonnull(strstr(error->message, "timed out after 0.5s without any progress"));
  g_assert_nonnull(strstr(error->message, image));
  g_socket_service_stop(service);
  g_socket_listener_close(G_SOCKET_LISTENER(service));
}

static void
test_registry_auth_encoding(void)
{
  EcsaRegistryCredentials creds
    = { .username = (char *)"user", .password = (char *)"p?>>~~~", .server_address = (char *)"127.0.0.1:5000" };
  g_autofree char *encoded = ecsa_docker_client_encode_registry_auth(&creds);
  g_autofree char *std = g_strdup(encoded);
  g_autofree guchar *decoded = NULL;
  gsize len = 0;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *o;

  g_assert_null(strchr(encoded, '+'));
  g_assert_null(strchr(encoded, '/'));
  g_assert_cmpuint(strlen(encoded) % 4, ==, 0); /* padded */
  for (char *p = std; *p; p++)
    *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
  g_assert_true(strchr(std, '+') != NULL || strchr(std, '/') != NULL); /* the case matters */
  decoded = g_base64_decode(std, &len);
  node = json_from_string((const char *)decoded, NULL);
  g_assert_nonnull(node);
  o = json_node_get_object(node);
  g_assert_cmpstr(json_object_get_string_member(o, "username"), ==, "user");
  g_assert_cmpstr(json_object_get_string_member(o, "password"), ==, "p?>>~~~");
  g_assert_cmpstr(json_object_get_string_member(o, "serveraddress"), ==, "127.0.0.1:5000");
  g_assert_false(json_object_has_member(o, "email"));
}

static void
test_image_reference(void)
{
  struct
  {
    const char *in, *tagged, *registry;
  } cases[] = {
    { "busybox", "busybox:latest", "index.docker.io" },
    { "busybox:1.36", "busybox:1.36", "index.docker.io" },
    { "library/busybox", "library/busybox:latest", "index.docker.io" },
    { "127.0.0.1:5000/repo", "127.0.0.1:5000/repo:latest", "127.0.0.1:5000" },
    { "127.0.0.1:5000/repo:v1", "127.0.0.1:5000/repo:v1", "127.0.0.1:5000" },
    { "localhost/x", "localhost/x:latest", "localhost" },
    { "123.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abcd", "123.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abcd",
      "123.dkr.ecr.us-east-1.amazonaws.com" },
    { "docker.io/library/x", "docker.io/library/x:latest", "index.docker.io" },
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autofree char *t = ecsa_docker_image_reference_with_tag(cases[i].in);
      g_autofree char *r = ecsa_docker_image_registry(cases[i].in);
      g_assert_cmpstr(t, ==, cases[i].tagged);
      g_assert_cmpstr(r, ==, cases[i].registry);
    }
  g_assert_cmpint(ecsa_docker_api_version_compare("1.41", "1.24"), >, 0);
  g_assert_cmpint(ecsa_docker_api_version_compare("1.9", "1.24"), <, 0);
  g_assert_cmpint(ecsa_docker_api_version_compare("1.41", "1.41"), ==, 0);
  g_assert_cmpint(ecsa_docker_api_version_compare("2.0", "1.44"), >, 0);
}

/* --- events --- */

typedef struct
{
  const char *id; /* wanted container */
  char *actions;  /* "start,die," as seen */
  gboolean connected;
  gboolean reconnected;
} EventLog;

static void
container_event_cb(EcsaDockerClient *client, const char *id, const char *action, JsonObject *attributes,
                   gint64 time_nano, gpointer user_data)
{
  EventLog *log = user_data;

  if (log->id == NULL || strcmp(id, log->id) != 0)
    return;
  g_assert_cmpint(time_nano, >, 0);
  {
    char *old = log->actions;
    log->actions = g_strconcat(old != NULL ? old : "", action, ",", NULL);
    g_free(old);
  }
}

static void
events_connected_cb(EcsaDockerClient *client, gboolean reconnected, gpointer user_data)
{
  EventLog *log = user_data;

  log->connected = TRUE;
  if (reconnected)
    log->reconnected = TRUE;
}

static gboolean
log_connected(gpointer user_data)
{
  return ((EventLog *)user_data)->connected;
}

static gboolean
log_reconnected(gpointer user_data)
{
  return ((EventLog *)user_data)->reconnected;
}

static gboolean
log_has_die(gpointer user_data)
{
  EventLog *log = user_data;

  return log->actions != NULL && strstr(log->actions, "die,") != NULL;
}

static void
test_events(Fixture *fx, gconstpointer data)
{
  EventLog log = { 0 };
  g_autofree char *name = name_for(fx, "ev");
  g_autofree char *id = NULL;
  g_autofree char *out = NULL;

  g_signal_connect(fx->client, "container-event", G_CALLBACK(container_event_cb), &log);
  g_signal_connect(fx->client, "events-connected", G_CALLBACK(events_connected_cb), &log);
  ecsa_docker_client_watch_events(fx->client, NULL);
  ecsa_test_wait_until(NULL, log_connected, &log, GUARD_MS, "event stream connected");
  g_assert_true(ecsa_docker_client_events_connected(fx->client));
  g_assert_false(log.reconnected);

  /* an independent client makes the container live and die */
  id = ecsa_test_docker_cli(NULL, "create", "--name", name, "--network", "none", ECSA_TEST_IMAGE, "sh", "-c", "exit 3",
                            NULL);
  g_assert_nonnull(id);
  log.id = id;
  out = ecsa_test_docker_cli(NULL, "start", id, NULL);
  ecsa_test_wait_until(NULL, log_has_die, &log, GUARD_MS, "die event");
  g_assert_nonnull(strstr(log.actions, "start,"));
  g_assert_true(strstr(log.actions, "start,") < strstr(log.actions, "die,"));
  ecsa_docker_client_unwatch_events(fx->client);
  g_assert_false(ecsa_docker_client_events_connected(fx->client));
  g_free(log.actions);
}

/* With a label filter, only the containers carrying the label are followed. */
static void
test_events_label_filter(Fixture *fx, gconstpointer data)
{
  EventLog labelled = { 0 };
  EventLog other = { 0 };
  g_autofree char *n1 = name_for(fx, "evl1");
  g_autofree char *n2 = name_for(fx, "evl2");
  g_autofree char *label = g_strdup_printf("ecsa.test.events=%s", fx->prefix);
  g_autofree char *filter = g_strdup_printf("ecsa.test.events=%s", fx->prefix);
  g_autofree char *id1 = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *out = NULL;

  g_signal_connect(fx->client, "container-event", G_CALLBACK(container_event_cb), &labelled);
  g_signal_connect(fx->client, "container-event", G_CALLBACK(container_event_cb), &other);
  g_signal_connect(fx->client, "events-connected", G_CALLBACK(events_connected_cb), &labelled);
  ecsa_docker_client_watch_events(fx->client, filter);
  ecsa_test_wait_until(NULL, log_connected, &labelled, GUARD_MS, "event stream connected");
  id2 = ecsa_test_docker_cli(NULL, "create", "--name", n2, "--network", "none", ECSA_TEST_IMAGE, "true", NULL);
  id1 = ecsa_test_docker_cli(NULL, "create", "--name", n1, "--label", label, "--network", "none", ECSA_TEST_IMAGE,
                             "true", NULL);
  other.id = id2;
  labelled.id = id1;
  out = ecsa_test_docker_cli(NULL, "start", id2, NULL);
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(NULL, "start", id1, NULL);
  ecsa_test_wait_until(NULL, log_has_die, &labelled, GUARD_MS, "die event of the labelled container");
  /* the unlabelled one started first: its events would have come first */
  g_assert_null(other.actions);
  ecsa_docker_client_unwatch_events(fx->client);
  g_free(labelled.actions);
}

static void
capture_line_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  GPtrArray *warnings = *(GPtrArray **) user_data;

  if (level <= ECSA_LOG_WARN)
    g_ptr_array_add(warnings, g_strdup(line));
}

/* dockerd "goes away" (the proxy drops it) and comes back: the stream is re-established and the
 * events that happened meanwhile are replayed. */
static void
test_events_reconnect(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autoptr(EcsaDockerClient) client = NULL;
  g_autoptr(GError) error = NULL;
  EventLog log = { 0 };
  g_autofree char *name = name_for(fx, "evr");
  g_autofree char *warm = name_for(fx, "evr-warm");
  g_autofree char *warm_id = NULL;
  g_autofree char *id = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);

  client = ecsa_docker_client_new(ecsa_test_docker_proxy_get_host(proxy), &error);
  g_assert_no_error(error);
  g_signal_connect(client, "container-event", G_CALLBACK(container_event_cb), &log);
  g_signal_connect(client, "events-connected", G_CALLBACK(events_connected_cb), &log);
  ecsa_docker_client_watch_events(client, NULL);
  ecsa_test_wait_until(NULL, log_connected, &log, GUARD_MS, "event stream connected");

  /* one event seen before the outage gives the client a point to replay from */
  warm_id = ecsa_test_docker_cli(NULL, "create", "--name", warm, "--network", "none", ECSA_TEST_IMAGE, "true", NULL);
  log.id = warm_id;
  out = ecsa_test_docker_cli(NULL, "start", warm_id, NULL);
  ecsa_test_wait_until(NULL, log_has_die, &log, GUARD_MS, "die event of the warm-up container");
  g_clear_pointer(&log.actions, g_free);

  ecsa_log_set_capture(capture_line_cb, &warnings);
  ecsa_test_docker_proxy_pause(proxy);
  id = ecsa_test_docker_cli(NULL, "create", "--name", name, "--network", "none", ECSA_TEST_IMAGE, "sh", "-c", "exit 4",
                            NULL);
  log.id = id;
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(NULL, "start", id, NULL);
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(NULL, "wait", id, NULL);
  g_assert_cmpstr(out, ==, "4");
  /* spin the loop so the client notices the drop while the proxy is down */
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration(NULL, FALSE);
  g_assert_null(log.actions);
  ecsa_test_docker_proxy_resume(proxy);
  ecsa_test_wait_until(NULL, log_reconnected, &log, GUARD_MS, "event stream re-established");
  ecsa_test_wait_until(NULL, log_has_die, &log, GUARD_MS, "replayed die event");
  g_assert_nonnull(strstr(log.actions, "start,"));
  ecsa_log_set_capture(NULL, NULL);
  /* the outage was reported once, as a warning naming the daemon */
  g_assert_cmpuint(warnings->len, ==, 1);
  g_assert_nonnull(strstr(warnings->pdata[0], "Docker event stream from"));
  g_assert_nonnull(strstr(warnings->pdata[0], "lost"));
  ecsa_docker_client_unwatch_events(client);
  g_free(log.actions);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* the agent's log writer, so the tests can see what the client logs */
  ecsa_log_init();
  ecsa_log_set_level(ECSA_LOG_DEBUG);
  ecsa_log_set_console(-1);
  ecsa_test_docker_require();

  g_test_add_func("/docker-client/host/invalid", test_host_invalid);
  g_test_add_func("/docker-client/registry-auth/encoding", test_registry_auth_encoding);
  g_test_add_func("/docker-client/image-reference", test_image_reference);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/docker-client/negotiate", test_negotiate);
  ADD("/docker-client/negotiate/ping", test_negotiate_ping);
  ADD("/docker-client/negotiate/fallback", test_negotiate_fallback);
  ADD("/docker-client/lifecycle", test_lifecycle);
  ADD("/docker-client/errors/not-found", test_not_found);
  ADD("/docker-client/errors/conflict-and-bad-request", test_conflict_and_bad_request);
  ADD("/docker-client/api-version-override", test_api_version_override);
  ADD("/docker-client/stop/kills-after-stop-timeout", test_stop_kills_after_timeout);
  ADD("/docker-client/timeout/stop", test_stop_call_timeout);
  ADD("/docker-client/timeout/hung-daemon", test_hung_daemon);
  ADD("/docker-client/unversioned-request", test_unversioned_request);
  ADD("/docker-client/create-limit", test_create_limit);
  ADD("/docker-client/create-admission", test_create_admission);
  ADD("/docker-client/unreachable", test_unreachable);
  ADD("/docker-client/cancel", test_cancel);
  ADD("/docker-client/inspect-image/shared", test_inspect_image_shared);
  ADD("/docker-client/list-and-request", test_list_and_request);
  ADD("/docker-client/volume", test_volume);
  ADD("/docker-client/pull/registry", test_pull_registry);
  ADD("/docker-client/pull/begin-timeout", test_pull_begin_timeout);
  ADD("/docker-client/events/follow", test_events);
  ADD("/docker-client/events/reconnect", test_events_reconnect);
  ADD("/docker-client/events/label-filter", test_events_label_filter);
  ADD("/docker-client/events/out-of-order", test_events_out_of_order);
#undef ADD
  return g_test_run();
}
