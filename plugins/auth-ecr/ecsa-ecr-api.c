/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-ecr-api.h"

#include <json-glib/json-glib.h>
#include <string.h>

void
ecsa_ecr_wipe (char *secret)
{
  volatile char *p = secret;

  if (p == NULL)
    return;
  while (*p != '\0')
    *p++ = '\0';
}

void
ecsa_ecr_token_free (EcsaEcrToken *token)
{
  if (token == NULL)
    return;
  ecsa_ecr_wipe (token->username);
  ecsa_ecr_wipe (token->password);
  g_free (token->username);
  g_free (token->password);
  g_free (token->proxy_endpoint);
  g_free (token);
}

EcsaEcrToken *
ecsa_ecr_token_copy (const EcsaEcrToken *token)
{
  EcsaEcrToken *copy = g_new0 (EcsaEcrToken, 1);

  copy->username = g_strdup (token->username);
  copy->password = g_strdup (token->password);
  copy->proxy_endpoint = g_strdup (token->proxy_endpoint);
  copy->expires_at = token->expires_at;
  copy->refresh_at = token->refresh_at;
  return copy;
}

char *
ecsa_ecr_endpoint_url (const char *region, const char *override)
{
  if (override != NULL && *override != '\0')
    {
      g_autofree char *url = strstr (override, "://") != NULL ? g_strdup (override)
                                                                : g_strconcat ("https://", override, NULL);
      const char *authority = strstr (url, "://") + 3;
      return strchr (authority, '/') != NULL ? g_steal_pointer (&url) : g_strconcat (url, "/", NULL);
    }
  return g_strdup_printf ("https://ecr.%s.amazonaws.com%s/", region, g_str_has_prefix (region, "cn-") ? ".cn" : "");
}

GBytes *
ecsa_ecr_request_body (const char *registry_id)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  char *text;

  json_builder_begin_object (b);
  if (registry_id != NULL && *registry_id != '\0')
    {
      json_builder_set_member_name (b, "registryIds");
      json_builder_begin_array (b);
      json_builder_add_string_value (b, registry_id);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  return g_bytes_new_take (text, strlen (text));
}

/* Does the token's proxyEndpoint cover the image? (v1.16.2: "https://" + image starts with it.) */
gboolean
ecsa_ecr_proxy_endpoint_covers (const char *proxy_endpoint, const char *image)
{
  g_autofree char *url = g_strconcat ("https://", image, NULL);
  gsize len = strlen (proxy_endpoint);

  if (len == 0 || !g_str_has_prefix (url, proxy_endpoint))
    return FALSE;
  /* at a boundary: "https://r.example" must not cover "r.example.evil/..." */
  return proxy_endpoint[len - 1] == '/' || url[len] == '/' || url[len] == '\0';
}

static const char *const auth_error_types[] = {
  "UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
  "ExpiredTokenException",       "IncompleteSignature",       "MissingAuthenticationTokenException",
  "InvalidClientTokenId",        "SignatureDoesNotMatch",     "AccessDenied",
  "MissingAuthenticationToken",  "UnauthorizedOperation",     NULL,
};
static const char *const retry_error_types[] = {
  "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
  "ServerException",     "ServiceUnavailable", "RequestTimeout",       NULL,
};

static JsonObject *
parse_object (GBytes *body, JsonParser *parser)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  JsonNode *root;

  if (data == NULL || len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

static const char *
member_string (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

GError *
ecsa_ecr_error_from_response (guint status, GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *o = parse_object (body, parser);
  const char *type = o != NULL ? member_string (o, "__type") : NULL;
  const char *message = NULL;
  const char *hash;
  int code;

  if (o != NULL)
    {
      message = member_string (o, "message");
      if (message == NULL)
        message = member_string (o, "Message");
    }
  if (type != NULL && (hash = strrchr (type, '#')) != NULL)
    type = hash + 1;
  if (status >= 500)
    code = ECSA_ERROR_RETRY;
  else if (status == 401 || status == 403)
    code = ECSA_ERROR_AUTH;
  else
    code = ECSA_ERROR_FAILED;
  if (type != NULL)
    {
      if (g_strv_contains (auth_error_types, type))
        code = ECSA_ERROR_AUTH;
      else if (g_strv_contains (retry_error_types, type))
        code = ECSA_ERROR_RETRY;
      else if (g_strcmp0 (type, "InvalidParameterException") == 0)
        code = ECSA_ERROR_INVALID_DATA;
    }
  return g_error_new (ECSA_ERROR, code, "HTTP %u%s%s%s%s", status, type != NULL ? " " : "", type != NULL ? type : "",
                      message != NULL ? ": " : "", message != NULL ? message : "");
}

static gboolean
get_expiry (JsonObject *data, gint64 *out_expires_at)
{
  JsonNode *n = json_object_get_member (data, "expiresAt");
  GType t;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  t = json_node_get_value_type (n);
  if (t == G_TYPE_DOUBLE)
    {
      double d = json_node_get_double (n);
      /* unix seconds; anything outside 0..year 9999 is not an expiry (and would overflow) */
      if (!(d >= 0 && d < 253402300800.0))
        return FALSE;
      *out_expires_at = (gint64) d;
    }
  else if (t == G_TYPE_INT64)
    *out_expires_at = json_node_get_int (n);
  else
    return FALSE;
  return TRUE;
}

EcsaEcrToken *
ecsa_ecr_parse_token (GBytes *body, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(EcsaEcrToken) e = g_new0 (EcsaEcrToken, 1);
  g_autofree guchar *decoded = NULL;
  JsonObject *o = parse_object (body, parser);
  JsonNode *list;
  JsonObject *data;
  const char *token;
  const char *proxy;
  gsize len = 0;
  guint n;
  char *colon;

  if (o == NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_RETRY, "the answer is not a JSON object");
      return NULL;
    }
  list = json_object_get_member (o, "authorizationData");
  n = list != NULL && JSON_NODE_HOLDS_ARRAY (list) ? json_array_get_length (json_node_get_array (list)) : 0;
  if (n != 1)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                   "unexpected number of results in authorizationData (%u)", n);
      return NULL;
    }
  data = json_array_get_object_element (json_node_get_array (list), 0);
  token = data != NULL ? member_string (data, "authorizationToken") : NULL;
  proxy = data != NULL ? member_string (data, "proxyEndpoint") : NULL;
  if (token == NULL || proxy == NULL || !get_expiry (data, &e->expires_at))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "authorizationData lacks authorizationToken, proxyEndpoint or expiresAt");
      return NULL;
    }
  decoded = g_base64_decode (token, &len);
  ecsa_ecr_wipe ((char *) token);
  colon = decoded != NULL ? memchr (decoded, ':', len) : NULL;
  if (colon == NULL || memchr (decoded, '\0', len) != NULL)
    {
      if (decoded != NULL)
        memset (decoded, 0, len);
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "authorizationToken is not base64 of 'user:password'");
      return NULL;
    }
  e->username = g_strndup ((const char *) decoded, (gsize) (colon - (char *) decoded));
  e->password = g_strndup (colon + 1, len - (gsize) (colon - (char *) decoded) - 1);
  memset (decoded, 0, len);
  e->proxy_endpoint = g_strdup (proxy);
  return g_steal_pointer (&e);
}

