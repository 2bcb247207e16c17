/* test-task-engine.c: the task engine against the real dockerd: start order, ports answering
 * through their mapping, essential containers, stop and kill, refusals, pulls, independence.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-credentials-manager.h"
#include "ecsa-task-engine.h"
#include "ecsa-task-view.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 120000

static EcsaTestRegistry *registry;
static const char *image; /* the test image, served by the local registry */

typedef struct
{
  EcsaTestEngine *te;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->te = ecsa_test_engine_new("eng");
  ecsa_test_engine_start(fx->te, NULL);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_pointer(&fx->te, ecsa_test_engine_free);
}

static char *
container_json(const char *name, gboolean essential, const char *cmd, const char *extra)
{
  return g_strdup_printf("{\"name\":\"%s\",\"image\":\"%s\",\"essential\":%s,\"cpu\":10,\"memory\":64,"
                         "\"command\":[\"sh\",\"-c\",\"%s\"]%s%s}",
                         name, image, essential ? "true" : "false", cmd, extra != NULL ? "," : "",
                         extra != NULL ? extra : "");
}

/* A payload of one task `name` with one container (container_json's text). */
static char *
one_task_payload(EcsaTestEngine *te, const char *name, const char *desired, const char *container)
{
  g_autofree char *containers = g_strdup_printf("[%s]", container);
  g_autofree char *task = ecsa_test_engine_task_json(te, name, desired, containers);

  return g_strdup_printf("[%s]", task);
}

static JsonObject *
inspect_one(const char *arn, const char *container)
{
  g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(arn, container);

  g_assert_cmpuint(ids->len, ==, 1);
  return ecsa_test_docker_inspect(ids->pdata[0]);
}

static char *
http_get_once(guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GString) out = g_string_new(NULL);
  const char *req = "GET / HTTP/1.0\r\n\r\n";
  char buf[1024];
  gssize n;

  g_socket_client_set_timeout(client, 5);
  g_socket_client_set_enable_proxy(client, FALSE);
  conn = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, NULL);
  if (conn == NULL
      || !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), req, strlen(req), NULL, NULL,
                                    NULL))
    return g_strdup("");
  while ((n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf, sizeof buf, NULL, NULL)) > 0)
    g_string_append_len(out, buf, n);
  return g_string_free(g_steal_pointer(&out), FALSE);
}

/* RUNNING means the container's process started; the server in it may need a moment to listen. */
static char *
http_get(guint16 port)
{
  gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;

  for (;;)
    {
      char *body = http_get_once(port);
      if (strstr(body, "hello from ecs-agent") != NULL || g_get_monotonic_time() > deadline)
        return body;
      g_free(body);
      g_usleep(100 * 1000);
    }
}

