/* fuzz-ecs-local.c: libFuzzer harness for the parsers of ecs-local (tools/ecs-local), which take
 * requests from any client: every ECS operation and ECR's GetAuthorizationToken on arbitrary JSON,
 * the ACS frames an agent sends, the TCS frames (signed headers + JSON) and, for every task the
 * input leaves behind, the ACS payload built from its (fuzzed) task definition.
 *
 * Input: lines; the first byte of a line selects the operation ('A' + index in `ops`), the rest is
 * its body, where @TASK@ and @INSTANCE@ stand for the seeded task's and instance's ARNs. Each input
 * starts from a fresh state holding a cluster "default", a connected container instance, a task
 * definition "seed" and one task of it.
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-acs.h"
#include "ecsl-ecs.h"
#include "ecsl-state.h"
#include "ecsl-tcs.h"
#include "ecsl-util.h"

#include <glib/gstdio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const ops[] = {
  "CreateCluster", "DeleteCluster", "ListClusters", "DescribeClusters", "RegisterTaskDefinition",
  "DescribeTaskDefinition", "DeregisterTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies",
  "RegisterContainerInstance", "DeregisterContainerInstance", "ListContainerInstances",
  "DescribeContainerInstances", "DiscoverPollEndpoint", "RunTask", "StartTask", "StopTask", "DescribeTasks",
  "ListTasks", "SubmitTaskStateChange", "SubmitContainerStateChange", "GetAuthorizationToken", "ACS", "TCS",
};

static EcslContext ctx;
static char *dir;

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  return G_LOG_WRITER_HANDLED; /* fatal levels still abort */
}

static void
remove_dir (void)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

static void
init (void)
{
  g_autoptr(GError) error = NULL;

  if (g_getenv ("ECSL_FUZZ_VERBOSE") == NULL) /* set it to see ecs-local's log while replaying */
    g_log_set_writer_func (quiet_writer, NULL, NULL);
  dir = g_dir_make_tmp ("ecsa-fuzz-ecs-local-XXXXXX", &error);
  g_assert_no_error (error);
  atexit (remove_dir);
  ctx.config.state_dir = g_strdup (dir);
  ctx.config.region = g_strdup ("us-west-2");
  ctx.config.account_id = g_strdup ("123456789012");
  ctx.config.instance_role = g_strdup ("role");
  ctx.config.instance_id = g_strdup ("i-0123456789abcdef0");
  ctx.config.ecr_registry = g_strdup ("127.0.0.1:5000");
  ctx.config.ecr_password = g_strdup ("pw");
  ctx.config.heartbeat_ms = 30000;
  ctx.config.ack_timeout_ms = 10000;
  ctx.config.credentials_ttl_ms = 3600 * 1000;
  ctx.config.stopped_retention_ms = 3600 * 1000;
  ctx.endpoint = g_strdup ("https://127.0.0.1:51680");
  ctx.tcs_endpoint = g_strdup ("https://127.0.0.1:51681");
  ctx.tls = ecsl_tls_new (dir, NULL, FALSE, &error);
  g_assert_no_error (error);
  ctx.creds = ecsl_credentials_new (dir, "us-west-2", &error);
  g_assert_no_error (error);
  ctx.acs = ecsl_acs_new (&ctx);
  ctx.tcs = ecsl_tcs_new (&ctx);
}

static JsonNode *
call (const char *op, const char *json, gssize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) req = ecsl_json_parse (json, len, "input", &error);
  EcslOpFunc func;

  if (req == NULL || !JSON_NODE_HOLDS_OBJECT (req))
    return NULL;
  if (strcmp (op, "GetAuthorizationToken") == 0)
    return ecsl_ecr_get_authorization_token (&ctx, json_node_get_object (req), &error);
  func = ecsl_ecs_lookup (op);
  g_assert_nonnull (func);
  return func (&ctx, json_node_get_object (req), &error);
}

