/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-acs.h"

#include <string.h>

char *
ecsa_test_server_listen (SoupServer *server)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;
  GUri *uri;
  char *url;

  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  g_assert_nonnull (uris);
  uri = uris->data;
  url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uri));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return url;
}

const EcsaAwsCredentials *
ecsa_test_credentials (gboolean with_token)
{
  static EcsaAwsCredentials plain = { sizeof (EcsaAwsCredentials), 0, ECSA_TEST_ACCESS_KEY, ECSA_TEST_SECRET_KEY, "",
                                      0, "" };
  static EcsaAwsCredentials token = { sizeof (EcsaAwsCredentials), 0, ECSA_TEST_ACCESS_KEY, ECSA_TEST_SECRET_KEY,
                                      ECSA_TEST_SESSION_TOKEN, 0, "" };
  return with_token ? &token : &plain;
}

/* ---- IMDS ---------------------------------------------------------------------------------- */

static void
imds_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  EcsaTestImds *imds = user_data;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *token;
  const char *body;

  if (strcmp (path, "/latest/api/token") == 0)
    {
      const char *ttl = soup_message_headers_get_one (req, "X-aws-ec2-metadata-token-ttl-seconds");

      if (strcmp (method, "PUT") != 0)
        {
          soup_server_message_set_status (msg, 405, NULL);
          return;
        }
      imds->token_requests++;
      if (imds->token_status != 0)
        {
          soup_server_message_set_status (msg, imds->token_status, NULL);
          return;
        }
      if (ttl == NULL)
        {
          soup_server_message_set_status (msg, 400, NULL);
          return;
        }
      imds->token_ttl = (guint) g_ascii_strtoull (ttl, NULL, 10);
      g_free (imds->issued_token);
      imds->issued_token = g_strdup_printf ("imds-token-%u-%08x", imds->token_requests, g_random_int ());
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, imds->issued_token,
                                        strlen (imds->issued_token));
      return;
    }
  if (strcmp (method, "GET") != 0)
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  imds->gets++;
  token = soup_message_headers_get_one (req, "X-aws-ec2-metadata-token");
  if (token != NULL)
    imds->gets_with_token++;
  else
    imds->gets_without_token++;
  if (imds->stall_gets > 0)
    {
      imds->stall_gets--;
      soup_server_message_pause (msg);
      g_ptr_array_add (imds->stalled, g_object_ref (msg));
      return;
    }
  if (imds->fail_gets > 0)
    {
      imds->fail_gets--;
      soup_server_message_set_status (msg, 500, NULL);
      return;
    }
  if (token != NULL && imds->revoke_once)
    {
      imds->revoke_once = FALSE;
      g_clear_pointer (&imds->issued_token, g_free);
      soup_server_message_set_status (msg, 401, NULL);
      return;
    }
  if (token != NULL ? g_strcmp0 (token, imds->issued_token) != 0 : imds->require_token)
    {
      soup_server_message_set_status (msg, 401, NULL);
      return;
    }
  body = g_hash_table_lookup (imds->paths, path);
  if (body == NULL)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, body, strlen (body));
}

EcsaTestImds *
ecsa_test_imds_new (void)
{
  EcsaTestImds *imds = g_new0 (EcsaTestImds, 1);

  imds->paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  imds->stalled = g_ptr_array_new_with_free_func (g_object_unref);
  imds->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (imds->server, NULL, imds_handler, imds, NULL);
  imds->url = ecsa_test_server_listen (imds->server);
  return imds;
}

void
ecsa_test_imds_free (EcsaTestImds *imds)
{
  if (imds == NULL)
    return;
  for (guint i = 0; i < imds->stalled->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (imds->stalled, i);
      soup_server_message_set_status (msg, 500, NULL);
      soup_server_message_unpause (msg);
    }
  soup_server_disconnect (imds->server);
  g_object_unref (imds->server);
  g_ptr_array_unref (imds->stalled);
  g_hash_table_unref (imds->paths);
  g_free (imds->issued_token);
  g_free (imds->url);
  g_free (imds);
}

