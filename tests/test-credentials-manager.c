/* test-credentials-manager.c: the in-memory store of task IAM role credentials and its ACS helpers.
 * SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <unistd.h>

#include "ecsa-credentials-manager.h"
#include "ecsa-log.h"
#include "ecsa-test-iam.h"

#define TASK_A "arn:aws:ecs:us-west-2:123456789012:task/aaaaaaaa-1111-2222-3333-444444444444"
#define TASK_B "arn:aws:ecs:us-west-2:123456789012:task/bbbbbbbb-1111-2222-3333-444444444444"

static JsonObject *
parse_object(const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data(parser, json, -1, &error);
  g_assert_no_error(error);
  return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
set_credentials(EcsaCredentialsManager *manager, const char *id, const char *seed, const char *task_arn,
                const char *role_type)
{
  g_autofree char *json = ecsa_test_iam_credentials_json(id, seed);
  g_autoptr(JsonObject) object = parse_object(json);
  g_autoptr(GError) error = NULL;

  g_assert_true(ecsa_credentials_manager_set_from_acs(manager, object, task_arn, role_type, &error));
  g_assert_no_error(error);
}

static void
test_set_get_remove(void)
{
  g_autoptr(EcsaCredentialsManager) manager = ecsa_credentials_manager_new();
  const EcsaTaskCredentials *c;

  set_credentials(manager, "id-task-a", "alpha", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  set_credentials(manager, "id-exec-a", "alphaexec", TASK_A, ECSA_CREDENTIALS_ROLE_EXECUTION);
  set_credentials(manager, "id-task-b", "beta", TASK_B, ECSA_CREDENTIALS_ROLE_TASK);
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 3);

  c = ecsa_credentials_manager_get(manager, "id-task-a");
  g_assert_nonnull(c);
  g_assert_cmpstr(c->credentials_id, ==, "id-task-a");
  g_assert_cmpstr(c->task_arn, ==, TASK_A);
  g_assert_cmpstr(c->role_type, ==, ECSA_CREDENTIALS_ROLE_TASK);
  g_assert_cmpstr(c->role_arn, ==, "arn:aws:iam::123456789012:role/alpha");
  g_assert_cmpstr(c->access_key_id, ==, "ASIATESTALPHAKEYID");
  g_assert_cmpstr(c->secret_access_key, ==, "secret-alpha-Xk9pQ2vL7mN4wR8tY1zB");
  g_assert_cmpstr(c->session_token, ==, "token-alpha-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
  g_assert_cmpstr(c->expiration, ==, "2030-01-02T03:04:05Z");
  g_assert_false(c->pending);
  c = ecsa_credentials_manager_get(manager, "id-exec-a");
  g_assert_cmpstr(c->role_type, ==, ECSA_CREDENTIALS_ROLE_EXECUTION);
  g_assert_null(ecsa_credentials_manager_get(manager, "id-unknown"));
  g_assert_null(ecsa_credentials_manager_get(manager, NULL));

  /* a refresh replaces the secret in place */
  set_credentials(manager, "id-task-a", "alpha2", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  c = ecsa_credentials_manager_get(manager, "id-task-a");
  g_assert_cmpstr(c->secret_access_key, ==, "secret-alpha2-Xk9pQ2vL7mN4wR8tY1zB");
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 3);

  /* removal with the task takes both of its roles and nothing else */
  ecsa_credentials_manager_remove_task(manager, TASK_A);
  g_assert_null(ecsa_credentials_manager_get(manager, "id-task-a"));
  g_assert_null(ecsa_credentials_manager_get(manager, "id-exec-a"));
  g_assert_nonnull(ecsa_credentials_manager_get(manager, "id-task-b"));
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 1);
  ecsa_credentials_manager_remove(manager, "id-task-b");
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 0);
}

