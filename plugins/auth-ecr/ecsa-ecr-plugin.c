/* Registry auth "ecr": Amazon ECR GetAuthorizationToken for containers whose registryAuthentication
 * (from ACS) has type "ecr".
 *
 * The request (JSON 1.1, X-Amz-Target AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken,
 * body {"registryIds": [registryId]}) goes to ecrAuthData.endpointOverride, else to
 * https://ecr.<region>.amazonaws.com[.cn], signed with SigV4 (service "ecr", the ecrAuthData region)
 * through host->sigv4_sign with the task's execution-role credentials when useExecutionRole, else
 * with the instance's (host->aws_credentials_async).
 *
 * Tokens are cached per (execution role, region, registry ID, endpoint), as agent v1.16.2 does, and
 * used until 30 to 60 minutes (random) before they expire; concurrent pulls that need the same
 * token share one request. A token is handed out only for an image under its proxyEndpoint. The
 * core calls invalidate() when the registry refused a token, which drops it from the cache.
 * Transient failures (5xx, throttling, network) are retried twice with back-off.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-ecr-api.h"

#include <libsoup/soup.h>
#include <string.h>

#define AUTH_TYPE "ecr"
#define ECR_TIMEOUT_MS 15000
#define ECR_MAX_ATTEMPTS 3
#define ECR_RETRY_BASE_MS 250
#define REFRESH_JITTER_MIN_S (30 * 60) /* v1.16.2: MinimumJitterDuration, plus up to as much again */

typedef struct
{
  gint ref;
  const EcsaPluginHost *host;
  GHashTable *cache;   /* key -> CacheEntry* */
  GHashTable *fetches; /* key -> Fetch* (borrowed: a fetch frees itself when done) */
  GCancellable *shutdown;
} EcrState;

typedef EcsaEcrToken CacheEntry; /* with refresh_at set */

typedef struct _Fetch Fetch;

typedef struct
{
  GTask *task;
  char *image;
  GSource *cancel_source;
  Fetch *fetch; /* borrowed */
} Waiter;

struct _Fetch
{
  EcrState *st; /* a reference */
  char *key;
  char *region;
  char *registry_id;
  char *endpoint;
  char *image; /* the first image, for messages */
  EcsaAwsCredentials *credentials; /* owned copy, wiped */
  GList *waiters;                  /* Waiter* */
  GCancellable *cancellable;       /* this attempt: its timeout and the plugin's shutdown */
  GSource *timer; /* the attempt's timeout, or the back-off before the next attempt */
  gboolean timed_out;
  guint attempt;
};

/* ---- small helpers ---------------------------------------------------------------------------- */

static void
wipe_free (char *s)
{
  ecsa_ecr_wipe (s);
  g_free (s);
}


static void
credentials_free (EcsaAwsCredentials *c)
{
  if (c == NULL)
    return;
  wipe_free ((char *) c->access_key_id);
  wipe_free ((char *) c->secret_access_key);
  wipe_free ((char *) c->session_token);
  g_free ((char *) c->role_arn);
  g_free (c);
}

static EcsaAwsCredentials *
credentials_copy (const EcsaAwsCredentials *src)
{
  EcsaAwsCredentials *c = g_new0 (EcsaAwsCredentials, 1);

  c->struct_size = sizeof (EcsaAwsCredentials);
  c->access_key_id = g_strdup (src->access_key_id);
  c->secret_access_key = g_strdup (src->secret_access_key);
  c->session_token = g_strdup (src->session_token != NULL ? src->session_token : "");
  c->expiration = src->expiration;
  c->role_arn = g_strdup (src->role_arn != NULL ? src->role_arn : "");
  return c;
}

