/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-aws-credentials.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define ROLE_PATH "meta-data/iam/security-credentials/"
/* When a background refresh fails while the old credentials still serve, try again after this. */
#define REFRESH_RETRY (30 * G_USEC_PER_SEC)

static void
wipe_free (char *s)
{
  if (s != NULL)
    {
      explicit_bzero (s, strlen (s));
      g_free (s);
    }
}

EcsaAwsCredentials *
ecsa_aws_credentials_new (const char *access_key_id, const char *secret_access_key, const char *session_token,
                          gint64 expiration, const char *role_arn)
{
  EcsaAwsCredentials *c = g_new0 (EcsaAwsCredentials, 1);

  c->struct_size = sizeof (EcsaAwsCredentials);
  c->access_key_id = g_strdup (access_key_id != NULL ? access_key_id : "");
  c->secret_access_key = g_strdup (secret_access_key != NULL ? secret_access_key : "");
  c->session_token = g_strdup (session_token != NULL ? session_token : "");
  c->expiration = expiration;
  c->role_arn = g_strdup (role_arn != NULL ? role_arn : "");
  return c;
}

EcsaAwsCredentials *
ecsa_aws_credentials_copy (const EcsaAwsCredentials *credentials)
{
  g_return_val_if_fail (credentials != NULL, NULL);
  return ecsa_aws_credentials_new (credentials->access_key_id, credentials->secret_access_key,
                                   credentials->session_token, credentials->expiration, credentials->role_arn);
}

void
ecsa_aws_credentials_free (EcsaAwsCredentials *credentials)
{
  if (credentials == NULL)
    return;
  wipe_free ((char *) credentials->access_key_id);
  wipe_free ((char *) credentials->secret_access_key);
  wipe_free ((char *) credentials->session_token);
  g_free ((char *) credentials->role_arn);
  g_free (credentials);
}

const char *
ecsa_aws_credentials_source_to_string (EcsaAwsCredentialsSource source)
{
  switch (source)
    {
    case ECSA_AWS_CREDENTIALS_SOURCE_ENVIRONMENT:
      return "environment";
    case ECSA_AWS_CREDENTIALS_SOURCE_SHARED_FILE:
      return "shared credentials file";
    case ECSA_AWS_CREDENTIALS_SOURCE_INSTANCE_ROLE:
      return "instance role";
    case ECSA_AWS_CREDENTIALS_SOURCE_NONE:
    default:
      return "none";
    }
}

/* ------------------------------------------------------------------------------------------- */

struct _EcsaAwsCredentialsProvider
{
  GObject parent_instance;

  EcsaImds *imds;
  EcsaAwsCredentials *cached;
  EcsaAwsCredentialsSource source;
  gboolean looking_up;
  GPtrArray *waiters; /* GTask* */
  GString *failures;  /* why each source failed, for the error of this lookup */
  GSource *refresh_timer;
  GCancellable *cancellable;
};

G_DEFINE_TYPE (EcsaAwsCredentialsProvider, ecsa_aws_credentials_provider, G_TYPE_OBJECT)

static void
clear_refresh_timer (EcsaAwsCredentialsProvider *self)
{
  if (self->refresh_timer != NULL)
    {
      g_source_destroy (self->refresh_timer);
      g_clear_pointer (&self->refresh_timer, g_source_unref);
    }
}

static void
ecsa_aws_credentials_provider_dispose (GObject *object)
{
  EcsaAwsCredentialsProvider *self = ECSA_AWS_CREDENTIALS_PROVIDER (object);

  clear_refresh_timer (self);
  g_cancellable_cancel (self->cancellable);
  G_OBJECT_CLASS (ecsa_aws_credentials_provider_parent_class)->dispose (object);
}

static void
ecsa_aws_credentials_provider_finalize (GObject *object)
{
  EcsaAwsCredentialsProvider *self = ECSA_AWS_CREDENTIALS_PROVIDER (object);

  g_clear_pointer (&self->cached, ecsa_aws_credentials_free);
  g_clear_object (&self->imds);
  g_clear_object (&self->cancellable);
  g_ptr_array_unref (self->waiters);
  if (self->failures != NULL)
    g_string_free (self->failures, TRUE);
  G_OBJECT_CLASS (ecsa_aws_credentials_provider_parent_class)->finalize (object);
}

static void
ecsa_aws_credentials_provider_class_init (EcsaAwsCredentialsProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ecsa_aws_credentials_provider_dispose;
  object_class->finalize = ecsa_aws_credentials_provider_finalize;
}

