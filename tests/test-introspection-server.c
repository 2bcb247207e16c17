/* test-introspection-server.c: the introspection API (port 51678 in the agent; an ephemeral port
 * here) against v1.16.2's JSON shapes, status codes and error cases, through real HTTP.
 * SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <unistd.h>

#include "ecsa-introspection-server.h"
#include "ecsa-log.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define TIMEOUT_MS 20000
#define ARN_1 "arn:aws:ecs:us-west-2:123456789012:task/11111111-aaaa-bbbb-cccc-000000000001"
#define ARN_2 "arn:aws:ecs:us-west-2:123456789012:task/22222222-aaaa-bbbb-cccc-000000000002"
#define ARN_3 "arn:aws:ecs:us-west-2:123456789012:task/33333333-aaaa-bbbb-cccc-000000000003"
#define ARN_4 "arn:aws:ecs:us-west-2:123456789012:task/44444444-aaaa-bbbb-cccc-000000000004"
#define ID_1A "1a2b3c4d5e6f00000000000000000000000000000000000000000000000000a1"
#define ID_1B "9f8e7d6c5b4a00000000000000000000000000000000000000000000000000b1"
#define ID_2A "2222222222220000000000000000000000000000000000000000000000000a2a"
#define ID_4A "1a2b3c4d5e6f99999999999999999999999999999999999999999999999999a4"
#define VERSION "Amazon ECS Agent - v1.16.2 (ecs-agent test)"
#define TEXT_PLAIN "text/plain; charset=utf-8"

#define TASK_1_JSON                                                                                                    \
  "{\"Arn\":\"" ARN_1 "\",\"DesiredStatus\":\"RUNNING\",\"KnownStatus\":\"RUNNING\",\"Family\":\"web\","               \
  "\"Version\":\"7\",\"Containers\":[{\"DockerId\":\"" ID_1A "\",\"DockerName\":\"ecs-web-7-app-d4e5f6\","             \
  "\"Name\":\"app\"},{\"DockerId\":\"" ID_1B "\",\"DockerName\":\"ecs-web-7-sidecar-a1b2c3\",\"Name\":\"sidecar\"}]}"
/* known STOPPED, desired RUNNING: v1.16.2 leaves DesiredStatus out */
#define TASK_2_JSON                                                                                                    \
  "{\"Arn\":\"" ARN_2 "\",\"KnownStatus\":\"STOPPED\",\"Family\":\"batch\",\"Version\":\"1\",\"Containers\":"          \
  "[{\"DockerId\":\"" ID_2A "\",\"DockerName\":\"ecs-batch-1-job-0a0b0c\",\"Name\":\"job\"}]}"
/* known NONE (PENDING): a container not created yet is not listed; one being created has a name only */
#define TASK_3_JSON                                                                                                    \
  "{\"Arn\":\"" ARN_3                                                                                                  \
  "\",\"DesiredStatus\":\"RUNNING\",\"KnownStatus\":\"PENDING\",\"Family\":\"fam\\u003c\\u0026\\u003e\","              \
  "\"Version\":\"2\",\"Containers\":[{\"DockerId\":\"\",\"DockerName\":\"ecs-fam-2-b-1f2e3d\",\"Name\":\"b\"}]}"
#define TASK_4_JSON                                                                                                    \
  "{\"Arn\":\"" ARN_4 "\",\"DesiredStatus\":\"RUNNING\",\"KnownStatus\":\"RUNNING\",\"Family\":\"web\","               \
  "\"Version\":\"8\",\"Containers\":[{\"DockerId\":\"" ID_4A "\",\"DockerName\":\"ecs-web-8-app-0f0e0d\","             \
  "\"Name\":\"app\"}]}"
#define NOT_FOUND_JSON "{\"Arn\":\"\",\"KnownStatus\":\"\",\"Family\":\"\",\"Version\":\"\",\"Containers\":null}"
#define COMMANDS_JSON "{\"AvailableCommands\":[\"/v1/metadata\",\"/v1/tasks\",\"/license\"]}"

