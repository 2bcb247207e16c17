/* fuzz-http-request.c: libFuzzer harness for what the credentials endpoint and the introspection API
 * read from untrusted clients (request targets, queries) and from the control plane (ACS
 * IAMRoleCredentials objects), plus the cgroup reader of the caller lookup. The first byte selects
 * the parser; the rest is the input. For the routers the input is "METHOD\0PATH\0QUERY" (a missing
 * QUERY means none).
 *
 *   CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-http-request
 *   build-fuzz/tests/fuzz/fuzz-http-request -max_total_time=60 tests/fuzz/corpus/http-request
 *
 * SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <string.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-caller.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-credentials-server.h"
#include "ecsa-http-request.h"
#include "ecsa-introspection-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a fixed task list for the routers ------------------------------------------------------- */

static const EcsaContainerView container_1 = {
  .struct_size = sizeof(EcsaContainerView),
  .name = "app",
  .image = "img",
  .docker_id = "1a2b3c4d5e6f00000000000000000000000000000000000000000000000000a1",
  .docker_name = "ecs-web-1-app",
  .known_status = "RUNNING",
  .desired_status = "RUNNING",
  .log_driver = "",
};
static const EcsaContainerView container_2 = {
  .struct_size = sizeof(EcsaContainerView),
  .name = "b",
  .image = "img",
  .docker_id = "1a2b3c4d5e6f99999999999999999999999999999999999999999999999999a4",
  .docker_name = "ecs-web-2-b",
  .known_status = "RUNNING",
  .desired_status = "RUNNING",
  .log_driver = "",
};
static const EcsaContainerView *const containers_1[] = { &container_1, NULL };
static const EcsaContainerView *const containers_2[] = { &container_2, NULL };
static const EcsaTaskView tasks[] = {
  { .struct_size = sizeof(EcsaTaskView),
    .n_containers = 1,
    .arn = "arn:task/1",
    .family = "web",
    .version = "1",
    .network_mode = "bridge",
    .known_status = "RUNNING",
    .desired_status = "RUNNING",
    .credentials_id = "cred-1",
    .execution_credentials_id = "",
    .containers = containers_1 },
  { .struct_size = sizeof(EcsaTaskView),
    .n_containers = 1,
    .arn = "arn:task/2",
    .family = "web<>",
    .version = "2",
    .network_mode = "host",
    .known_status = "STOPPED",
    .desired_status = "RUNNING",
    .credentials_id = "",
    .execution_credentials_id = "",
    .containers = containers_2 },
};

static EcsaTaskView *
copy_view(const EcsaTaskView *view)
{
  return g_memdup2(view, sizeof *view); /* shallow: the strings are static */
}

static GPtrArray *
list_views(gpointer user_data)
{
  GPtrArray *all = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < G_N_ELEMENTS(tasks); i++)
    g_ptr_array_add(all, copy_view(&tasks[i]));
  return all;
}

static EcsaTaskView *
lookup_view(gpointer user_data, const char *arn)
{
  for (guint i = 0; i < G_N_ELEMENTS(tasks); i++)
    if (strcmp(tasks[i].arn, arn) == 0)
      return copy_view(&tasks[i]);
  return NULL;
}

static EcsaTaskView *
lookup_view_by_docker_id(gpointer user_data, const char *docker_id)
{
  for (guint i = 0; i < G_N_ELEMENTS(tasks); i++)
    if (strcmp(tasks[i].containers[0]->docker_id, docker_id) == 0)
      return copy_view(&tasks[i]);
  return NULL;
}

static void
free_view(EcsaTaskView *view)
{
  g_free(view);
}

static const EcsaTaskViewSource source = {
  .list = list_views,
  .lookup = lookup_view,
  .lookup_by_docker_id = lookup_view_by_docker_id,
  .free_view = free_view,
};

static EcsaCredentialsManager *manager;
static EcsaCredentialsServer *credentials_server;
static EcsaIntrospectionServer *introspection_server;

static void
setup_once(void)
{
  g_autoptr(EcsaAuditLog) audit = NULL;
  g_autoptr(JsonParser) parser = NULL;

  if (manager != NULL)
    return;
  manager = ecsa_credentials_manager_new();
  parser = json_parser_new();
  json_parser_load_from_data(parser, "{\"credentialsId\":\"cred-1\",\"secretAccessKey\":\"s3cr3t-fuzz-value\"}", -1,
                             NULL);
  ecsa_credentials_manager_set_from_acs(manager, json_node_get_object(json_parser_get_root(parser)), "arn:task/1",
                                        ECSA_CREDENTIALS_ROLE_TASK, NULL);
  ecsa_credentials_manager_expect(manager, "cred-pending", "arn:task/1");
  audit = ecsa_audit_log_new(NULL, TRUE, "fuzz");
  credentials_server = ecsa_credentials_server_new(manager, audit, &source, FALSE);
  introspection_server = ecsa_introspection_server_new(&source, "fuzz", NULL);
}