static guint16
free_tcp_port(void)
{
  g_autoptr(GSocketListener) l = g_socket_listener_new();
  g_autoptr(GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port(l, NULL, &error);

  g_assert_no_error(error);
  g_socket_listener_close(l);
  return port;
}

/* ------------------------------------------------------------------------------------------- */

/* web links db and takes its volumes: db runs first; web's ports answer through their mappings,
 * a static one and a dynamic one; a desired STOPPED stops both with SIGTERM and reports it. */
static void
test_run_and_stop(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "web");
  guint16 static_port = free_tcp_port();
  g_autofree char *ports = g_strdup_printf("\"links\":[\"db:database\"],\"volumesFrom\":[{\"sourceContainer\":\"db\"}],"
                                           "\"portMappings\":[{\"containerPort\":80,\"hostPort\":%u},"
                                           "{\"containerPort\":8080}]",
                                           static_port);
  g_autofree char *web = container_json("web", TRUE,
                                        "httpd -p 80 -h /www; httpd -p 8080 -h /www; "
                                        "trap 'exit 0' TERM; sleep 600 & wait",
                                        ports);
  g_autofree char *db = container_json("db", FALSE, "trap 'exit 0' TERM; sleep 600 & wait", NULL);
  g_autofree char *containers = g_strdup_printf("[%s,%s]", web, db);
  g_autofree char *task = ecsa_test_engine_task_json(te, "web", "RUNNING", containers);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autofree char *stop_task = ecsa_test_engine_task_json(te, "web", "STOPPED", containers);
  g_autofree char *stop_payload = g_strdup_printf("[%s]", stop_task);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) wi = NULL;
  g_autoptr(JsonObject) di = NULL;
  g_autoptr(EcsaTaskView) view = NULL;
  const EcsaStateChange *c;
  guint16 dynamic_port = 0;
  gboolean saw_static = FALSE;
  g_autofree char *body = NULL;
  g_autofree char *body2 = NULL;
  const char *wstart, *dstart;
  guint task_changes_before;

  rejected = ecsa_test_engine_apply(te, payload, 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 0);
  c = ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  g_assert_nonnull(c);
  /* the task change carries the containers not yet acknowledged (none: they were, one by one) */
  g_assert_nonnull(ecsa_test_engine_find(te, arn, "db", "RUNNING"));
  c = ecsa_test_engine_find(te, arn, "web", "RUNNING");
  g_assert_nonnull(c);
  /* dockerd 20.10 lists 0.0.0.0 and :: for each mapping */
  g_assert_cmpuint(c->network_bindings->len, >=, 2);
  for (guint i = 0; i < c->network_bindings->len; i++)
    {
      EcsaNetworkBinding *nb = c->network_bindings->pdata[i];
      g_assert_cmpstr(nb->protocol, ==, "tcp");
      if (nb->container_port == 80)
        {
          g_assert_cmpuint(nb->host_port, ==, static_port);
          saw_static = TRUE;
        }
      /* the IPv4 one: dockerd 20.10 may choose another port for :: (moby/moby#43246) */
      if (nb->container_port == 8080 && g_strcmp0(nb->bind_ip, "0.0.0.0") == 0)
        dynamic_port = nb->host_port;
    }
  g_assert_true(saw_static);
  g_assert_cmpuint(dynamic_port, >, 0);
  body = http_get(static_port);
  g_assert_nonnull(strstr(body, "hello from ecs-agent"));
  body2 = http_get(dynamic_port);
  g_assert_nonnull(strstr(body2, "hello from ecs-agent"));

  /* start order: db before web; names and labels as v1.16.2 */
  wi = inspect_one(arn, "web");
  di = inspect_one(arn, "db");
  wstart = json_object_get_string_member(json_object_get_object_member(wi, "State"), "StartedAt");
  dstart = json_object_get_string_member(json_object_get_object_member(di, "State"), "StartedAt");
  g_assert_cmpstr(dstart, <, wstart);
  {
    g_autofree char *want = g_strdup_printf("/ecs-%sf-1-web-", te->prefix);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(wi, "Name"), want));
    g_assert_cmpuint(strlen(json_object_get_string_member(wi, "Name")), ==, strlen(want) + 20);
  }
  {
    JsonObject *labels = json_object_get_object_member(json_object_get_object_member(wi, "Config"), "Labels");
    g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.task-arn"), ==, arn);
    g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.container-name"), ==, "web");
    g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.cluster"), ==, te->config->cluster);
    g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.task-definition-version"), ==, "1");
  }
  {
    JsonObject *hc = json_object_get_object_member(wi, "HostConfig");
    g_assert_cmpint(json_object_get_int_member(hc, "Memory"), ==, 64 * 1024 * 1024);
    g_assert_cmpint(json_object_get_int_member(hc, "CpuShares"), ==, 10);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(hc, "Links")), ==, 1);
  }
  view = ecsa_task_engine_get_task_view(te->engine, arn);
  g_assert_nonnull(view);
  g_assert_cmpstr(view->known_status, ==, "RUNNING");
  g_assert_cmpuint(view->n_containers, ==, 2);
  g_assert_cmpint(ecsa_task_view_get_container(view, "web")->pid, >, 0);
  g_clear_pointer(&view, ecsa_task_view_free);
  view = ecsa_task_engine_get_task_view_by_docker_id(te->engine, json_object_get_string_member(wi, "Id"));
  g_assert_nonnull(view);
  g_assert_cmpstr(view->arn, ==, arn);
  g_clear_pointer(&view, ecsa_task_view_free);

  /* the same payload again (ACS resends what it did not hear acked): nothing new */
  task_changes_before = te->changes->len;
  g_clear_pointer(&rejected, g_ptr_array_unref);
  rejected = ecsa_test_engine_apply(te, payload, 10, &error);
  g_assert_no_error(error);
  ecsa_test_run_for(200);
  g_assert_cmpuint(te->changes->len, ==, task_changes_before);

  g_clear_pointer(&rejected, g_ptr_array_unref);
  rejected = ecsa_test_engine_apply(te, stop_payload, 11, &error);
  g_assert_no_error(error);
  c = ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  c = ecsa_test_engine_find(te, arn, "web", "STOPPED");
  g_assert_nonnull(c);
  g_assert_true(c->has_exit_code);
  g_assert_cmpint(c->exit_code, ==, 0); /* the trap saw SIGTERM */
  g_assert_cmpuint(c->network_bindings->len, ==, 0);
  c = ecsa_test_engine_find(te, arn, "db", "STOPPED");
  g_assert_nonnull(c);
  g_assert_cmpint(c->exit_code, ==, 0);
  /* each transition reported once */
  g_assert_cmpuint(ecsa_test_engine_count(te, arn, NULL, "RUNNING"), ==, 1);
  g_assert_cmpuint(ecsa_test_engine_count(te, arn, "web", "STOPPED"), ==, 1);
}