typedef struct
{
  EcsaTestTasks *tasks;
  EcsaIntrospectionServer *server;
  guint16 port;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->tasks = ecsa_test_tasks_new();
  ecsa_test_tasks_add(fx->tasks, ARN_1, "web", "7", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_add_container(fx->tasks, ARN_1, "app", ID_1A, "ecs-web-7-app-d4e5f6", 0);
  ecsa_test_tasks_add_container(fx->tasks, ARN_1, "sidecar", ID_1B, "ecs-web-7-sidecar-a1b2c3", 0);
  ecsa_test_tasks_add(fx->tasks, ARN_2, "batch", "1", "bridge", "STOPPED", "RUNNING");
  ecsa_test_tasks_add_container(fx->tasks, ARN_2, "job", ID_2A, "ecs-batch-1-job-0a0b0c", 0);
  ecsa_test_tasks_add(fx->tasks, ARN_3, "fam<&>", "2", "host", "NONE", "RUNNING");
  ecsa_test_tasks_add_container(fx->tasks, ARN_3, "a", "", "", 0);
  ecsa_test_tasks_add_container(fx->tasks, ARN_3, "b", "", "ecs-fam-2-b-1f2e3d", 0);
  ecsa_test_tasks_add(fx->tasks, ARN_4, "web", "8", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_add_container(fx->tasks, ARN_4, "app", ID_4A, "ecs-web-8-app-0f0e0d", 0);

  fx->server = ecsa_introspection_server_new(ecsa_test_tasks_source(fx->tasks), "ecsa-cluster", VERSION);
  g_assert_true(ecsa_introspection_server_listen(fx->server, 0, FALSE, &error));
  g_assert_no_error(error);
  fx->port = ecsa_introspection_server_get_port(fx->server);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  ecsa_introspection_server_stop(fx->server);
  g_clear_object(&fx->server);
  g_clear_pointer(&fx->tasks, ecsa_test_tasks_free);
}

static EcsaTestHttpResult *
get(Fixture *fx, const char *method, const char *path)
{
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", fx->port, path);

  return ecsa_test_http_request(method, url, NULL, TIMEOUT_MS);
}

typedef struct
{
  const char *path;
  guint status;
  const char *content_type;
  const char *body;
} Case;

static const Case cases[] = {
  { "/v1/tasks", 200, TEXT_PLAIN, "{\"Tasks\":[" TASK_1_JSON "," TASK_2_JSON "," TASK_3_JSON "," TASK_4_JSON "]}" },
  { "/v1/tasks?taskarn=" ARN_1, 200, TEXT_PLAIN, TASK_1_JSON },
  { "/v1/tasks?taskarn=" ARN_2, 200, TEXT_PLAIN, TASK_2_JSON },
  { "/v1/tasks?taskarn=arn:aws:ecs:us-west-2:123456789012:task/nope", 404, TEXT_PLAIN, NOT_FOUND_JSON },
  { "/v1/tasks?taskarn=", 404, TEXT_PLAIN, NOT_FOUND_JSON },
  { "/v1/tasks?dockerid=" ID_1B, 200, TEXT_PLAIN, TASK_1_JSON },
  { "/v1/tasks?dockerid=" ID_2A, 200, TEXT_PLAIN, TASK_2_JSON },
  { "/v1/tasks?dockerid=9f8e7d6c5b4a", 200, TEXT_PLAIN, TASK_1_JSON }, /* short ID */
  { "/v1/tasks?dockerid=2222", 200, TEXT_PLAIN, TASK_2_JSON },         /* any prefix up to 12 */
  { "/v1/tasks?dockerid=1a2b3c4d5e6f", 400, NULL, "" },                /* tasks 1 and 4 */
  { "/v1/tasks?dockerid=", 400, NULL, "" },                            /* every container */
  { "/v1/tasks?dockerid=ffffffffffff", 404, TEXT_PLAIN, NOT_FOUND_JSON },
  { "/v1/tasks?dockerid=1a2b3c4d5e6f0", 404, TEXT_PLAIN, NOT_FOUND_JSON }, /* 13 chars: exact match only */
  { "/v1/tasks?dockerid=" ID_1A "&taskarn=" ARN_1, 400, NULL, "" },
  { "/v1/tasks?taskarn=x&dockerid", 400, NULL, "" },
  { "/v1/tasks?dockerId=" ID_1A, 200, TEXT_PLAIN,
    "{\"Tasks\":[" TASK_1_JSON "," TASK_2_JSON "," TASK_3_JSON "," TASK_4_JSON "]}" },
  { "/", 200, TEXT_PLAIN, COMMANDS_JSON },
  { "/v1", 200, TEXT_PLAIN, COMMANDS_JSON },
  { "/v1/tasks/", 200, TEXT_PLAIN, COMMANDS_JSON },
  { "/v2/metadata", 200, TEXT_PLAIN, COMMANDS_JSON },
  { "/v1//tasks", 301, "text/html; charset=utf-8", "<a href=\"/v1/tasks\">Moved Permanently</a>.\n\n" },
};

static void
test_cases(Fixture *fx, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autoptr(EcsaTestHttpResult) r = get(fx, "GET", cases[i].path);

      g_test_message("GET %s -> %u %s", cases[i].path, r->status, r->body);
      g_assert_cmpuint(r->status, ==, cases[i].status);
      g_assert_cmpstr(r->content_type, ==, cases[i].content_type);
      g_assert_cmpstr(r->body, ==, cases[i].body);
    }
}

static void
test_metadata(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestHttpResult) before = get(fx, "GET", "/v1/metadata");
  g_autoptr(EcsaTestHttpResult) after = NULL;
  g_autoptr(EcsaTestHttpResult) post = NULL;

  /* before registration v1.16.2 would say null */
  g_assert_cmpuint(before->status, ==, 200);
  g_assert_cmpstr(before->content_type, ==, TEXT_PLAIN);
  g_assert_cmpstr(before->body, ==,
                  "{\"Cluster\":\"ecsa-cluster\",\"ContainerInstanceArn\":null,\"Version\":\"" VERSION "\"}");

  ecsa_introspection_server_set_container_instance_arn(
    fx->server, "arn:aws:ecs:us-west-2:123456789012:container-instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  after = get(fx, "GET", "/v1/metadata");
  g_assert_cmpstr(after->body, ==,
                  "{\"Cluster\":\"ecsa-cluster\",\"ContainerInstanceArn\":\"arn:aws:ecs:us-west-2:123456789012:"
                  "container-instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",\"Version\":\"" VERSION "\"}");
  /* v1.16.2 did not look at the method */
  post = get(fx, "POST", "/v1/metadata");
  g_assert_cmpuint(post->status, ==, 200);
  g_assert_cmpstr(post->body, ==, after->body);
}

static void
test_license(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestHttpResult) r = get(fx, "GET", "/license");
  g_autofree char *rule = g_strnfill(80, '=');
  g_autofree char *separator = g_strdup_printf("\n%s\n", rule);

  g_assert_cmpuint(r->status, ==, 200);
  g_assert_cmpstr(r->content_type, ==, TEXT_PLAIN);
  /* LICENSE, a rule of 80 '=', NOTICE: as v1.16.2 joins them */
  g_assert_true(ecsa_test_contains(r->body, "Apache License"));
  g_assert_true(ecsa_test_contains(r->body, "Version 2.0, January 2004"));
  g_assert_true(ecsa_test_contains(r->body, separator));
  g_assert_true(ecsa_test_contains(strstr(r->body, separator), "ecs-agent"));
}