static void
host_log (const EcsaPluginHost *host, EcsaLogLevel level, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
host_log (const EcsaPluginHost *host, EcsaLogLevel level, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (host->log == NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  host->log (host, level, message);
}

static GSource *
add_timeout (const EcsaPluginHost *host, guint ms, GSourceFunc func, gpointer data)
{
  GSource *source;

  if (host->timeout_add != NULL)
    return host->timeout_add (host, ms, func, data, NULL);
  source = g_timeout_source_new (ms);
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, host->main_context);
  return source;
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_source_unref (*source);
  *source = NULL;
}

static EcrState *
ecr_state_ref (EcrState *st)
{
  g_atomic_int_inc (&st->ref);
  return st;
}

static void
ecr_state_unref (EcrState *st)
{
  if (!g_atomic_int_dec_and_test (&st->ref))
    return;
  g_hash_table_unref (st->cache);
  g_hash_table_unref (st->fetches);
  g_object_unref (st->shutdown);
  g_free (st);
}

/* ---- the request --------------------------------------------------------------------------------- */

static char *
cache_key (const EcsaAuthRequest *req)
{
  const char *role = "";

  if (req->use_execution_role && req->execution_credentials != NULL && req->execution_credentials->role_arn != NULL)
    role = req->execution_credentials->role_arn;
  /* v1.16.2's key: role, region, registry ID, endpoint override */
  return g_strdup_printf ("%s|%s|%s|%s", role, req->ecr_region != NULL ? req->ecr_region : "",
                          req->ecr_registry_id != NULL ? req->ecr_registry_id : "",
                          req->ecr_endpoint_override != NULL ? req->ecr_endpoint_override : "");
}

static EcsaRegistryCredentials *
credentials_for (const CacheEntry *e, const char *image, GError **error)
{
  EcsaRegistryCredentials *c;

  if (!ecsa_ecr_proxy_endpoint_covers (e->proxy_endpoint, image))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                   "the token's registry '%s' does not serve image '%s'", e->proxy_endpoint, image);
      return NULL;
    }
  c = g_new0 (EcsaRegistryCredentials, 1);
  c->struct_size = sizeof (EcsaRegistryCredentials);
  c->username = g_strdup (e->username);
  c->password = g_strdup (e->password);
  c->server_address = g_strdup (e->proxy_endpoint);
  return c;
}

/* ---- fetches and their waiters ------------------------------------------------------------------ */

static void
waiter_free (Waiter *w)
{
  clear_source (&w->cancel_source);
  g_clear_object (&w->task);
  g_free (w->image);
  g_free (w);
}

static void
fetch_free (Fetch *f)
{
  clear_source (&f->timer);
  g_clear_object (&f->cancellable);
  g_list_free_full (f->waiters, (GDestroyNotify) waiter_free);
  credentials_free (f->credentials);
  g_free (f->key);
  g_free (f->region);
  g_free (f->registry_id);
  g_free (f->endpoint);
  g_free (f->image);
  ecr_state_unref (f->st);
  g_free (f);
}

/* Answer every waiter, from the new cache entry or with the error, and end the fetch. */
static void
fetch_complete (Fetch *f, const CacheEntry *entry, const GError *error)
{
  GList *waiters = g_steal_pointer (&f->waiters);
  GList *l;

  if (g_hash_table_lookup (f->st->fetches, f->key) == f)
    g_hash_table_remove (f->st->fetches, f->key);
  for (l = waiters; l != NULL; l = l->next)
    {
      Waiter *w = l->data;
      GError *werror = NULL;
      EcsaRegistryCredentials *c = NULL;

      if (entry != NULL)
        c = credentials_for (entry, w->image, &werror);
      else
        werror = g_error_copy (error);
      clear_source (&w->cancel_source);
      if (c != NULL)
        g_task_return_pointer (w->task, c, (GDestroyNotify) ecsa_registry_credentials_free);
      else
        g_task_return_error (w->task, werror);
    }
  g_list_free_full (waiters, (GDestroyNotify) waiter_free);
  fetch_free (f);
}

static void fetch_attempt (Fetch *f);

static gboolean
retry_cb (gpointer user_data)
{
  Fetch *f = user_data;

  clear_source (&f->timer);
  fetch_attempt (f);
  return G_SOURCE_REMOVE;
}