static void
ecsa_aws_credentials_provider_init (EcsaAwsCredentialsProvider *self)
{
  self->waiters = g_ptr_array_new ();
  self->cancellable = g_cancellable_new ();
}

EcsaAwsCredentialsProvider *
ecsa_aws_credentials_provider_new (EcsaImds *imds)
{
  EcsaAwsCredentialsProvider *self = g_object_new (ECSA_TYPE_AWS_CREDENTIALS_PROVIDER, NULL);

  if (imds != NULL)
    self->imds = g_object_ref (imds);
  return self;
}

static gboolean
credentials_valid (const EcsaAwsCredentials *c, GTimeSpan window)
{
  return c != NULL && (c->expiration == 0 || g_get_real_time () < c->expiration * G_USEC_PER_SEC - window);
}

const EcsaAwsCredentials *
ecsa_aws_credentials_provider_peek (EcsaAwsCredentialsProvider *self)
{
  g_return_val_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (self), NULL);
  return credentials_valid (self->cached, 0) ? self->cached : NULL;
}

EcsaAwsCredentialsSource
ecsa_aws_credentials_provider_get_source (EcsaAwsCredentialsProvider *self)
{
  g_return_val_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (self), ECSA_AWS_CREDENTIALS_SOURCE_NONE);
  return self->source;
}

void
ecsa_aws_credentials_provider_invalidate (EcsaAwsCredentialsProvider *self)
{
  g_return_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (self));
  g_clear_pointer (&self->cached, ecsa_aws_credentials_free);
  self->source = ECSA_AWS_CREDENTIALS_SOURCE_NONE;
  clear_refresh_timer (self);
}

void
ecsa_aws_credentials_provider_stop (EcsaAwsCredentialsProvider *self)
{
  g_return_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (self));
  clear_refresh_timer (self);
  g_cancellable_cancel (self->cancellable);
}

/* ------------------------------------------------------------------------------------------- */

static void lookup_start (EcsaAwsCredentialsProvider *self);

static void
complete_waiters (EcsaAwsCredentialsProvider *self, const GError *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);

  self->waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = g_ptr_array_index (waiters, i);

      if (g_task_return_error_if_cancelled (task))
        continue;
      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_pointer (task, ecsa_aws_credentials_copy (self->cached),
                               (GDestroyNotify) ecsa_aws_credentials_free);
    }
}

