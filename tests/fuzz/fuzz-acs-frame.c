/* fuzz-acs-frame.c: libFuzzer harness for what ACS sends the agent: the frame is fed to a real ACS
 * session (envelope parsing, then PayloadMessage with its tasks and credentials,
 * IAMRoleCredentialsMessage, heartbeats, updates, exceptions...), with a task engine and a
 * credentials manager that accept everything but a task whose family is "bad"; then a handshake
 * refusal body is parsed as the session would.
 *
 *   build-fuzz/tests/fuzz/fuzz-acs-frame tests/fuzz/corpus/acs-frame
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-acs-session.h"

#include <stdint.h>
#include <string.h>

static EcsaAcsSession *session;
static GHashTable *known;

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  return G_LOG_WRITER_HANDLED;
}

static void
apply_async (gpointer engine, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
             GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  GPtrArray *rejected = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonNode *node = json_array_get_element (tasks, i);
      JsonObject *t;
      const char *arn;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      t = json_node_get_object (node);
      arn = json_object_get_string_member_with_default (t, "arn", "");
      if (g_strcmp0 (json_object_get_string_member_with_default (t, "family", ""), "bad") == 0)
        g_ptr_array_add (rejected, g_strdup_printf ("task '%s': bad family", arn));
      else if (g_hash_table_size (known) < 1000)
        g_hash_table_add (known, g_strdup (arn));
    }
  g_task_return_pointer (task, rejected, (GDestroyNotify) g_ptr_array_unref);
}

static gboolean
apply_finish (gpointer engine, GAsyncResult *result, GPtrArray **out_rejected, GError **error)
{
  GPtrArray *rejected = g_task_propagate_pointer (G_TASK (result), error);

  if (rejected == NULL)
    return FALSE;
  *out_rejected = rejected;
  return TRUE;
}

static gboolean
has_task (gpointer engine, const char *arn)
{
  return g_hash_table_contains (known, arn);
}

static gboolean
set_credentials (gpointer credentials, JsonObject *creds, const char *arn, const char *role_type, GError **error)
{
  if (json_object_get_string_member_with_default (creds, "accessKeyId", NULL) == NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "no accessKeyId");
      return FALSE;
    }
  return TRUE;
}

static void
remove_credentials (gpointer credentials, const char *arn)
{
}

static void
setup (void)
{
  static EcsaConfig config;
  static const EcsaAcsSessionHooks hooks = { NULL, apply_async, apply_finish, has_task, NULL, set_credentials,
                                             remove_credentials };
  g_autoptr(EcsaAwsCredentialsProvider) credentials = NULL;
  g_autoptr(EcsaEcsClient) client = NULL;

  g_log_set_writer_func (quiet_writer, NULL, NULL);
  config.cluster = (char *) "fuzz";
  config.aws_region = (char *) "us-west-2";
  config.api_endpoint = (char *) "http://127.0.0.1:9";
  credentials = ecsa_aws_credentials_provider_new (NULL);
  client = ecsa_ecs_client_new (&config, credentials, NULL, NULL);
  known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  session = ecsa_acs_session_new (client, &hooks, NULL);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *type = NULL;
  g_autoptr(JsonObject) message = NULL;

  if (session == NULL)
    setup ();
  ecsa_ws_session_feed (ECSA_WS_SESSION (session), (const char *) data, size);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  /* the same bytes as a refused handshake's body */
  if (ecsa_ws_parse_frame ((const char *) data, size, &type, &message, NULL))
    g_assert_nonnull (message);
  return 0;
}