static void
seed (void)
{
  static const char *const script[][2] = {
    { "CreateCluster", "{}" },
    { "RegisterContainerInstance",
      "{\"totalResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":4096},"
      "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":4096},"
      "{\"name\":\"PORTS\",\"type\":\"STRINGSET\",\"stringSetValue\":[\"22\"]}],"
      "\"attributes\":[{\"name\":\"com.amazonaws.ecs.capability.task-iam-role\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.task-iam-role-network-host\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.logging-driver.awslogs\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.logging-driver.json-file\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.docker-remote-api.1.18\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.docker-remote-api.1.21\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.privileged-container\"},"
      "{\"name\":\"com.amazonaws.ecs.capability.ecr-auth\"},"
      "{\"name\":\"ecs.capability.execution-role-ecr-pull\"},"
      "{\"name\":\"ecs.capability.execution-role-awslogs\"},"
      "{\"name\":\"ecs.capability.container-health-check\"}]}" },
    { "RegisterTaskDefinition",
      "{\"family\":\"seed\",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/r\",\"containerDefinitions\":"
      "[{\"name\":\"c\",\"image\":\"127.0.0.1:5000/x\",\"memory\":16,\"portMappings\":[{\"containerPort\":80}]}]}" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (script); i++)
    {
      JsonNode *out = call (script[i][0], script[i][1], -1);
      g_assert_nonnull (out);
      json_node_unref (out);
    }
  for (guint i = 0; i < ctx.state->instances->len; i++)
    ((EcslInstance *) g_ptr_array_index (ctx.state->instances, i))->agent_connected = TRUE;
  json_node_unref (call ("RunTask", "{\"taskDefinition\":\"seed\"}", -1));
}

static char *
substitute (const char *line, gsize len, const char *task_arn, const char *instance_arn)
{
  g_autoptr(GString) s = g_string_new_len (line, (gssize) len);

  g_string_replace (s, "@TASK@", task_arn != NULL ? task_arn : "", 0);
  g_string_replace (s, "@INSTANCE@", instance_arn != NULL ? instance_arn : "", 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
run_line (const char *raw, gsize raw_len, const char *task_arn)
{
  const char *op;
  EcslInstance *inst = ctx.state->instances->len > 0 ? g_ptr_array_index (ctx.state->instances, 0) : NULL;
  g_autofree char *text = NULL;
  const char *line;
  gsize len;

  if (raw_len == 0 || (guchar) raw[0] < 'A' || (gsize) ((guchar) raw[0] - 'A') >= G_N_ELEMENTS (ops))
    return;
  op = ops[raw[0] - 'A'];
  text = substitute (raw + 1, raw_len - 1, task_arn, inst != NULL ? inst->arn : NULL);
  line = text;
  len = strlen (text);
  if (strcmp (op, "ACS") == 0)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (line, len);
      if (inst != NULL)
        ecsl_acs_handle_frame (&ctx, inst, NULL, bytes);
    }
  else if (strcmp (op, "TCS") == 0)
    {
      g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) root = NULL;
      JsonObject *frame;
      JsonNode *message;
      const char *type;

      if (!ecsl_tcs_parse_frame (line, len, headers, &body, &error))
        return;
      root = ecsl_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), "message", &error);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) || inst == NULL)
        return;
      frame = json_node_get_object (root);
      type = ecsl_json_object_string (frame, "type");
      message = json_object_get_member (frame, "message");
      if (type != NULL && message != NULL && JSON_NODE_HOLDS_OBJECT (message))
        ecsl_tcs_handle_message (&ctx, inst->arn, type, message, NULL);
    }
  else
    {
      JsonNode *out = call (op, line, (gssize) len);
      if (out != NULL)
        {
          g_autofree char *text = ecsl_json_to_string (out);
          json_node_unref (out);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean initialized;
  const char *p = (const char *) data;
  const char *end = p + size;
  GHashTableIter iter;
  EcslTask *task;

  if (!initialized)
    {
      init ();
      initialized = TRUE;
    }
  g_autofree char *task_arn = NULL;

  ctx.state = ecsl_state_new (&ctx, NULL);
  seed ();
  g_hash_table_iter_init (&iter, ctx.state->tasks);
  if (g_hash_table_iter_next (&iter, NULL, (gpointer *) &task))
    task_arn = g_strdup (task->arn);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      gsize len = (nl != NULL ? nl : end) - p;
      run_line (p, len, task_arn);
      p += len + (nl != NULL ? 1 : 0);
    }
  /* Build the ACS payload of every task left, as the session would. */
  g_hash_table_iter_init (&iter, ctx.state->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &task))
    {
      JsonNode *payload = ecsl_payload_task (&ctx, task, task->desired_status, TRUE);
      if (payload != NULL)
        {
          g_autofree char *text = ecsl_json_to_string (payload);
          json_node_unref (payload);
        }
    }
  ecsl_state_free (ctx.state);
  ctx.state = NULL;
  return 0;
}
