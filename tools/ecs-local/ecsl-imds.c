/* ecsl-imds.c: the instance metadata emulation (see ecsl-imds.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-imds.h"
#include "ecsl-util.h"

#include <string.h>

#define TOKEN_HEADER "X-aws-ec2-metadata-token"
#define TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
#define MAX_TOKENS 1024
#define MAC "02:00:00:00:00:01"

typedef struct
{
  EcslContext *ctx;
  GHashTable *tokens; /* token -> expiry (ms, as gint64*) */
  char *document;
  char *signature;
  char *profile_id;
} Imds;

static Imds *imds;

static void
imds_free (Imds *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->tokens);
  g_free (self->document);
  g_free (self->signature);
  g_free (self->profile_id);
  g_free (self);
}

static void
respond_text (SoupServerMessage *msg, guint status, const char *text)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
handle_token (Imds *self, SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *ttl_text = soup_message_headers_get_one (h, TTL_HEADER);
  char *end = NULL;
  gint64 ttl = ttl_text != NULL ? g_ascii_strtoll (ttl_text, &end, 10) : 0;
  g_autofree char *token = NULL;
  gint64 now = ecsl_now_ms ();
  gint64 *expiry;
  GHashTableIter iter;
  gpointer value;

  if (soup_message_headers_get_one (h, "X-Forwarded-For") != NULL)
    {
      respond_text (msg, 403, "Forbidden");
      return;
    }
  if (ttl_text == NULL || end == ttl_text || *end != '\0' || ttl < 1 || ttl > 21600)
    {
      respond_text (msg, 400, "Bad Request: " TTL_HEADER " must be 1 to 21600");
      return;
    }
  g_hash_table_iter_init (&iter, self->tokens);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (*(gint64 *) value <= now)
      g_hash_table_iter_remove (&iter);
  if (g_hash_table_size (self->tokens) >= MAX_TOKENS)
    {
      respond_text (msg, 429, "Too Many Requests");
      return;
    }
  token = ecsl_random_string ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 56);
  expiry = g_new (gint64, 1);
  *expiry = now + ttl * 1000;
  g_hash_table_insert (self->tokens, g_strdup (token), expiry);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), TTL_HEADER, ttl_text);
  respond_text (msg, 200, token);
}

static char *
role_credentials (Imds *self)
{
  EcslContext *ctx = self->ctx;
  const EcslCredEntry *e = ecsl_credentials_find_current (ctx->creds, ECSL_CRED_INSTANCE_ROLE, NULL);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(EcslSecret) secret = NULL;
  g_autoptr(EcslSecret) token = NULL;
  g_autofree char *role_arn = NULL;
  g_autofree char *updated = NULL;
  g_autofree char *expiration = NULL;
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  if (e == NULL || e->expiration_ms - ecsl_now_ms () < ctx->config.credentials_ttl_ms / 2)
    {
      role_arn = g_strdup_printf ("arn:aws:iam::%s:role/%s", ctx->config.account_id, ctx->config.instance_role);
      e = ecsl_credentials_mint (ctx->creds, ECSL_CRED_INSTANCE_ROLE, role_arn, NULL, NULL,
                                 ctx->config.credentials_ttl_ms);
      {
        g_autofree char *until = ecsl_iso8601 (e->expiration_ms);
        g_message ("IMDS: issued instance role credentials %s (expire %s)", e->access_key_id, until);
      }
    }
  secret = ecsl_credentials_secret (ctx->creds, e);
  token = ecsl_credentials_token (ctx->creds, e);
  updated = ecsl_iso8601 (ecsl_now_ms ());
  expiration = ecsl_iso8601 (e->expiration_ms);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Code");
  json_builder_add_string_value (b, "Success");
  json_builder_set_member_name (b, "LastUpdated");
  json_builder_add_string_value (b, updated);
  json_builder_set_member_name (b, "Type");
  json_builder_add_string_value (b, "AWS-HMAC");
  json_builder_set_member_name (b, "AccessKeyId");
  json_builder_add_string_value (b, e->access_key_id);
  json_builder_set_member_name (b, "SecretAccessKey");
  json_builder_add_string_value (b, secret);
  json_builder_set_member_name (b, "Token");
  json_builder_add_string_value (b, token);
  json_builder_set_member_name (b, "Expiration");
  json_builder_add_string_value (b, expiration);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  return json_generator_to_data (gen, NULL);
}