static gboolean
refresh_timer_cb (gpointer user_data)
{
  EcsaAwsCredentialsProvider *self = user_data;

  g_clear_pointer (&self->refresh_timer, g_source_unref);
  if (!self->looking_up)
    lookup_start (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_refresh (EcsaAwsCredentialsProvider *self, GTimeSpan delay)
{
  clear_refresh_timer (self);
  if (g_cancellable_is_cancelled (self->cancellable))
    return;
  self->refresh_timer = g_timeout_source_new ((guint) MIN (MAX (delay / 1000, 1000), G_MAXUINT32 / 2));
  g_source_set_callback (self->refresh_timer, refresh_timer_cb, self, NULL);
  g_source_attach (self->refresh_timer, g_main_context_get_thread_default ());
}

static void
lookup_succeeded (EcsaAwsCredentialsProvider *self, EcsaAwsCredentials *credentials,
                  EcsaAwsCredentialsSource source)
{
  if (self->source != source)
    g_info ("Using AWS credentials from the %s", ecsa_aws_credentials_source_to_string (source));
  g_clear_pointer (&self->cached, ecsa_aws_credentials_free);
  self->cached = credentials;
  self->source = source;
  self->looking_up = FALSE;
  clear_refresh_timer (self);
  if (credentials->expiration != 0)
    {
      /* Refresh ahead of the expiry window, spread by up to a minute. */
      GTimeSpan delay = credentials->expiration * G_USEC_PER_SEC - ECSA_AWS_CREDENTIALS_EXPIRY_WINDOW
                        - g_get_real_time () - g_random_int_range (0, 60) * G_USEC_PER_SEC;
      schedule_refresh (self, delay);
    }
  complete_waiters (self, NULL);
}

static void
lookup_failed (EcsaAwsCredentialsProvider *self)
{
  g_autoptr(GError) error = NULL;

  self->looking_up = FALSE;
  if (credentials_valid (self->cached, 0))
    {
      g_warning ("Unable to refresh the AWS credentials (%s); the current ones stay in use until they expire",
                 self->failures->str);
      schedule_refresh (self, REFRESH_RETRY);
      complete_waiters (self, NULL);
      return;
    }
  g_clear_pointer (&self->cached, ecsa_aws_credentials_free);
  self->source = ECSA_AWS_CREDENTIALS_SOURCE_NONE;
  error = g_error_new (ECSA_ERROR, ECSA_ERROR_AUTH, "no AWS credentials found (%s)", self->failures->str);
  complete_waiters (self, error);
}

static void
note_failure (EcsaAwsCredentialsProvider *self, const char *format, ...) G_GNUC_PRINTF (2, 3);
static void
note_failure (EcsaAwsCredentialsProvider *self, const char *format, ...)
{
  va_list args;

  if (self->failures->len > 0)
    g_string_append (self->failures, "; ");
  va_start (args, format);
  g_string_append_vprintf (self->failures, format, args);
  va_end (args);
}

/* 3. the instance role ---------------------------------------------------------------------- */

EcsaAwsCredentials *
ecsa_aws_credentials_parse_role (const char *text, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o;
  const char *code, *akid, *secret, *token, *expiration;
  g_autoptr(GDateTime) expires = NULL;

  if (!json_parser_load_from_data (parser, text, -1, NULL) || (root = json_parser_get_root (parser)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "the role credentials are not a JSON object");
      return NULL;
    }
  o = json_node_get_object (root);
  code = json_object_get_string_member_with_default (o, "Code", "Success");
  if (g_strcmp0 (code, "Success") != 0)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_AUTH, "the role credentials have Code '%s'", code);
      return NULL;
    }
  akid = json_object_get_string_member_with_default (o, "AccessKeyId", NULL);
  secret = json_object_get_string_member_with_default (o, "SecretAccessKey", NULL);
  token = json_object_get_string_member_with_default (o, "Token", NULL);
  expiration = json_object_get_string_member_with_default (o, "Expiration", NULL);
  if (akid == NULL || *akid == '\0' || secret == NULL || *secret == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "the role credentials lack AccessKeyId or SecretAccessKey");
      return NULL;
    }
  if (expiration != NULL && (expires = g_date_time_new_from_iso8601 (expiration, NULL)) == NULL)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "the role credentials' Expiration '%s' is not a time",
                   expiration);
      return NULL;
    }
  return ecsa_aws_credentials_new (akid, secret, token, expires != NULL ? g_date_time_to_unix (expires) : 0, NULL);
}

static void
role_credentials_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaAwsCredentialsProvider) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = ecsa_imds_get_finish (ECSA_IMDS (source), result, &error);
  EcsaAwsCredentials *credentials;

  if (text != NULL)
    {
      credentials = ecsa_aws_credentials_parse_role (text, &error);
      explicit_bzero (text, strlen (text));
      if (credentials != NULL)
        {
          lookup_succeeded (self, credentials, ECSA_AWS_CREDENTIALS_SOURCE_INSTANCE_ROLE);
          return;
        }
    }
  note_failure (self, "instance role: %s", error->message);
  lookup_failed (self);
}

static void
role_list_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaAwsCredentialsProvider) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *list = ecsa_imds_get_finish (ECSA_IMDS (source), result, &error);
  g_auto(GStrv) lines = NULL;
  g_autofree char *path = NULL;
  const char *role = NULL;

  if (list == NULL)
    {
      note_failure (self, "instance role: %s", error->message);
      lookup_failed (self);
      return;
    }
  lines = g_strsplit (g_strstrip (list), "\n", -1);
  for (guint i = 0; lines[i] != NULL && role == NULL; i++)
    if (*g_strstrip (lines[i]) != '\0')
      role = lines[i];
  if (role == NULL || strchr (role, '/') != NULL || strcmp (role, "..") == 0)
    {
      note_failure (self, "instance role: no usable role name in instance metadata");
      lookup_failed (self);
      return;
    }
  path = g_strconcat (ROLE_PATH, role, NULL);
  ecsa_imds_get_async (self->imds, path, self->cancellable, role_credentials_ready_cb, g_object_ref (self));
}

static void
lookup_instance_role (EcsaAwsCredentialsProvider *self)
{
  if (self->imds == NULL || ecsa_imds_is_disabled (self->imds))
    {
      note_failure (self, "instance role: instance metadata is disabled");
      lookup_failed (self);
      return;
    }
  ecsa_imds_get_async (self->imds, ROLE_PATH, self->cancellable, role_list_ready_cb, g_object_ref (self));
}

/* 2. the shared credentials file (read in a worker thread) ----------------------------------- */

typedef struct
{
  char *path;
  char *profile;
} FileLookup;

static void
file_lookup_free (FileLookup *lookup)
{
  g_free (lookup->path);
  g_free (lookup->profile);
  g_free (lookup);
}