/* An essential container that exits stops its task, and its exit code is reported. */
static void
test_essential_exit(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "ess");
  g_autofree char *main_c = container_json("main", TRUE, "sleep 1; exit 3", NULL);
  g_autofree char *side = container_json("side", FALSE, "trap 'exit 0' TERM; sleep 600 & wait", NULL);
  g_autofree char *containers = g_strdup_printf("[%s,%s]", main_c, side);
  g_autofree char *task = ecsa_test_engine_task_json(te, "ess", "RUNNING", containers);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  const EcsaStateChange *c;

  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  c = ecsa_test_engine_find(te, arn, "main", "STOPPED");
  g_assert_nonnull(c);
  g_assert_true(c->has_exit_code);
  g_assert_cmpint(c->exit_code, ==, 3);
  c = ecsa_test_engine_find(te, arn, "side", "STOPPED");
  g_assert_nonnull(c);
  g_assert_true(c->has_exit_code);
  /* stopped by the agent: its trap answers SIGTERM with 0, unless the SIGTERM came before the
   * shell set the trap (a loaded machine), and then Docker's SIGKILL ends it */
  g_assert_true(c->exit_code == 0 || c->exit_code == 137);
  g_assert_nonnull(ecsa_test_engine_find(te, arn, NULL, "RUNNING"));
}

/* A container that ignores SIGTERM is killed after ECS_CONTAINER_STOP_TIMEOUT. */
static void
test_stop_timeout_kills(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "kill");
  g_autofree char *c1 = container_json("ignores-term", TRUE, "trap '' TERM; while true; do sleep 1; done", NULL);
  g_autofree char *containers = g_strdup_printf("[%s]", c1);
  g_autofree char *task = ecsa_test_engine_task_json(te, "kill", "RUNNING", containers);
  g_autofree char *stop = ecsa_test_engine_task_json(te, "kill", "STOPPED", containers);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autofree char *stop_payload = g_strdup_printf("[%s]", stop);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  const EcsaStateChange *c;
  gint64 t0;

  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  g_clear_pointer(&rejected, g_ptr_array_unref);
  t0 = g_get_monotonic_time();
  rejected = ecsa_test_engine_apply(te, stop_payload, 2, &error);
  c = ecsa_test_engine_wait(te, arn, "ignores-term", "STOPPED", GUARD_MS);
  /* the stop timeout is 2 s: SIGTERM, two seconds, SIGKILL */
  g_assert_cmpint(g_get_monotonic_time() - t0, >=, 2 * G_USEC_PER_SEC);
  g_assert_cmpint(c->exit_code, ==, 137);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
}