static char *
lookup (Imds *self, const char *path)
{
  EcslContext *ctx = self->ctx;
  const EcslConfig *c = &ctx->config;
  g_autofree char *macs_prefix = g_strdup_printf ("meta-data/network/interfaces/macs/%s/", MAC);

  if (strcmp (path, "") == 0)
    return g_strdup ("dynamic\nmeta-data");
  if (strcmp (path, "meta-data/") == 0 || strcmp (path, "meta-data") == 0)
    return g_strdup ("ami-id\nami-launch-index\nhostname\niam/\ninstance-id\ninstance-type\nlocal-hostname\n"
                     "local-ipv4\nmac\nnetwork/\nplacement/");
  if (strcmp (path, "meta-data/ami-id") == 0)
    return g_strdup (c->ami_id);
  if (strcmp (path, "meta-data/ami-launch-index") == 0)
    return g_strdup ("0");
  if (strcmp (path, "meta-data/hostname") == 0 || strcmp (path, "meta-data/local-hostname") == 0)
    return g_strdup_printf ("ip-127-0-0-1.%s.compute.internal", c->region);
  if (strcmp (path, "meta-data/instance-id") == 0)
    return g_strdup (c->instance_id);
  if (strcmp (path, "meta-data/instance-type") == 0)
    return g_strdup (c->instance_type);
  if (strcmp (path, "meta-data/local-ipv4") == 0)
    return g_strdup ("127.0.0.1");
  if (strcmp (path, "meta-data/mac") == 0)
    return g_strdup (MAC);
  if (strcmp (path, "meta-data/placement/") == 0)
    return g_strdup ("availability-zone\nregion");
  if (strcmp (path, "meta-data/placement/availability-zone") == 0)
    return g_strdup (c->availability_zone);
  if (strcmp (path, "meta-data/placement/region") == 0)
    return g_strdup (c->region);
  if (strcmp (path, "meta-data/iam/") == 0)
    return g_strdup ("info\nsecurity-credentials/");
  if (strcmp (path, "meta-data/iam/info") == 0)
    {
      g_autofree char *updated = ecsl_iso8601 (ecsl_now_ms ());
      return g_strdup_printf ("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"%s\",\n"
                              "  \"InstanceProfileArn\" : \"arn:aws:iam::%s:instance-profile/%s\",\n"
                              "  \"InstanceProfileId\" : \"%s\"\n}",
                              updated, c->account_id, c->instance_role, self->profile_id);
    }
  if (strcmp (path, "meta-data/iam/security-credentials/") == 0
      || strcmp (path, "meta-data/iam/security-credentials") == 0)
    return g_strdup (c->instance_role);
  if (g_str_has_prefix (path, "meta-data/iam/security-credentials/")
      && strcmp (path + strlen ("meta-data/iam/security-credentials/"), c->instance_role) == 0)
    return role_credentials (self);
  if (strcmp (path, "meta-data/network/") == 0)
    return g_strdup ("interfaces/");
  if (strcmp (path, "meta-data/network/interfaces/") == 0)
    return g_strdup ("macs/");
  if (strcmp (path, "meta-data/network/interfaces/macs/") == 0)
    return g_strdup (MAC "/");
  if (strcmp (path, macs_prefix) == 0)
    return g_strdup ("device-number\nlocal-ipv4s\nsubnet-id\nvpc-id");
  if (g_str_has_prefix (path, macs_prefix))
    {
      const char *leaf = path + strlen (macs_prefix);
      if (strcmp (leaf, "device-number") == 0)
        return g_strdup ("0");
      if (strcmp (leaf, "local-ipv4s") == 0)
        return g_strdup ("127.0.0.1");
      if (strcmp (leaf, "subnet-id") == 0)
        return g_strdup ("subnet-0ec5a10ca1000000");
      if (strcmp (leaf, "vpc-id") == 0)
        return g_strdup ("vpc-0ec5a10ca1000000");
    }
  if (strcmp (path, "dynamic/") == 0 || strcmp (path, "dynamic") == 0)
    return g_strdup ("instance-identity/");
  if (strcmp (path, "dynamic/instance-identity/") == 0)
    return g_strdup ("document\nsignature");
  if (strcmp (path, "dynamic/instance-identity/document") == 0)
    return g_strdup (self->document);
  if (strcmp (path, "dynamic/instance-identity/signature") == 0)
    return g_strdup (self->signature);
  return NULL;
}