/* An attempt failed: retry transient errors, else answer everyone with the error. */
static void
fetch_failed (Fetch *f, GError *error)
{
  if (g_error_matches (error, ECSA_ERROR, ECSA_ERROR_RETRY) && f->attempt < ECR_MAX_ATTEMPTS
      && !g_cancellable_is_cancelled (f->st->shutdown))
    {
      guint delay = ECR_RETRY_BASE_MS << (f->attempt - 1);
      host_log (f->st->host, ECSA_LOG_INFO, "ECR GetAuthorizationToken for '%s' failed (%s), retrying in %u ms",
                f->image, error->message, delay);
      clear_source (&f->timer);
      f->timer = add_timeout (f->st->host, delay, retry_cb, f);
      g_error_free (error);
      return;
    }
  g_prefix_error (&error, "GetAuthorizationToken for registry '%s' in '%s' (%s): ",
                  *f->registry_id != '\0' ? f->registry_id : "default", f->region, f->endpoint);
  fetch_complete (f, NULL, error);
  g_error_free (error);
}

static void
cache_sweep (EcrState *st, gint64 now)
{
  GHashTableIter iter;
  CacheEntry *e;

  g_hash_table_iter_init (&iter, st->cache);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
    {
      if (now >= e->refresh_at)
        g_hash_table_iter_remove (&iter);
    }
}

static void
send_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fetch *f = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_autoptr(EcsaEcrToken) entry = NULL;
  guint status = msg != NULL ? soup_message_get_status (msg) : 0;
  gint64 now;

  clear_source (&f->timer);
  if (body == NULL)
    {
      if (f->timed_out)
        fetch_failed (f, g_error_new (ECSA_ERROR, ECSA_ERROR_TIMEOUT, "no answer within %u ms", ECR_TIMEOUT_MS));
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        fetch_failed (f, g_steal_pointer (&error));
      else
        fetch_failed (f, g_error_new (ECSA_ERROR, ECSA_ERROR_RETRY, "%s", error->message));
      return;
    }
  if (status != SOUP_STATUS_OK)
    {
      fetch_failed (f, ecsa_ecr_error_from_response (status, body));
      return;
    }
  entry = ecsa_ecr_parse_token (body, &error);
  if (entry == NULL)
    {
      fetch_failed (f, g_steal_pointer (&error));
      return;
    }
  now = g_get_real_time () / G_USEC_PER_SEC;
  entry->refresh_at = entry->expires_at - REFRESH_JITTER_MIN_S - g_random_int_range (0, REFRESH_JITTER_MIN_S);
  host_log (f->st->host, ECSA_LOG_DEBUG, "ECR token for '%s' (registry '%s', region '%s') expires in %" G_GINT64_FORMAT " s",
            entry->proxy_endpoint, *f->registry_id != '\0' ? f->registry_id : "default", f->region,
            entry->expires_at - now);
  cache_sweep (f->st, now);
  if (now < entry->refresh_at)
    {
      g_hash_table_replace (f->st->cache, g_strdup (f->key), ecsa_ecr_token_copy (entry));
    }
  fetch_complete (f, entry, NULL);
}

static gboolean
attempt_timeout_cb (gpointer user_data)
{
  Fetch *f = user_data;
  g_autoptr(GCancellable) cancellable = g_object_ref (f->cancellable);

  f->timed_out = TRUE;
  clear_source (&f->timer);
  g_cancellable_cancel (cancellable); /* may complete, and free, the fetch right here */
  return G_SOURCE_REMOVE;
}