static void
read_shared_file_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  FileLookup *lookup = task_data;
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *akid = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *token = NULL;

  if (!g_key_file_load_from_file (file, lookup->path, G_KEY_FILE_NONE, &error))
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_FOUND, "shared credentials file '%s': %s",
                               lookup->path, error->message);
      return;
    }
  akid = g_key_file_get_string (file, lookup->profile, "aws_access_key_id", NULL);
  secret = g_key_file_get_string (file, lookup->profile, "aws_secret_access_key", NULL);
  token = g_key_file_get_string (file, lookup->profile, "aws_session_token", NULL);
  if (akid == NULL || secret == NULL || *g_strstrip (akid) == '\0' || *g_strstrip (secret) == '\0')
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_FOUND,
                               "shared credentials file '%s': profile '%s' has no aws_access_key_id and "
                               "aws_secret_access_key",
                               lookup->path, lookup->profile);
    }
  else
    g_task_return_pointer (task,
                           ecsa_aws_credentials_new (akid, secret, token != NULL ? g_strstrip (token) : NULL, 0, NULL),
                           (GDestroyNotify) ecsa_aws_credentials_free);
  if (secret != NULL)
    explicit_bzero (secret, strlen (secret));
  if (token != NULL)
    explicit_bzero (token, strlen (token));
}

static void
shared_file_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaAwsCredentialsProvider *self = ECSA_AWS_CREDENTIALS_PROVIDER (source);
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials *credentials = g_task_propagate_pointer (G_TASK (result), &error);

  if (credentials != NULL)
    {
      lookup_succeeded (self, credentials, ECSA_AWS_CREDENTIALS_SOURCE_SHARED_FILE);
      return;
    }
  note_failure (self, "%s", error->message);
  lookup_instance_role (self);
}

static void
lookup_shared_file (EcsaAwsCredentialsProvider *self)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, shared_file_ready_cb, NULL);
  FileLookup *lookup = g_new0 (FileLookup, 1);
  const char *path = g_getenv ("AWS_SHARED_CREDENTIALS_FILE");
  const char *profile = g_getenv ("AWS_PROFILE");

  lookup->path = path != NULL && *path != '\0' ? g_strdup (path)
                                               : g_build_filename (g_get_home_dir (), ".aws", "credentials", NULL);
  lookup->profile = g_strdup (profile != NULL && *profile != '\0' ? profile : "default");
  g_task_set_task_data (task, lookup, (GDestroyNotify) file_lookup_free);
  g_task_run_in_thread (task, read_shared_file_thread);
}

/* 1. the environment ------------------------------------------------------------------------ */

static const char *
env_first (const char *a, const char *b)
{
  const char *v = g_getenv (a);

  if (v == NULL || *v == '\0')
    v = g_getenv (b);
  return v != NULL && *v != '\0' ? v : NULL;
}

static void
lookup_start (EcsaAwsCredentialsProvider *self)
{
  const char *akid = env_first ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY");
  const char *secret = env_first ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY");

  self->looking_up = TRUE;
  if (self->failures != NULL)
    g_string_free (self->failures, TRUE);
  self->failures = g_string_new (NULL);

  if (akid != NULL && secret != NULL)
    {
      lookup_succeeded (self, ecsa_aws_credentials_new (akid, secret, g_getenv ("AWS_SESSION_TOKEN"), 0, NULL),
                        ECSA_AWS_CREDENTIALS_SOURCE_ENVIRONMENT);
      return;
    }
  note_failure (self, akid != NULL || secret != NULL ? "environment: only one of AWS_ACCESS_KEY_ID and "
                                                       "AWS_SECRET_ACCESS_KEY is set"
                                                     : "environment: AWS_ACCESS_KEY_ID is not set");
  lookup_shared_file (self);
}

void
ecsa_aws_credentials_provider_get_async (EcsaAwsCredentialsProvider *self, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_aws_credentials_provider_get_async);
  if (credentials_valid (self->cached, ECSA_AWS_CREDENTIALS_EXPIRY_WINDOW))
    {
      g_task_return_pointer (task, ecsa_aws_credentials_copy (self->cached), (GDestroyNotify) ecsa_aws_credentials_free);
      g_object_unref (task);
      return;
    }
  g_ptr_array_add (self->waiters, task);
  if (!self->looking_up)
    lookup_start (self);
}

EcsaAwsCredentials *
ecsa_aws_credentials_provider_get_finish (EcsaAwsCredentialsProvider *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_aws_credentials_provider_get_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