static void
imds_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Imds *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *token = soup_message_headers_get_one (h, TOKEN_HEADER);
  g_autofree char *answer = NULL;

  if (strcmp (path, "/latest/api/token") == 0)
    {
      if (strcmp (method, "PUT") == 0)
        handle_token (self, msg);
      else
        respond_text (msg, 405, "Method Not Allowed");
      return;
    }
  if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
    {
      respond_text (msg, 405, "Method Not Allowed");
      return;
    }
  if (token != NULL)
    {
      gint64 *expiry = g_hash_table_lookup (self->tokens, token);
      if (expiry == NULL || *expiry <= ecsl_now_ms ())
        {
          respond_text (msg, 401, "Unauthorized");
          return;
        }
    }
  else if (self->ctx->config.imds_v2_only)
    {
      respond_text (msg, 401, "Unauthorized");
      return;
    }
  if (g_str_has_prefix (path, "/latest/"))
    answer = lookup (self, path + strlen ("/latest/"));
  else if (strcmp (path, "/latest") == 0 || strcmp (path, "/") == 0)
    answer = g_strdup (strcmp (path, "/") == 0 ? "latest" : "dynamic\nmeta-data");
  if (answer == NULL)
    {
      respond_text (msg, 404, "Not Found");
      return;
    }
  respond_text (msg, 200, answer);
}

gboolean
ecsl_imds_start (EcslContext *ctx, GError **error)
{
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) sa = NULL;
  g_autofree char *pending = ecsl_iso8601 (ecsl_now_ms ());
  GSList *listeners;

  imds = g_new0 (Imds, 1);
  imds->ctx = ctx;
  imds->tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  imds->profile_id = g_strdup_printf ("AIPA%s", ctx->config.instance_id + 2);
  for (char *p = imds->profile_id; *p != '\0'; p++)
    *p = g_ascii_toupper (*p);
  imds->document = g_strdup_printf ("{\n"
                                    "  \"accountId\" : \"%s\",\n"
                                    "  \"architecture\" : \"x86_64\",\n"
                                    "  \"availabilityZone\" : \"%s\",\n"
                                    "  \"billingProducts\" : null,\n"
                                    "  \"devpayProductCodes\" : null,\n"
                                    "  \"marketplaceProductCodes\" : null,\n"
                                    "  \"imageId\" : \"%s\",\n"
                                    "  \"instanceId\" : \"%s\",\n"
                                    "  \"instanceType\" : \"%s\",\n"
                                    "  \"kernelId\" : null,\n"
                                    "  \"pendingTime\" : \"%s\",\n"
                                    "  \"privateIp\" : \"127.0.0.1\",\n"
                                    "  \"ramdiskId\" : null,\n"
                                    "  \"region\" : \"%s\",\n"
                                    "  \"version\" : \"2017-09-30\"\n"
                                    "}",
                                    ctx->config.account_id, ctx->config.availability_zone, ctx->config.ami_id,
                                    ctx->config.instance_id, ctx->config.instance_type, pending, ctx->config.region);
  imds->signature = ecsl_tls_sign_identity (ctx->tls, imds->document, error);
  if (imds->signature == NULL)
    return FALSE;

  ctx->imds_server = soup_server_new ("server-header", "EC2ws", NULL);
  soup_server_add_handler (ctx->imds_server, "/", imds_cb, imds, NULL);
  sa = g_inet_socket_address_new (lo, (guint16) ctx->config.imds_port);
  if (!soup_server_listen (ctx->imds_server, sa, 0, error))
    {
      g_prefix_error (error, "instance metadata on 127.0.0.1 port %d: ", ctx->config.imds_port);
      return FALSE;
    }
  listeners = soup_server_get_listeners (ctx->imds_server);
  {
    g_autoptr(GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);
    ctx->imds_port = local != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : 0;
  }
  g_slist_free (listeners);
  ctx->imds_endpoint = g_strdup_printf ("http://127.0.0.1:%u", ctx->imds_port);
  return TRUE;
}

void
ecsl_imds_stop (EcslContext *ctx)
{
  if (ctx->imds_server != NULL)
    soup_server_disconnect (ctx->imds_server);
  g_clear_object (&ctx->imds_server);
  g_clear_pointer (&imds, imds_free);
}
