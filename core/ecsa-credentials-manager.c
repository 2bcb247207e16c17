/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-credentials-manager.h"

#include <string.h>

#include "ecsa-http-request.h"
#include "ecsa-log.h"
#include "ecsa-plugin.h"

struct _EcsaCredentialsManager
{
  GObject parent_instance;
  GHashTable *by_id; /* credentials_id -> EcsaTaskCredentials* (owned) */
};

G_DEFINE_FINAL_TYPE(EcsaCredentialsManager, ecsa_credentials_manager, G_TYPE_OBJECT)

static void
wipe_string(char **field)
{
  if (*field != NULL)
    {
      explicit_bzero(*field, strlen(*field));
      g_clear_pointer(field, g_free);
    }
}

static void
secrets_register(const EcsaTaskCredentials *c, gboolean add)
{
  const char *secrets[] = { c->access_key_id, c->secret_access_key, c->session_token };

  for (guint i = 0; i < G_N_ELEMENTS(secrets); i++)
    {
      if (secrets[i] == NULL || *secrets[i] == '\0')
        continue;
      if (add)
        ecsa_log_add_secret(secrets[i]);
      else
        ecsa_log_remove_secret(secrets[i]);
    }
}

static void
task_credentials_clear_secrets(EcsaTaskCredentials *c)
{
  secrets_register(c, FALSE);
  wipe_string(&c->access_key_id);
  wipe_string(&c->secret_access_key);
  wipe_string(&c->session_token);
}

static void
task_credentials_free(EcsaTaskCredentials *c)
{
  if (c == NULL)
    return;
  task_credentials_clear_secrets(c);
  /* the ID is a bearer token for v1.16.2-style clients: masked in logs while it lives */
  ecsa_log_remove_secret(c->credentials_id);
  g_free(c->credentials_id);
  g_free(c->task_arn);
  g_free(c->role_type);
  g_free(c->role_arn);
  g_free(c->expiration);
  g_free(c);
}

static void
ecsa_credentials_manager_finalize(GObject *object)
{
  EcsaCredentialsManager *self = ECSA_CREDENTIALS_MANAGER(object);

  g_clear_pointer(&self->by_id, g_hash_table_unref);
  G_OBJECT_CLASS(ecsa_credentials_manager_parent_class)->finalize(object);
}

static void
ecsa_credentials_manager_class_init(EcsaCredentialsManagerClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ecsa_credentials_manager_finalize;
}

static void
ecsa_credentials_manager_init(EcsaCredentialsManager *self)
{
  self->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)task_credentials_free);
}

EcsaCredentialsManager *
ecsa_credentials_manager_new(void)
{
  return g_object_new(ECSA_TYPE_CREDENTIALS_MANAGER, NULL);
}

/* A member that must be a string when present; missing and null read as "". */
static gboolean
get_string_member(JsonObject *object, const char *name, gboolean required, const char **out_value, GError **error)
{
  JsonNode *node = json_object_get_member(object, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL(node))
    {
      if (required)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is missing", name);
          return FALSE;
        }
      *out_value = "";
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is not a string", name);
      return FALSE;
    }
  *out_value = json_node_get_string(node);
  if (required && **out_value == '\0')
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is empty", name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
role_type_is_valid(const char *role_type)
{
  return g_strcmp0(role_type, ECSA_CREDENTIALS_ROLE_TASK) == 0
         || g_strcmp0(role_type, ECSA_CREDENTIALS_ROLE_EXECUTION) == 0;
}