/* "METHOD\0PATH\0QUERY": the pieces, each NUL-terminated copies; query NULL when absent. */
static void
split_request(const char *text, gsize len, char **method, char **path, char **query)
{
  const char *end = text + len;
  const char *p1 = memchr(text, '\0', len);
  const char *p2 = p1 != NULL ? memchr(p1 + 1, '\0', end - p1 - 1) : NULL;

  *method = g_strndup(text, p1 != NULL ? (gsize)(p1 - text) : len);
  *path = p1 != NULL ? g_strndup(p1 + 1, p2 != NULL ? (gsize)(p2 - p1 - 1) : (gsize)(end - p1 - 1)) : g_strdup("/");
  *query = p2 != NULL ? g_strndup(p2 + 1, end - p2 - 1) : NULL;
}

static void
check_response(EcsaHttpResponse *response, const uint8_t *input, size_t input_size)
{
  g_assert(response->status >= 200 && response->status < 600);
  g_assert(response->body != NULL);
  /* no answer of the router may carry a secret (that needs the caller check first), unless the
   * request itself carried those bytes (a redirect repeats the path) */
  if (memmem(input, input_size, "s3cr3t", 6) == NULL)
    g_assert(memmem(g_bytes_get_data(response->body, NULL), g_bytes_get_size(response->body), "s3cr3t", 6) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  gsize len;

  if (size < 1)
    return 0;
  setup_once();
  text = g_strndup((const char *)data + 1, size - 1); /* NUL-terminated copy (may stop early) */
  len = size - 1;

  switch (data[0] % 8)
    {
    case 0:
      {
        g_autoptr(GHashTable) query = ecsa_http_query_parse(text);
        g_autofree char *unescaped = ecsa_http_query_unescape((const char *)data + 1, (gssize)len);
        (void)query;
        (void)unescaped;
        break;
      }
    case 1:
      {
        g_autofree char *clean = ecsa_http_clean_path(text);
        g_autofree char *target = ecsa_http_redirect_target(text, text);
        g_autofree char *again = ecsa_http_clean_path(clean);
        g_autofree char *body = ecsa_http_redirect_body(text);
        /* cleaning is idempotent */
        g_assert(strcmp(clean, again) == 0);
        (void)target;
        (void)body;
        break;
      }
    case 2:
    case 3:
      {
        g_autofree char *method = NULL, *path = NULL, *query = NULL, *id = NULL;
        g_autoptr(EcsaHttpResponse) response = NULL;
        int api_version = 0;

        split_request((const char *)data + 1, len, &method, &path, &query);
        if (data[0] % 8 == 2)
          {
            response = ecsa_credentials_server_route(credentials_server, method, path, query, NULL, &api_version, &id);
            /* either an answer, or an ID the manager knows */
            g_assert((response == NULL) == (id != NULL));
            g_assert(id == NULL || ecsa_credentials_manager_get(manager, id) != NULL);
          }
        else
          response = ecsa_introspection_server_route(introspection_server, method, path, query);
        if (response != NULL)
          check_response(response, data, size);
        break;
      }
    case 4:
      {
        g_autofree char *id = ecsa_cgroup_container_id(text);
        g_assert(id == NULL || strlen(id) == 64);
        break;
      }
    case 5:
    case 6:
      {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(EcsaCredentialsManager) scratch = ecsa_credentials_manager_new();
        JsonNode *root;

        if (!json_parser_load_from_data(parser, text, -1, NULL))
          break;
        root = json_parser_get_root(parser);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
          break;
        if (data[0] % 8 == 5)
          {
            if (ecsa_credentials_manager_set_from_acs(scratch, json_node_get_object(root), "arn:task/f",
                                                      ECSA_CREDENTIALS_ROLE_TASK, NULL))
              {
                const char *id = json_object_get_string_member(json_node_get_object(root), "credentialsId");
                const EcsaTaskCredentials *c = ecsa_credentials_manager_get(scratch, id);
                g_autofree char *json = NULL;
                g_assert(c != NULL);
                json = ecsa_task_credentials_to_json(c);
                ecsa_credentials_wipe_free(g_steal_pointer(&json));
              }
            ecsa_credentials_manager_remove_task(scratch, "arn:task/f");
            g_assert(ecsa_credentials_manager_get_size(scratch) == 0);
          }
        else
          ecsa_credentials_validate_refresh_message(json_node_get_object(root), NULL);
        break;
      }
    case 7:
      {
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        ecsa_http_append_json_string(out, text);
        /* what Go's encoder would write is valid JSON for any input */
        json_parser_load_from_data(parser, out->str, -1, &error);
        g_assert_no_error(error);
        g_assert(JSON_NODE_HOLDS_VALUE(json_parser_get_root(parser)));
        break;
      }
    }
  return 0;
}