void
ecsa_test_imds_set (EcsaTestImds *imds, const char *path, const char *body)
{
  g_hash_table_replace (imds->paths, g_strconcat ("/latest/", path, NULL), g_strdup (body));
}

void
ecsa_test_imds_set_role (EcsaTestImds *imds, const char *role, const char *akid, const char *secret, const char *token,
                         gint64 expires_in)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) expires = g_date_time_add_seconds (now, (gdouble) expires_in);
  g_autofree char *expiration = g_date_time_format (expires, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *path = g_strconcat ("meta-data/iam/security-credentials/", role, NULL);
  g_autofree char *json = g_strdup_printf ("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2017-11-27T19:00:00Z\",\n"
                                           "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
                                           "  \"SecretAccessKey\" : \"%s\",\n  \"Token\" : \"%s\",\n"
                                           "  \"Expiration\" : \"%s\"\n}",
                                           akid, secret, token, expiration);
  g_autofree char *list = g_strconcat (role, "\n", NULL);

  ecsa_test_imds_set (imds, "meta-data/iam/security-credentials/", list);
  ecsa_test_imds_set (imds, path, json);
}

void
ecsa_test_imds_set_identity (EcsaTestImds *imds, const char *instance_id, const char *region)
{
  g_autofree char *doc = g_strdup_printf (
    "{\n  \"accountId\" : \"123456789012\",\n  \"architecture\" : \"x86_64\",\n"
    "  \"availabilityZone\" : \"%sa\",\n  \"imageId\" : \"ami-0123456789abcdef0\",\n"
    "  \"instanceId\" : \"%s\",\n  \"instanceType\" : \"m5.large\",\n  \"pendingTime\" : \"2017-11-27T19:00:00Z\",\n"
    "  \"privateIp\" : \"10.0.0.10\",\n  \"region\" : \"%s\",\n  \"version\" : \"2017-09-30\"\n}",
    region, instance_id, region);

  ecsa_test_imds_set (imds, "dynamic/instance-identity/document", doc);
  ecsa_test_imds_set (imds, "dynamic/instance-identity/signature", "dGVzdC1zaWduYXR1cmUtb2YtdGhlLWRvY3VtZW50");
  ecsa_test_imds_set (imds, "meta-data/instance-id", instance_id);
}

/* ---- log capture --------------------------------------------------------------------------- */

static GString *captured;
static gboolean capturing;
static gboolean writer_installed;
G_LOCK_DEFINE_STATIC (captured);

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if (capturing)
    {
      const char *message = NULL, *domain = NULL;

      for (gsize i = 0; i < n_fields; i++)
        {
          if (strcmp (fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
          else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        }
      G_LOCK (captured);
      g_string_append_printf (captured, "%s: %s\n", domain != NULL ? domain : "-", message != NULL ? message : "");
      G_UNLOCK (captured);
    }
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && g_getenv ("G_MESSAGES_DEBUG") == NULL)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
ecsa_test_log_capture_start (void)
{
  if (!writer_installed)
    {
      g_log_set_writer_func (capture_writer, NULL, NULL);
      writer_installed = TRUE;
    }
  G_LOCK (captured);
  if (captured == NULL)
    captured = g_string_new (NULL);
  g_string_truncate (captured, 0);
  capturing = TRUE;
  G_UNLOCK (captured);
}

const char *
ecsa_test_log_captured (void)
{
  return captured != NULL ? captured->str : "";
}

void
ecsa_test_log_capture_stop (void)
{
  capturing = FALSE;
}

void
ecsa_test_log_assert_no_secret (const char *const *secrets)
{
  const char *text = ecsa_test_log_captured ();

  for (guint i = 0; secrets[i] != NULL; i++)
    if (*secrets[i] != '\0' && strstr (text, secrets[i]) != NULL)
      g_error ("secret '%.4s...' appears in the log:\n%s", secrets[i], text);
}