static void
fetch_attempt (Fetch *f)
{
  const EcsaPluginHost *host = f->st->host;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = ecsa_ecr_request_body (f->registry_id);
  g_autoptr(GError) error = NULL;

  f->attempt++;
  f->timed_out = FALSE;
  msg = soup_message_new ("POST", f->endpoint);
  if (msg == NULL)
    {
      fetch_failed (f, g_error_new (ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is not a valid URL", f->endpoint));
      return;
    }
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target", ECSA_ECR_TARGET);
  soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", body);
  if (host->sigv4_sign == NULL)
    {
      fetch_failed (f, g_error_new_literal (ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "the agent lends no SigV4 signer"));
      return;
    }
  if (!host->sigv4_sign (host, msg, body, "ecr", f->region, f->credentials, &error))
    {
      g_prefix_error (&error, "signing: ");
      fetch_failed (f, g_steal_pointer (&error));
      return;
    }
  g_clear_object (&f->cancellable);
  f->cancellable = g_cancellable_new ();
  if (g_cancellable_is_cancelled (f->st->shutdown))
    g_cancellable_cancel (f->cancellable);
  clear_source (&f->timer);
  f->timer = add_timeout (host, ECR_TIMEOUT_MS, attempt_timeout_cb, f);
  host_log (host, ECSA_LOG_DEBUG, "calling ECR GetAuthorizationToken at '%s' for '%s' (attempt %u)", f->endpoint,
            f->image, f->attempt);
  soup_session_send_and_read_async (host->http_session, msg, G_PRIORITY_DEFAULT, f->cancellable, send_ready_cb, f);
}

static void
instance_credentials_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fetch *f = user_data;
  const EcsaPluginHost *host = f->st->host;
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials *creds = host->aws_credentials_finish (host, result, &error);

  if (creds == NULL)
    {
      g_prefix_error (&error, "instance credentials: ");
      f->attempt = ECR_MAX_ATTEMPTS; /* the credential chain retries on its own */
      fetch_failed (f, g_steal_pointer (&error));
      return;
    }
  f->credentials = credentials_copy (creds);
  if (host->aws_credentials_free != NULL)
    host->aws_credentials_free (host, creds);
  fetch_attempt (f);
}

static gboolean
waiter_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  Waiter *w = user_data;
  Fetch *f = w->fetch;

  f->waiters = g_list_remove (f->waiters, w);
  clear_source (&w->cancel_source);
  g_task_return_error_if_cancelled (w->task);
  waiter_free (w);
  return G_SOURCE_REMOVE; /* the fetch goes on: its token still fills the cache */
}

static void
fetch_add_waiter (Fetch *f, GTask *task, const char *image, GCancellable *cancellable)
{
  Waiter *w = g_new0 (Waiter, 1);

  w->task = g_object_ref (task);
  w->image = g_strdup (image);
  w->fetch = f;
  if (cancellable != NULL)
    {
      w->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (w->cancel_source, G_SOURCE_FUNC (waiter_cancelled_cb), w, NULL);
      g_source_attach (w->cancel_source, f->st->host->main_context);
    }
  f->waiters = g_list_append (f->waiters, w);
}

/* ---- the vtable ------------------------------------------------------------------------------------ */

static void
ecr_get_credentials_async (gpointer state, const EcsaAuthRequest *req, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  EcrState *st = state;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autofree char *key = NULL;
  GError *error = NULL;
  CacheEntry *cached;
  Fetch *f;

  g_task_set_source_tag (task, ecr_get_credentials_async);
  if (req->ecr_region == NULL || *req->ecr_region == '\0')
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                               "image '%s': registryAuthentication has no ecrAuthData region", req->image);
      return;
    }
  if (req->use_execution_role
      && (req->execution_credentials == NULL || req->execution_credentials->access_key_id == NULL
          || *req->execution_credentials->access_key_id == '\0'))
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_AUTH,
                               "image '%s': the container pulls with the task's execution role, but the "
                               "task has no execution role credentials",
                               req->image);
      return;
    }

  key = cache_key (req);
  cached = g_hash_table_lookup (st->cache, key);
  if (cached != NULL && g_get_real_time () / G_USEC_PER_SEC < cached->refresh_at)
    {
      EcsaRegistryCredentials *c = credentials_for (cached, req->image, &error);
      if (c != NULL)
        g_task_return_pointer (task, c, (GDestroyNotify) ecsa_registry_credentials_free);
      else
        g_task_return_error (task, error);
      return;
    }
  if (cached != NULL)
    g_hash_table_remove (st->cache, key);

  f = g_hash_table_lookup (st->fetches, key);
  if (f != NULL)
    {
      fetch_add_waiter (f, task, req->image, cancellable);
      return;
    }

  f = g_new0 (Fetch, 1);
  f->st = ecr_state_ref (st);
  f->key = g_strdup (key);
  f->region = g_strdup (req->ecr_region);
  f->registry_id = g_strdup (req->ecr_registry_id != NULL ? req->ecr_registry_id : "");
  f->endpoint = ecsa_ecr_endpoint_url (req->ecr_region, req->ecr_endpoint_override);
  f->image = g_strdup (req->image);
  g_hash_table_insert (st->fetches, g_strdup (key), f);
  fetch_add_waiter (f, task, req->image, cancellable);

  if (req->use_execution_role)
    {
      f->credentials = credentials_copy (req->execution_credentials);
      fetch_attempt (f);
    }
  else if (st->host->aws_credentials_async != NULL && st->host->aws_credentials_finish != NULL)
    st->host->aws_credentials_async (st->host, st->shutdown, instance_credentials_ready_cb, f);
  else
    {
      f->attempt = ECR_MAX_ATTEMPTS;
      fetch_failed (f, g_error_new_literal (ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                                            "the agent lends no instance credentials"));
    }
}