/* One bad task is refused with its reason and reported STOPPED; the others of the payload run. */
static void
test_refused(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *good_arn = ecsa_test_engine_arn(te, "good");
  g_autofree char *bad_arn = ecsa_test_engine_arn(te, "bad");
  g_autofree char *priv_arn = ecsa_test_engine_arn(te, "priv");
  g_autofree char *good_c = container_json("c", TRUE, "trap 'exit 0' TERM; sleep 600 & wait", NULL);
  g_autofree char *good = g_strdup_printf("[%s]", good_c);
  g_autofree char *t_good = ecsa_test_engine_task_json(te, "good", "RUNNING", good);
  g_autofree char *t_bad
    = ecsa_test_engine_task_json(te, "bad", "RUNNING", "[{\"name\":\"x\",\"image\":\"i\",\"cpu\":\"many\"}]");
  g_autofree char *priv_c
    = container_json("p", TRUE, "true", "\"dockerConfig\":{\"hostConfig\":\"{\\\"Privileged\\\":true}\"}");
  g_autofree char *privs = g_strdup_printf("[%s]", priv_c);
  g_autofree char *t_priv = ecsa_test_engine_task_json(te, "priv", "RUNNING", privs);
  g_autofree char *payload = g_strdup_printf("[%s,%s,42,%s]", t_bad, t_good, t_priv);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ids = NULL;

  te->config->privileged_disabled = TRUE;
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 3);
  g_assert_nonnull(strstr(rejected->pdata[0], bad_arn));
  g_assert_nonnull(strstr(rejected->pdata[0], "'cpu' must be an integer"));
  g_assert_nonnull(strstr(rejected->pdata[1], "task #2 of the payload"));
  g_assert_nonnull(strstr(rejected->pdata[2], "ECS_DISABLE_PRIVILEGED"));
  /* the ACS session reports refused tasks; the engine knows nothing of them */
  g_assert_null(ecsa_test_engine_find(te, bad_arn, NULL, "STOPPED"));
  g_assert_null(ecsa_test_engine_find(te, priv_arn, NULL, "STOPPED"));
  {
    g_autoptr(EcsaStateChange) fake = g_new0(EcsaStateChange, 1);
    fake->kind = ECSA_STATE_CHANGE_TASK;
    fake->task_arn = g_strdup(bad_arn);
    fake->status = g_strdup("STOPPED");
    /* an acknowledgement for a task the engine does not know is harmless */
    ecsa_task_engine_mark_sent(te->engine, fake);
  }
  ecsa_test_engine_wait(te, good_arn, NULL, "RUNNING", GUARD_MS);
  ids = ecsa_test_engine_docker_ids(priv_arn, NULL);
  g_assert_cmpuint(ids->len, ==, 0);
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 1);
}

/* An image the registry does not have: v1.16.2 tries the cached image, the create fails, and the
 * task stops with the pull's reason. */
static void
test_pull_failure(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "nopull");
  g_autofree char *missing = g_strdup_printf("%s/%snothere:latest", ecsa_test_registry_get_host(registry), te->prefix);
  g_autofree char *containers = g_strdup_printf("[{\"name\":\"c\",\"image\":\"%s\",\"essential\":true}]", missing);
  g_autofree char *task = ecsa_test_engine_task_json(te, "nopull", "RUNNING", containers);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  const EcsaStateChange *c;

  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  c = ecsa_test_engine_find(te, arn, "c", "STOPPED");
  g_assert_nonnull(c);
  g_assert_true(g_str_has_prefix(c->reason, "CannotPullContainerError: "));
  g_assert_nonnull(strstr(c->reason, "not found"));
  g_assert_false(c->has_exit_code);
  g_assert_null(ecsa_test_engine_find(te, arn, NULL, "RUNNING"));
}

static gboolean
hold_connection_cb(GSocketService *service, GSocketConnection *connection, GObject *source, gpointer user_data)
{
  g_ptr_array_add(user_data, g_object_ref(connection));
  return TRUE;
}

/* A task whose pull hangs does not hold up another task, and stopping it does not wait for the pull. */
static void
test_independent(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autoptr(GSocketService) hung = g_socket_service_new();
  g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(hung), NULL, &error);
  g_autofree char *slow_arn = ecsa_test_engine_arn(te, "slow");
  g_autofree char *fast_arn = ecsa_test_engine_arn(te, "fast");
  g_autofree char *slow_c = g_strdup_printf(
    "[{\"name\":\"c\",\"image\":\"127.0.0.1:%u/%shung:latest\",\"essential\":true}]", port, te->prefix);
  g_autofree char *fast_cj = container_json("c", TRUE, "trap 'exit 0' TERM; sleep 600 & wait", NULL);
  g_autofree char *fast_c = g_strdup_printf("[%s]", fast_cj);
  g_autofree char *t_slow = ecsa_test_engine_task_json(te, "slow", "RUNNING", slow_c);
  g_autofree char *t_fast = ecsa_test_engine_task_json(te, "fast", "RUNNING", fast_c);
  g_autofree char *t_slow_stop = ecsa_test_engine_task_json(te, "slow", "STOPPED", slow_c);
  g_autofree char *p1 = g_strdup_printf("[%s]", t_slow);
  g_autofree char *p2 = g_strdup_printf("[%s]", t_fast);
  g_autofree char *p3 = g_strdup_printf("[%s]", t_slow_stop);
  g_autoptr(GPtrArray) r1 = NULL;
  g_autoptr(GPtrArray) r2 = NULL;
  g_autoptr(GPtrArray) r3 = NULL;
  gint64 t0;

  g_assert_no_error(error);
  g_signal_connect(hung, "incoming", G_CALLBACK(hold_connection_cb), held);
  g_socket_service_start(hung);
  r1 = ecsa_test_engine_apply(te, p1, 1, &error);
  r2 = ecsa_test_engine_apply(te, p2, 2, &error);
  ecsa_test_engine_wait(te, fast_arn, NULL, "RUNNING", GUARD_MS);
  g_assert_null(ecsa_test_engine_find(te, slow_arn, NULL, "STOPPED"));
  t0 = g_get_monotonic_time();
  r3 = ecsa_test_engine_apply(te, p3, 3, &error);
  ecsa_test_engine_wait(te, slow_arn, NULL, "STOPPED", GUARD_MS);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
  g_socket_service_stop(hung);
  g_socket_listener_close(G_SOCKET_LISTENER(hung));
}