static void
test_expect(void)
{
  g_autoptr(EcsaCredentialsManager) manager = ecsa_credentials_manager_new();
  const EcsaTaskCredentials *c;

  ecsa_credentials_manager_expect(manager, "id-restored", TASK_A);
  c = ecsa_credentials_manager_get(manager, "id-restored");
  g_assert_nonnull(c);
  g_assert_true(c->pending);
  g_assert_cmpstr(c->task_arn, ==, TASK_A);
  g_assert_cmpstr(c->secret_access_key, ==, "");

  /* ACS resends them: no longer pending */
  set_credentials(manager, "id-restored", "gamma", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  c = ecsa_credentials_manager_get(manager, "id-restored");
  g_assert_false(c->pending);
  g_assert_cmpstr(c->access_key_id, ==, "ASIATESTGAMMAKEYID");

  /* expecting a known ID changes nothing */
  ecsa_credentials_manager_expect(manager, "id-restored", TASK_A);
  g_assert_false(ecsa_credentials_manager_get(manager, "id-restored")->pending);

  /* empty input is ignored */
  ecsa_credentials_manager_expect(manager, "", TASK_A);
  ecsa_credentials_manager_expect(manager, "id-x", "");
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 1);

  ecsa_credentials_manager_remove_task(manager, TASK_A);
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 0);
}

typedef struct
{
  const char *json;
  const char *task_arn;
  const char *role_type;
  const char *message;
} BadInput;

static const BadInput bad_inputs[] = {
  { "{\"roleArn\":\"r\"}", TASK_A, ECSA_CREDENTIALS_ROLE_TASK, "'credentialsId' is missing" },
  { "{\"credentialsId\":\"\"}", TASK_A, ECSA_CREDENTIALS_ROLE_TASK, "'credentialsId' is empty" },
  { "{\"credentialsId\":42}", TASK_A, ECSA_CREDENTIALS_ROLE_TASK, "'credentialsId' is not a string" },
  { "{\"credentialsId\":\"x\",\"secretAccessKey\":{}}", TASK_A, ECSA_CREDENTIALS_ROLE_TASK,
    "'secretAccessKey' is not a string" },
  { "{\"credentialsId\":\"x\"}", "", ECSA_CREDENTIALS_ROLE_TASK, "task ARN is empty" },
  { "{\"credentialsId\":\"x\"}", TASK_A, "TaskSomethingElse", "role type 'TaskSomethingElse' is unknown" },
  { "{\"credentialsId\":\"owned\"}", TASK_B, ECSA_CREDENTIALS_ROLE_TASK, "already belongs to task" },
};