gboolean
ecsa_credentials_manager_set_from_acs(EcsaCredentialsManager *self, JsonObject *iam_role_credentials,
                                      const char *task_arn, const char *role_type, GError **error)
{
  const char *id, *role_arn, *access_key_id, *secret_access_key, *session_token, *expiration;
  EcsaTaskCredentials *entry;

  g_return_val_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self), FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  if (iam_role_credentials == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "role credentials are missing");
      return FALSE;
    }
  if (task_arn == NULL || *task_arn == '\0')
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task ARN is empty");
      return FALSE;
    }
  if (!role_type_is_valid(role_type))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "role type '%s' is unknown (expected '%s' or '%s')",
                  role_type != NULL ? role_type : "", ECSA_CREDENTIALS_ROLE_TASK, ECSA_CREDENTIALS_ROLE_EXECUTION);
      return FALSE;
    }
  if (!get_string_member(iam_role_credentials, "credentialsId", TRUE, &id, error)
      || !get_string_member(iam_role_credentials, "roleArn", FALSE, &role_arn, error)
      || !get_string_member(iam_role_credentials, "accessKeyId", FALSE, &access_key_id, error)
      || !get_string_member(iam_role_credentials, "secretAccessKey", FALSE, &secret_access_key, error)
      || !get_string_member(iam_role_credentials, "sessionToken", FALSE, &session_token, error)
      || !get_string_member(iam_role_credentials, "expiration", FALSE, &expiration, error))
    {
      g_prefix_error(error, "role credentials of task '%s': ", task_arn);
      return FALSE;
    }

  entry = g_hash_table_lookup(self->by_id, id);
  if (entry != NULL && strcmp(entry->task_arn, task_arn) != 0)
    {
      /* IDs are minted per task by the control plane; one task never reads another's */
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "role credentials of task '%s': the credentials ID already belongs to task '%s'", task_arn,
                  entry->task_arn);
      return FALSE;
    }
  if (entry == NULL)
    {
      entry = g_new0(EcsaTaskCredentials, 1);
      entry->credentials_id = g_strdup(id);
      entry->task_arn = g_strdup(task_arn);
      ecsa_log_add_secret(entry->credentials_id);
      g_hash_table_insert(self->by_id, entry->credentials_id, entry);
    }
  else
    task_credentials_clear_secrets(entry);

  g_free(entry->role_type);
  entry->role_type = g_strdup(role_type);
  g_free(entry->role_arn);
  entry->role_arn = g_strdup(role_arn);
  g_free(entry->expiration);
  entry->expiration = g_strdup(expiration);
  entry->access_key_id = g_strdup(access_key_id);
  entry->secret_access_key = g_strdup(secret_access_key);
  entry->session_token = g_strdup(session_token);
  entry->pending = FALSE;
  secrets_register(entry, TRUE);
  return TRUE;
}

const EcsaTaskCredentials *
ecsa_credentials_manager_get(EcsaCredentialsManager *self, const char *credentials_id)
{
  g_return_val_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self), NULL);

  if (credentials_id == NULL)
    return NULL;
  return g_hash_table_lookup(self->by_id, credentials_id);
}

void
ecsa_credentials_manager_expect(EcsaCredentialsManager *self, const char *credentials_id, const char *task_arn)
{
  EcsaTaskCredentials *entry;

  g_return_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self));

  if (credentials_id == NULL || *credentials_id == '\0' || task_arn == NULL || *task_arn == '\0')
    return;
  if (g_hash_table_contains(self->by_id, credentials_id))
    return;
  entry = g_new0(EcsaTaskCredentials, 1);
  entry->credentials_id = g_strdup(credentials_id);
  entry->task_arn = g_strdup(task_arn);
  entry->role_type = g_strdup("");
  entry->role_arn = g_strdup("");
  entry->access_key_id = g_strdup("");
  entry->secret_access_key = g_strdup("");
  entry->session_token = g_strdup("");
  entry->expiration = g_strdup("");
  entry->pending = TRUE;
  ecsa_log_add_secret(entry->credentials_id);
  g_hash_table_insert(self->by_id, entry->credentials_id, entry);
}

static gboolean
owned_by_task(gpointer key, gpointer value, gpointer user_data)
{
  const EcsaTaskCredentials *entry = value;

  return strcmp(entry->task_arn, user_data) == 0;
}