/* dockerConfig (config and hostConfig in strings) merged as v1.16.2 merges it, with the credentials
 * endpoint variable for a task role. */
static void
test_docker_config(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "dc");
  g_autofree char *extra = g_strdup(
    "\"environment\":{\"FROM_TASK\":\"1\"},"
    "\"dockerConfig\":{\"config\":\"{\\\"Labels\\\":{\\\"team\\\":\\\"blue\\\"},\\\"WorkingDir\\\":\\\"/tmp\\\"}\","
    "\"hostConfig\":\"{\\\"ReadonlyRootfs\\\":true,\\\"MemoryReservation\\\":33554432,\\\"ExtraHosts\\\":[\\\"db:10.0."
    "0.9\\\"]}\","
    "\"version\":\"1.24\"}");
  g_autofree char *c = container_json("c", TRUE, "trap 'exit 0' TERM; sleep 600 & wait", extra);
  g_autofree char *containers = g_strdup_printf("[%s]", c);
  g_autofree char *task = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) in = NULL;
  JsonObject *config, *hc;
  JsonArray *env;
  gboolean creds = FALSE, from_task = FALSE;

  task = g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"2\",\"desiredStatus\":\"RUNNING\","
                         "\"roleCredentials\":{\"credentialsId\":\"cred-123\",\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\","
                         "\"secretAccessKey\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\"sessionToken\":\"tok\"},"
                         "\"containers\":%s}",
                         arn, te->prefix, containers);
  payload = g_strdup_printf("[%s]", task);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  in = inspect_one(arn, "c");
  config = json_object_get_object_member(in, "Config");
  hc = json_object_get_object_member(in, "HostConfig");
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(config, "Labels"), "team"), ==, "blue");
  g_assert_cmpstr(json_object_get_string_member(config, "WorkingDir"), ==, "/tmp");
  g_assert_true(json_object_get_boolean_member(hc, "ReadonlyRootfs"));
  g_assert_cmpint(json_object_get_int_member(hc, "MemoryReservation"), ==, 33554432);
  g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(hc, "ExtraHosts"), 0), ==, "db:10.0.0.9");
  env = json_object_get_array_member(config, "Env");
  for (guint i = 0; i < json_array_get_length(env); i++)
    {
      const char *e = json_array_get_string_element(env, i);
      if (strcmp(e, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-123") == 0)
        creds = TRUE;
      if (strcmp(e, "FROM_TASK=1") == 0)
        from_task = TRUE;
    }
  g_assert_true(creds);
  g_assert_true(from_task);
  /* no secret reached the checkpoint */
  {
    g_autofree char *path = g_build_filename(te->dir, ECSA_STATE_STORE_FILE, NULL);
    g_autofree char *contents = NULL;
    ecsa_test_engine_stop(te);
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_nonnull(strstr(contents, "cred-123"));
    g_assert_null(strstr(contents, "AKIAIOSFODNN7EXAMPLE"));
    g_assert_null(strstr(contents, "wJalrXUtnFEMI"));
  }
}

/* Every task cleaned up and forgotten (fails the test after timeout_ms). */
static void
wait_no_tasks(EcsaTestEngine *te, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

  while (ecsa_task_engine_get_n_tasks(te->engine) > 0 && g_get_monotonic_time() < deadline)
    ecsa_test_run_for(100);
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 0);
}

