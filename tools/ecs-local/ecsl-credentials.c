/* ecsl-credentials.c: accepted and issued credentials (see ecsl-credentials.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-credentials.h"
#include "ecsl-util.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define KEY_ID_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define SECRET_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
/* Expired temporary entries are kept this long (to answer ExpiredTokenException), then dropped. */
#define EXPIRED_RETENTION_MS (60 * 60 * 1000)

struct _EcslCredentials
{
  char *credentials_file;
  char *config_file;
  guint8 master[32];
  GHashTable *entries; /* access key id -> EcslCredEntry* */
  GHashTable *root_secrets; /* access key id -> secret (root keys only) */
  GHashTable *root_tokens;  /* access key id -> session token (root keys given with one) */
};

static void
entry_free (EcslCredEntry *e)
{
  g_free (e->access_key_id);
  g_free (e->role_arn);
  g_free (e->task_arn);
  g_free (e->credentials_id);
  g_free (e);
}

void
ecsl_secret_free (EcslSecret *secret)
{
  if (secret == NULL)
    return;
  memset (secret, 0, strlen (secret));
  g_free (secret);
}

static void
add_root (EcslCredentials *self, const char *akid, const char *secret, const char *token)
{
  EcslCredEntry *e = g_new0 (EcslCredEntry, 1);

  e->access_key_id = g_strdup (akid);
  e->kind = ECSL_CRED_ROOT;
  g_hash_table_replace (self->entries, e->access_key_id, e);
  g_hash_table_replace (self->root_secrets, g_strdup (akid), g_strdup (secret));
  if (token != NULL && *token != '\0')
    g_hash_table_replace (self->root_tokens, g_strdup (akid), g_strdup (token));
}