/* The task list follows the engine: a task removed is gone from every answer. */
static void
test_follows_tasks(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestHttpResult) by_arn = NULL;
  g_autoptr(EcsaTestHttpResult) by_id = NULL;
  g_autoptr(EcsaTestHttpResult) all = NULL;
  g_autoptr(EcsaTestHttpResult) short_id = NULL;

  ecsa_test_tasks_remove(fx->tasks, ARN_4);
  by_arn = get(fx, "GET", "/v1/tasks?taskarn=" ARN_4);
  g_assert_cmpuint(by_arn->status, ==, 404);
  by_id = get(fx, "GET", "/v1/tasks?dockerid=" ID_4A);
  g_assert_cmpuint(by_id->status, ==, 404);
  /* the short ID is no longer ambiguous */
  short_id = get(fx, "GET", "/v1/tasks?dockerid=1a2b3c4d5e6f");
  g_assert_cmpuint(short_id->status, ==, 200);
  g_assert_cmpstr(short_id->body, ==, TASK_1_JSON);
  all = get(fx, "GET", "/v1/tasks");
  g_assert_cmpstr(all->body, ==, "{\"Tasks\":[" TASK_1_JSON "," TASK_2_JSON "," TASK_3_JSON "]}");

  ecsa_test_tasks_remove(fx->tasks, ARN_1);
  ecsa_test_tasks_remove(fx->tasks, ARN_2);
  ecsa_test_tasks_remove(fx->tasks, ARN_3);
  g_clear_pointer(&all, ecsa_test_http_result_free);
  all = get(fx, "GET", "/v1/tasks");
  g_assert_cmpstr(all->body, ==, "{\"Tasks\":[]}");
}