void
ecsa_credentials_manager_remove_task(EcsaCredentialsManager *self, const char *task_arn)
{
  g_return_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self));

  if (task_arn == NULL)
    return;
  g_hash_table_foreach_remove(self->by_id, owned_by_task, (gpointer)task_arn);
}

void
ecsa_credentials_manager_remove(EcsaCredentialsManager *self, const char *credentials_id)
{
  g_return_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self));

  if (credentials_id != NULL)
    g_hash_table_remove(self->by_id, credentials_id);
}

guint
ecsa_credentials_manager_get_size(EcsaCredentialsManager *self)
{
  g_return_val_if_fail(ECSA_IS_CREDENTIALS_MANAGER(self), 0);

  return g_hash_table_size(self->by_id);
}

char *
ecsa_credentials_relative_uri(const char *credentials_id)
{
  g_return_val_if_fail(credentials_id != NULL, NULL);

  return g_strdup_printf(ECSA_CREDENTIALS_V2_PATH "/%s", credentials_id);
}

char *
ecsa_task_credentials_to_json(const EcsaTaskCredentials *c)
{
  /* Sized up front so the buffer holding secrets is never reallocated (no stale copies). */
  gsize size = 128
               + 6
                   * (strlen(c->role_arn) + strlen(c->access_key_id) + strlen(c->secret_access_key)
                      + strlen(c->session_token) + strlen(c->expiration));
  GString *out = g_string_sized_new(size);

  g_string_append(out, "{\"RoleArn\":");
  ecsa_http_append_json_string(out, c->role_arn);
  g_string_append(out, ",\"AccessKeyId\":");
  ecsa_http_append_json_string(out, c->access_key_id);
  g_string_append(out, ",\"SecretAccessKey\":");
  ecsa_http_append_json_string(out, c->secret_access_key);
  g_string_append(out, ",\"Token\":");
  ecsa_http_append_json_string(out, c->session_token);
  g_string_append(out, ",\"Expiration\":");
  ecsa_http_append_json_string(out, c->expiration);
  g_string_append_c(out, '}');
  g_assert(out->len < size);
  return g_string_free(out, FALSE);
}

void
ecsa_credentials_wipe_free(char *text)
{
  if (text == NULL)
    return;
  explicit_bzero(text, strlen(text));
  g_free(text);
}

gboolean
ecsa_credentials_validate_refresh_message(JsonObject *message, GError **error)
{
  const char *message_id = "", *task_arn = "", *credentials_id = "";
  JsonNode *role_credentials;

  if (message == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "empty credentials message");
      return FALSE;
    }
  if (!get_string_member(message, "messageId", FALSE, &message_id, NULL) || *message_id == '\0')
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "message id not set in credentials message");
      return FALSE;
    }
  if (!get_string_member(message, "taskArn", FALSE, &task_arn, NULL) || *task_arn == '\0')
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task ARN not set in credentials message: messageId: %s",
                  message_id);
      return FALSE;
    }
  role_credentials = json_object_get_member(message, "roleCredentials");
  if (role_credentials == NULL || !JSON_NODE_HOLDS_OBJECT(role_credentials))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "role credentials not set in credentials message: messageId: %s", message_id);
      return FALSE;
    }
  if (!get_string_member(json_node_get_object(role_credentials), "credentialsId", FALSE, &credentials_id, NULL)
      || *credentials_id == '\0')
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "role credentials ID not set in credentials message: messageId: %s", message_id);
      return FALSE;
    }
  return TRUE;
}

JsonObject *
ecsa_credentials_ack_request_new(const char *message_id, const char *credentials_id, const char *expiration)
{
  JsonObject *ack = json_object_new();

  json_object_set_string_member(ack, "messageId", message_id != NULL ? message_id : "");
  json_object_set_string_member(ack, "expiration", expiration != NULL ? expiration : "");
  json_object_set_string_member(ack, "credentialsId", credentials_id != NULL ? credentials_id : "");
  return ack;
}