static EcsaRegistryCredentials *
ecr_get_credentials_finish (gpointer state, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecr_get_credentials_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
ecr_invalidate (gpointer state, const EcsaAuthRequest *req)
{
  EcrState *st = state;
  g_autofree char *key = cache_key (req);

  if (g_hash_table_remove (st->cache, key))
    host_log (st->host, ECSA_LOG_INFO, "dropped the cached ECR token for '%s': the registry refused it", req->image);
}

static gboolean
ecr_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  EcrState *st;

  if (host->http_session == NULL || host->sigv4_sign == NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                           "the agent lends no HTTP session or SigV4 signer");
      return FALSE;
    }
  st = g_new0 (EcrState, 1);
  st->ref = 1;
  st->host = host;
  st->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ecsa_ecr_token_free);
  st->fetches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  st->shutdown = g_cancellable_new ();
  *out_state = st;
  return TRUE;
}

static void
ecr_shutdown (gpointer state)
{
  EcrState *st = state;
  g_autoptr(GList) fetches = g_hash_table_get_values (st->fetches);
  GList *l;

  /* Fetches in flight end with G_IO_ERROR_CANCELLED and drop their references; one waiting to
   * retry sees the shutdown when its timer fires. Cancelling may complete (and free) a fetch at
   * once, so each is held by a reference to its cancellable while it is cancelled. */
  g_cancellable_cancel (st->shutdown);
  for (l = fetches; l != NULL; l = l->next)
    {
      Fetch *f = l->data;
      if (f->cancellable != NULL)
        {
          g_autoptr(GCancellable) cancellable = g_object_ref (f->cancellable);
          g_cancellable_cancel (cancellable);
        }
    }
  g_hash_table_remove_all (st->cache);
  ecr_state_unref (st);
}

static const EcsaRegistryAuthVTable ecr_vtable = {
  .version = ECSA_REGISTRY_AUTH_VTABLE_VERSION,
  .auth_type = AUTH_TYPE,
  .get_credentials_async = ecr_get_credentials_async,
  .get_credentials_finish = ecr_get_credentials_finish,
  .invalidate = ecr_invalidate,
};

/* v1.16.2 registers these when Docker's API is 1.19 or newer (always, for the Docker this agent
 * supports). */
static const char *const ecr_caps[] = {
  "com.amazonaws.ecs.capability.ecr-auth",
  "ecs.capability.execution-role-ecr-pull",
  NULL,
};

ECSA_PLUGIN_DEFINE (auth_ecr, .kind = ECSA_PLUGIN_KIND_REGISTRY_AUTH, .name = AUTH_TYPE, .version = PACKAGE_VERSION,
                    .capabilities = ecr_caps, .init = ecr_init, .shutdown = ecr_shutdown, .vtable = &ecr_vtable)