static void
test_bad_input(gconstpointer data)
{
  const BadInput *bad = data;
  g_autoptr(EcsaCredentialsManager) manager = ecsa_credentials_manager_new();
  g_autoptr(JsonObject) object = parse_object(bad->json);
  g_autoptr(GError) error = NULL;

  set_credentials(manager, "owned", "owner", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  g_assert_false(ecsa_credentials_manager_set_from_acs(manager, object, bad->task_arn, bad->role_type, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_true(ecsa_test_contains(error->message, bad->message));
  /* the owner's entry is untouched */
  g_assert_cmpstr(ecsa_credentials_manager_get(manager, "owned")->task_arn, ==, TASK_A);
  g_assert_cmpuint(ecsa_credentials_manager_get_size(manager), ==, 1);
}

static void
test_json(void)
{
  EcsaTaskCredentials c = {
    .credentials_id = (char *)"id",
    .task_arn = (char *)TASK_A,
    .role_type = (char *)ECSA_CREDENTIALS_ROLE_TASK,
    .role_arn = (char *)"arn:aws:iam::123456789012:role/a<b>&c",
    .access_key_id = (char *)"AKID",
    .secret_access_key = (char *)"se\"cr\\et",
    .session_token = (char *)"tok+/=",
    .expiration = (char *)"2017-11-27T20:00:00Z",
  };
  g_autofree char *json = ecsa_task_credentials_to_json(&c);
  g_autofree char *uri = ecsa_credentials_relative_uri("abc-123");

  /* v1.16.2's field names and order, Go's escaping */
  g_assert_cmpstr(
    json, ==,
    "{\"RoleArn\":\"arn:aws:iam::123456789012:role/a\\u003cb\\u003e\\u0026c\",\"AccessKeyId\":\"AKID\","
    "\"SecretAccessKey\":\"se\\\"cr\\\\et\",\"Token\":\"tok+/=\",\"Expiration\":\"2017-11-27T20:00:00Z\"}");
  g_assert_cmpstr(uri, ==, "/v2/credentials/abc-123");
}

static void
test_refresh_message(void)
{
  static const struct
  {
    const char *json;
    const char *message; /* NULL: valid */
  } cases[] = {
    { "{\"messageId\":\"m1\",\"taskArn\":\"t\",\"roleType\":\"TaskApplication\",\"roleCredentials\":"
      "{\"credentialsId\":\"c\"}}",
      NULL },
    { "{\"messageId\":\"m1\",\"taskArn\":\"t\",\"roleType\":\"Bogus\",\"roleCredentials\":{\"credentialsId\":\"c\"}}",
      NULL },
    { "{\"taskArn\":\"t\",\"roleCredentials\":{\"credentialsId\":\"c\"}}", "message id not set" },
    { "{\"messageId\":\"\",\"taskArn\":\"t\",\"roleCredentials\":{\"credentialsId\":\"c\"}}", "message id not set" },
    { "{\"messageId\":\"m1\",\"roleCredentials\":{\"credentialsId\":\"c\"}}", "task ARN not set" },
    { "{\"messageId\":\"m1\",\"taskArn\":\"t\"}", "role credentials not set" },
    { "{\"messageId\":\"m1\",\"taskArn\":\"t\",\"roleCredentials\":[]}", "role credentials not set" },
    { "{\"messageId\":\"m1\",\"taskArn\":\"t\",\"roleCredentials\":{\"credentialsId\":\"\"}}",
      "role credentials ID not set" },
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autoptr(JsonObject) object = parse_object(cases[i].json);
      g_autoptr(GError) error = NULL;
      gboolean ok = ecsa_credentials_validate_refresh_message(object, &error);

      if (cases[i].message == NULL)
        {
          g_assert_no_error(error);
          g_assert_true(ok);
        }
      else
        {
          g_assert_false(ok);
          g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
          g_assert_true(ecsa_test_contains(error->message, cases[i].message));
        }
    }
}

static void
test_ack(void)
{
  g_autoptr(JsonObject) ack = ecsa_credentials_ack_request_new("msg-1", "cred-1", "2017-11-27T20:00:00Z");
  g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), ack);
  g_autofree char *text = json_to_string(node, FALSE);

  g_assert_cmpstr(text, ==,
                  "{\"messageId\":\"msg-1\",\"expiration\":\"2017-11-27T20:00:00Z\",\"credentialsId\":\"cred-1\"}");
}

/* Every secret the manager holds is masked by the log's redaction while it is held. */
static void
test_secrets_redacted(void)
{
  g_autoptr(EcsaCredentialsManager) manager = ecsa_credentials_manager_new();
  g_autofree char *redacted = NULL;
  g_autofree char *after = NULL;
  const char *line = "leak? ASIATESTDELTAKEYID secret-delta-Xk9pQ2vL7mN4wR8tY1zB "
                     "token-delta-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 end";

  set_credentials(manager, "id-delta", "delta", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  redacted = ecsa_log_redact(line);
  g_assert_false(ecsa_test_contains(redacted, "ASIATESTDELTAKEYID"));
  g_assert_false(ecsa_test_contains(redacted, "secret-delta"));
  g_assert_false(ecsa_test_contains(redacted, "token-delta"));
  g_assert_true(ecsa_test_contains(redacted, "end"));

  /* once removed, they are no longer registered (the registry does not grow with task churn) */
  ecsa_credentials_manager_remove_task(manager, TASK_A);
  after = ecsa_log_redact("token-delta-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
  g_assert_cmpstr(after, ==, "token-delta-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */

  g_test_add_func("/credentials-manager/set-get-remove", test_set_get_remove);
  g_test_add_func("/credentials-manager/expect", test_expect);
  for (guint i = 0; i < G_N_ELEMENTS(bad_inputs); i++)
    {
      g_autofree char *path = g_strdup_printf("/credentials-manager/bad-input/%u", i);
      g_test_add_data_func(path, &bad_inputs[i], test_bad_input);
    }
  g_test_add_func("/credentials-manager/json", test_json);
  g_test_add_func("/credentials-manager/refresh-message", test_refresh_message);
  g_test_add_func("/credentials-manager/ack", test_ack);
  g_test_add_func("/credentials-manager/secrets-redacted", test_secrets_redacted);
  return g_test_run();
}