static gboolean
load_master_key (EcslCredentials *self, const char *state_dir, GError **error)
{
  g_autofree char *path = g_build_filename (state_dir, "master.key", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (g_file_get_contents (path, &contents, &len, NULL) && len == sizeof self->master)
    {
      memcpy (self->master, contents, len);
      memset (contents, 0, len);
      return TRUE;
    }
  ecsl_random_bytes (self->master, sizeof self->master);
  if (!ecsl_write_file (path, (const char *) self->master, sizeof self->master, 0600, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_or_create_root (EcslCredentials *self, const char *region, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *akid = NULL;
  g_autoptr(EcslSecret) secret = NULL;
  g_autofree char *token = NULL;
  const char *env_akid = g_getenv ("AWS_ACCESS_KEY_ID");
  const char *env_secret = g_getenv ("AWS_SECRET_ACCESS_KEY");

  if (env_akid != NULL && *env_akid != '\0' && env_secret != NULL && *env_secret != '\0')
    {
      add_root (self, env_akid, env_secret, g_getenv ("AWS_SESSION_TOKEN"));
      g_message ("accepting the credentials of AWS_ACCESS_KEY_ID %s", env_akid);
    }

  if (g_key_file_load_from_file (kf, self->credentials_file, G_KEY_FILE_NONE, NULL))
    {
      akid = g_key_file_get_string (kf, "default", "aws_access_key_id", NULL);
      secret = g_key_file_get_string (kf, "default", "aws_secret_access_key", NULL);
      token = g_key_file_get_string (kf, "default", "aws_session_token", NULL);
      if (akid != NULL && secret != NULL)
        {
          g_strstrip (akid);
          g_strstrip (secret);
          add_root (self, akid, secret, token);
          g_message ("accepting the credentials of %s (access key %s)", self->credentials_file, akid);
        }
      else
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: no aws_access_key_id and aws_secret_access_key in [default]", self->credentials_file);
          return FALSE;
        }
    }
  else
    {
      g_autofree char *text = NULL;
      g_autofree char *random = ecsl_random_string (KEY_ID_ALPHABET, 16);

      akid = g_strconcat ("AKIA", random, NULL);
      secret = ecsl_random_string (SECRET_ALPHABET, 40);
      text = g_strdup_printf ("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", akid, secret);
      if (!ecsl_write_file (self->credentials_file, text, -1, 0600, error))
        {
          memset (text, 0, strlen (text));
          return FALSE;
        }
      memset (text, 0, strlen (text));
      add_root (self, akid, secret, NULL);
      g_message ("created credentials in %s (access key %s)", self->credentials_file, akid);
    }

  if (!g_file_test (self->config_file, G_FILE_TEST_EXISTS))
    {
      g_autofree char *text = g_strdup_printf ("[default]\nregion = %s\noutput = json\n", region);
      if (!ecsl_write_file (self->config_file, text, -1, 0644, error))
        return FALSE;
    }
  return TRUE;
}

EcslCredentials *
ecsl_credentials_new (const char *state_dir, const char *region, GError **error)
{
  g_autoptr(EcslCredentials) self = g_new0 (EcslCredentials, 1);

  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  self->root_secrets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ecsl_secret_free);
  self->root_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ecsl_secret_free);
  self->credentials_file = g_build_filename (state_dir, "credentials", NULL);
  self->config_file = g_build_filename (state_dir, "config", NULL);
  if (!load_master_key (self, state_dir, error) || !load_or_create_root (self, region, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
ecsl_credentials_free (EcslCredentials *self)
{
  if (self == NULL)
    return;
  memset (self->master, 0, sizeof self->master);
  g_hash_table_unref (self->entries);
  g_hash_table_unref (self->root_secrets);
  g_hash_table_unref (self->root_tokens);
  g_free (self->credentials_file);
  g_free (self->config_file);
  g_free (self);
}

const char *
ecsl_credentials_get_file (EcslCredentials *self)
{
  return self->credentials_file;
}

const char *
ecsl_credentials_get_config_file (EcslCredentials *self)
{
  return self->config_file;
}

/* base64 of HMAC-SHA256(master, label "/" akid "/" block) blocks, cut to len characters. */
static char *
derive (EcslCredentials *self, const char *label, const char *akid, gsize len)
{
  g_autoptr(GByteArray) raw = g_byte_array_new ();
  g_autofree char *b64 = NULL;
  char *out;

  for (guint block = 0; raw->len * 4 / 3 < len + 4; block++)
    {
      guint8 mac[32];
      g_autofree char *msg = g_strdup_printf ("%s/%s/%u", label, akid, block);
      int rc = gnutls_hmac_fast (GNUTLS_MAC_SHA256, self->master, sizeof self->master, msg, strlen (msg), mac);
      g_assert (rc >= 0);
      g_byte_array_append (raw, mac, sizeof mac);
    }
  b64 = g_base64_encode (raw->data, raw->len);
  memset (raw->data, 0, raw->len);
  out = g_strndup (b64, len);
  memset (b64, 0, strlen (b64));
  return out;
}

const EcslCredEntry *
ecsl_credentials_mint (EcslCredentials *self, EcslCredKind kind, const char *role_arn, const char *task_arn,
                       const char *credentials_id, gint64 ttl_ms)
{
  EcslCredEntry *e = g_new0 (EcslCredEntry, 1);
  g_autofree char *random = ecsl_random_string (KEY_ID_ALPHABET, 16);
  gint64 now = ecsl_now_ms ();
  GHashTableIter iter;
  EcslCredEntry *old;

  /* Drop entries long expired, so the table stays bounded. */
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &old))
    if (old->expiration_ms != 0 && old->expiration_ms + EXPIRED_RETENTION_MS < now)
      g_hash_table_iter_remove (&iter);

  g_assert (kind != ECSL_CRED_ROOT);
  e->access_key_id = g_strconcat ("ASIA", random, NULL);
  e->kind = kind;
  e->role_arn = g_strdup (role_arn);
  e->task_arn = g_strdup (task_arn);
  e->credentials_id = g_strdup (credentials_id);
  /* AWS credentials expire on whole seconds. */
  e->expiration_ms = ((now + ttl_ms) / 1000) * 1000;
  g_hash_table_replace (self->entries, e->access_key_id, e);
  return e;
}

char *
ecsl_credentials_secret (EcslCredentials *self, const EcslCredEntry *entry)
{
  if (entry->kind == ECSL_CRED_ROOT)
    return g_strdup (g_hash_table_lookup (self->root_secrets, entry->access_key_id));
  return derive (self, "secret", entry->access_key_id, 40);
}

char *
ecsl_credentials_token (EcslCredentials *self, const EcslCredEntry *entry)
{
  g_autofree char *body = NULL;

  if (entry->kind == ECSL_CRED_ROOT)
    return g_strdup (g_hash_table_lookup (self->root_tokens, entry->access_key_id));
  body = derive (self, "token", entry->access_key_id, 252);
  return g_strconcat ("IQoJb3JpZ2luX2Vj", body, NULL);
}

EcslCredLookup
ecsl_credentials_lookup (EcslCredentials *self, const char *access_key_id, const EcslCredEntry **out_entry)
{
  EcslCredEntry *e = g_hash_table_lookup (self->entries, access_key_id);

  if (e == NULL)
    return ECSL_CRED_LOOKUP_UNKNOWN;
  if (out_entry != NULL)
    *out_entry = e;
  if (e->expiration_ms != 0 && e->expiration_ms <= ecsl_now_ms ())
    return ECSL_CRED_LOOKUP_EXPIRED;
  return ECSL_CRED_LOOKUP_OK;
}

const EcslCredEntry *
ecsl_credentials_find_current (EcslCredentials *self, EcslCredKind kind, const char *task_arn)
{
  GHashTableIter iter;
  EcslCredEntry *e;
  const EcslCredEntry *best = NULL;
  gint64 now = ecsl_now_ms ();

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
    {
      if (e->kind != kind || e->expiration_ms <= now)
        continue;
      if (task_arn != NULL && g_strcmp0 (e->task_arn, task_arn) != 0)
        continue;
      if (best == NULL || e->expiration_ms > best->expiration_ms)
        best = e;
    }
  return best;
}

void
ecsl_credentials_forget_task (EcslCredentials *self, const char *task_arn)
{
  GHashTableIter iter;
  EcslCredEntry *e;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
    if (e->kind != ECSL_CRED_ROOT && g_strcmp0 (e->task_arn, task_arn) == 0)
      g_hash_table_iter_remove (&iter);
}

JsonNode *
ecsl_credentials_serialize (EcslCredentials *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  EcslCredEntry *e;

  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
    {
      if (e->kind == ECSL_CRED_ROOT)
        continue;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "accessKeyId");
      json_builder_add_string_value (b, e->access_key_id);
      json_builder_set_member_name (b, "kind");
      json_builder_add_int_value (b, e->kind);
      if (e->role_arn != NULL)
        {
          json_builder_set_member_name (b, "roleArn");
          json_builder_add_string_value (b, e->role_arn);
        }
      if (e->task_arn != NULL)
        {
          json_builder_set_member_name (b, "taskArn");
          json_builder_add_string_value (b, e->task_arn);
        }
      if (e->credentials_id != NULL)
        {
          json_builder_set_member_name (b, "credentialsId");
          json_builder_add_string_value (b, e->credentials_id);
        }
      json_builder_set_member_name (b, "expirationMs");
      json_builder_add_int_value (b, e->expiration_ms);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return json_builder_get_root (b);
}

void
ecsl_credentials_restore (EcslCredentials *self, JsonNode *node)
{
  JsonArray *array;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return;
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *o = json_array_get_object_element (array, i);
      const char *akid = o != NULL ? ecsl_json_object_string (o, "accessKeyId") : NULL;
      gint64 kind = 0, exp = 0;
      EcslCredEntry *e;

      if (akid == NULL || !ecsl_json_object_int (o, "kind", &kind) || kind <= ECSL_CRED_ROOT
          || kind > ECSL_CRED_EXECUTION_ROLE || !ecsl_json_object_int (o, "expirationMs", &exp))
        continue;
      e = g_new0 (EcslCredEntry, 1);
      e->access_key_id = g_strdup (akid);
      e->kind = (EcslCredKind) kind;
      e->role_arn = g_strdup (ecsl_json_object_string (o, "roleArn"));
      e->task_arn = g_strdup (ecsl_json_object_string (o, "taskArn"));
      e->credentials_id = g_strdup (ecsl_json_object_string (o, "credentialsId"));
      e->expiration_ms = exp;
      g_hash_table_replace (self->entries, e->access_key_id, e);
    }
}