/* Stopped tasks are removed after the cleanup wait, once ECS heard STOPPED, then forgotten; many
 * tasks churning through leave nothing behind. */
static void
test_cleanup_churn(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  const guint n = 6;
  g_autoptr(GString) payload = g_string_new("[");
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) images = NULL;

  ecsa_test_engine_stop(te);
  te->config->task_cleanup_wait_duration = 1 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("churn%u", i);
      g_autofree char *cj = container_json("c", TRUE, "exit 0",
                                           "\"mountPoints\":[{\"sourceVolume\":\"scratch\",\"containerPath\":\"/s\"}]");
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      g_autofree char *t = g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":"
                                           "\"RUNNING\",\"volumes\":[{\"name\":\"scratch\",\"host\":{}}],"
                                           "\"containers\":[%s]}",
                                           arn, te->prefix, cj);
      g_string_append_printf(payload, "%s%s", i > 0 ? "," : "", t);
    }
  g_string_append(payload, "]");
  rejected = ecsa_test_engine_apply(te, payload->str, 1, &error);
  g_assert_no_error(error);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("churn%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
    }
  wait_no_tasks(te, 20000);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("churn%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(arn, NULL);
      g_assert_cmpuint(ids->len, ==, 0);
    }
  {
    g_autofree char *filter = g_strdup_printf("name=ecs-%s", te->prefix);
    g_autofree char *vols = ecsa_test_docker_cli(NULL, "volume", "ls", "-q", "--filter", filter, NULL);
    g_assert_cmpstr(vols, ==, "");
  }
  /* the image is remembered for the image cleanup, with no user left */
  images = ecsa_task_engine_list_images(te->engine);
  g_assert_cmpuint(images->len, >=, 1);
  for (guint i = 0; i < images->len; i++)
    {
      EcsaImageView *v = images->pdata[i];
      g_assert_cmpuint(v->n_containers, ==, 0);
      g_assert_true(g_str_has_prefix(v->image_id, "sha256:"));
      g_assert_cmpint(v->last_used_at, >=, v->pulled_at);
    }
}

static gboolean
docker_running(const char *id)
{
  g_autoptr(JsonObject) inspect = ecsa_test_docker_inspect(id);
  JsonObject *state;

  g_assert_nonnull(inspect);
  state = json_object_get_object_member(inspect, "State");

  return json_object_get_boolean_member_with_default(state, "Running", FALSE);
}

static void
wait_cleaned_up(EcsaTestEngine *te, const char *arn, guint timeout_ms)
{
  g_autoptr(GPtrArray) ids = NULL;

  wait_no_tasks(te, timeout_ms);
  ids = ecsa_test_engine_docker_ids(arn, NULL);
  g_assert_cmpuint(ids->len, ==, 0);
}

/* A start that timed out is not taken for "never ran": dockerd may still start the container
 * after the agent gave up (a saturated daemon works through its queue), and the inspect after its
 * start event may time out too. The agent stops it, and the cleanup removes it even if it runs.
 * Before, such containers ran on and their removal failed ("cannot remove a running container"). */
static void
test_start_timeout(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "late");
  g_autofree char *c1 = container_json("c", TRUE, "trap 'exit 0' TERM; sleep 600 & wait", NULL);
  g_autofree char *payload = one_task_payload(te, "late", "RUNNING", c1);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GError) error = NULL;
  const EcsaStateChange *c;

  ecsa_test_engine_stop(te);
  te->config->task_cleanup_wait_duration = 3 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  /* the agent gives up on the start, and on every inspect, long before Docker answers */
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_START, 1);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_INSPECT, 1);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  c = ecsa_test_engine_wait(te, arn, "c", "STOPPED", GUARD_MS);
  g_assert_nonnull(strstr(c->reason, "CannotStartContainerError"));
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  ids = ecsa_test_engine_docker_ids(arn, "c");
  g_assert_cmpuint(ids->len, ==, 1);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_START, 0);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_INSPECT, 0);
  /* whether Docker ran it or not, nothing is left behind */
  wait_cleaned_up(te, arn, 30000);
}

/* A container that runs again after its task stopped is stopped once more; if it is started yet
 * again, the cleanup still removes it (forced) instead of leaving it behind. */