/* Like v1.16.2's ":51678": every interface, IPv6 too. */
static void
test_listen_all(Fixture *fx, gconstpointer data)
{
  g_autofree char *v6_url = g_strdup_printf("http://[::1]:%u/v1/metadata", fx->port);
  g_autoptr(EcsaTestHttpResult) v6 = ecsa_test_http_request("GET", v6_url, NULL, TIMEOUT_MS);
  g_autoptr(EcsaTestHttpResult) head = get(fx, "HEAD", "/v1/tasks");

  g_assert_cmpuint(v6->status, ==, 200);
  g_assert_true(g_str_has_prefix(v6->body, "{\"Cluster\":\"ecsa-cluster\""));
  g_assert_cmpuint(head->status, ==, 200);
  g_assert_cmpstr(head->body, ==, "");
}

static void
test_raw(Fixture *fx, gconstpointer data)
{
  /* libsoup's quirk: an HTTP/1.0 request without Host still has its query read */
  g_autofree char *r1 = ecsa_test_http_raw(fx->port, "GET /v1/tasks?taskarn=" ARN_2 " HTTP/1.0\r\n\r\n", TIMEOUT_MS);
  g_autofree char *r2 = ecsa_test_http_raw(fx->port, "GET /v1/tasks?taskarn=%zz HTTP/1.0\r\n\r\n", TIMEOUT_MS);
  g_autofree char *r3 = ecsa_test_http_raw(fx->port, "BREW /v1/tasks?taskarn=" ARN_2 " HTTP/1.0\r\n\r\n", TIMEOUT_MS);

  g_assert_true(g_str_has_prefix(r1, "HTTP/1.0 200"));
  g_assert_true(g_str_has_suffix(r1, TASK_2_JSON));
  g_assert_true(g_str_has_prefix(r2, "HTTP/1.0 400"));
  g_assert_true(g_str_has_prefix(r3, "HTTP/1.0 200"));
}

/* v1.16.2 closed connections after 5 s without a request (Go's read timeout); a kept-alive
 * connection that stays silent is closed too, so idle clients cannot hold sockets forever. */
static void
test_idle_close(Fixture *fx, gconstpointer data)
{
  g_autoptr(GTimer) timer = g_timer_new();
  g_autofree char *reply =
    ecsa_test_http_raw(fx->port, "GET /v1/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", TIMEOUT_MS);
  double elapsed = g_timer_elapsed(timer, NULL);

  g_assert_true(g_str_has_prefix(reply, "HTTP/1.1 200"));
  g_test_message("kept-alive connection closed after %.1f s", elapsed);
  g_assert_cmpfloat(elapsed, >=, ECSA_HTTP_SERVER_TIMEOUT_S - 0.5);
  g_assert_cmpfloat(elapsed, <, ECSA_HTTP_SERVER_TIMEOUT_S + 5);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD("/introspection/cases", test_cases);
  ADD("/introspection/metadata", test_metadata);
  ADD("/introspection/license", test_license);
  ADD("/introspection/follows-tasks", test_follows_tasks);
  ADD("/introspection/listen-all", test_listen_all);
  ADD("/introspection/raw", test_raw);
  ADD("/introspection/idle-close", test_idle_close);
#undef ADD
  return g_test_run();
}