static void
test_cleanup_removes_running(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autofree char *arn = ecsa_test_engine_arn(te, "again");
  /* the first run exits at once; the next ones (same filesystem) wait for SIGTERM */
  g_autofree char *c1
    = container_json("c", TRUE, "if [ -e /ran ]; then trap 'exit 0' TERM; sleep 600 & wait; fi; touch /ran", NULL);
  g_autofree char *payload = one_task_payload(te, "again", "RUNNING", c1);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  gint64 deadline;

  ecsa_test_engine_stop(te);
  /* long enough for both restarts below even when a loaded dockerd takes seconds to start one (the
   * CLI call blocks this loop): the cleanup must come after them */
  te->config->task_cleanup_wait_duration = 25 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  ids = ecsa_test_engine_docker_ids(arn, "c");
  g_assert_cmpuint(ids->len, ==, 1);
  /* someone starts it again: the agent stops it */
  out = ecsa_test_docker_cli(NULL, "start", ids->pdata[0], NULL);
  deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  do
    ecsa_test_run_for(100);
  while (docker_running(ids->pdata[0]) && g_get_monotonic_time() < deadline);
  g_assert_false(docker_running(ids->pdata[0]));
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 1); /* not cleaned up yet */
  /* and again: it was stopped once more already, so it runs until the cleanup */
  g_free(out);
  out = ecsa_test_docker_cli(NULL, "start", ids->pdata[0], NULL);
  ecsa_test_run_for(500);
  g_assert_true(docker_running(ids->pdata[0]));
  wait_cleaned_up(te, arn, 45000);
}

/* An ECR pull "with the execution role" waits for ACS to deliver the role's credentials. */
static void
test_execution_credentials_wait(Fixture *fx, gconstpointer data)
{
  EcsaTestEngine *te = fx->te;
  g_autoptr(EcsaCredentialsManager) creds = ecsa_credentials_manager_new();
  g_autofree char *arn = ecsa_test_engine_arn(te, "exec");
  g_autofree char *c = container_json("c", TRUE, "trap 'exit 0' TERM; sleep 600 & wait",
                                      "\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":{\"region\":"
                                      "\"us-west-2\",\"useExecutionRole\":true}}");
  g_autofree char *task = g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":"
                                          "\"RUNNING\",\"executionRoleCredentials\":{\"credentialsId\":\"exec-1\"},"
                                          "\"containers\":[%s]}",
                                          arn, te->prefix, c);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autoptr(JsonNode) role = json_from_string("{\"credentialsId\":\"exec-1\",\"accessKeyId\":\"AKIAEXECUTIONROLE01\","
                                              "\"secretAccessKey\":\"secret\",\"sessionToken\":\"token\","
                                              "\"expiration\":\"2030-01-01T00:00:00Z\"}",
                                              NULL);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTaskView) view = NULL;

  ecsa_task_engine_set_credentials_manager(te->engine, creds);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  ecsa_test_run_for(1500);
  view = ecsa_task_engine_get_task_view(te->engine, arn);
  g_assert_cmpstr(view->containers[0]->known_status, ==, "NONE"); /* not even pulled */
  g_assert_true(ecsa_credentials_manager_set_from_acs(creds, json_node_get_object(role), arn, "TaskExecution", &error));
  g_assert_no_error(error);
  /* no auth plugin in this test: the pull is anonymous from the local registry */
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  ecsa_test_engine_stop(te);
}

int
main(int argc, char **argv)
{
  g_autofree char *repo = NULL;
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* the engine warns about what goes wrong in the tasks these tests break on purpose */
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_test_docker_require();
  repo = g_strdup_printf("%sbusybox", ecsa_test_docker_prefix("eng"));
  registry = ecsa_test_registry_start(repo);
  image = ecsa_test_registry_get_image(registry);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/task-engine/run-and-stop", test_run_and_stop);
  ADD("/task-engine/essential-exit", test_essential_exit);
  ADD("/task-engine/stop-timeout-kills", test_stop_timeout_kills);
  ADD("/task-engine/refused", test_refused);
  ADD("/task-engine/pull-failure", test_pull_failure);
  ADD("/task-engine/independent-tasks", test_independent);
  ADD("/task-engine/docker-config", test_docker_config);
  ADD("/task-engine/cleanup-churn", test_cleanup_churn);
  ADD("/task-engine/start-timeout", test_start_timeout);
  ADD("/task-engine/cleanup-removes-running", test_cleanup_removes_running);
  ADD("/task-engine/execution-credentials-wait", test_execution_credentials_wait);
#undef ADD
  rc = g_test_run();
  ecsa_test_registry_stop(registry);
  return rc;
}
