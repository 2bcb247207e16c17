/* ecsl-util.c: small helpers of ecs-local (see ecsl-util.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-util.h"
#include "ecsl-context.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK (ecsl-api-error-quark, ecsl_api_error)

typedef struct
{
  const char *type;
  guint status;
} ErrorInfo;

static const ErrorInfo error_info[] = {
  [ECSL_API_ERROR_CLIENT] = { "ClientException", 400 },
  [ECSL_API_ERROR_INVALID_PARAMETER] = { "InvalidParameterException", 400 },
  [ECSL_API_ERROR_CLUSTER_NOT_FOUND] = { "ClusterNotFoundException", 400 },
  [ECSL_API_ERROR_CLUSTER_CONTAINS_INSTANCES] = { "ClusterContainsContainerInstancesException", 400 },
  [ECSL_API_ERROR_CLUSTER_CONTAINS_TASKS] = { "ClusterContainsTasksException", 400 },
  [ECSL_API_ERROR_UNSUPPORTED_FEATURE] = { "UnsupportedFeatureException", 400 },
  [ECSL_API_ERROR_ACCESS_DENIED] = { "AccessDeniedException", 400 },
  [ECSL_API_ERROR_SERVER] = { "ServerException", 500 },
  [ECSL_API_ERROR_SERIALIZATION] = { "SerializationException", 400 },
  [ECSL_API_ERROR_UNKNOWN_OPERATION] = { "UnknownOperationException", 400 },
  [ECSL_API_ERROR_MISSING_AUTHENTICATION] = { "MissingAuthenticationTokenException", 403 },
  [ECSL_API_ERROR_INCOMPLETE_SIGNATURE] = { "IncompleteSignatureException", 400 },
  [ECSL_API_ERROR_UNRECOGNIZED_CLIENT] = { "UnrecognizedClientException", 400 },
  [ECSL_API_ERROR_INVALID_SIGNATURE] = { "InvalidSignatureException", 400 },
  [ECSL_API_ERROR_EXPIRED_TOKEN] = { "ExpiredTokenException", 400 },
  [ECSL_API_ERROR_ECR_INVALID_PARAMETER] = { "InvalidParameterException", 422 },
};

const char *
ecsl_api_error_type (const GError *error)
{
  if (error == NULL || error->domain != ECSL_API_ERROR || error->code < 0
      || (gsize) error->code >= G_N_ELEMENTS (error_info))
    return "ServerException";
  return error_info[error->code].type;
}

guint
ecsl_api_error_status (const GError *error)
{
  if (error == NULL || error->domain != ECSL_API_ERROR || error->code < 0
      || (gsize) error->code >= G_N_ELEMENTS (error_info))
    return 500;
  return error_info[error->code].status;
}

/* ------------------------------------------------------------------------------------------- */

void
ecsl_random_bytes (void *buf, gsize len)
{
  int rc = gnutls_rnd (GNUTLS_RND_KEY, buf, len);

  if (rc < 0)
    g_error ("gnutls_rnd failed: %s", gnutls_strerror (rc));
}

char *
ecsl_random_hex (guint n)
{
  return ecsl_random_string ("0123456789abcdef", n);
}

char *
ecsl_random_string (const char *alphabet, guint n)
{
  gsize alen = strlen (alphabet);
  /* Reject bytes above the largest multiple of alen so every character is equally likely. */
  guint limit = 256 - (256 % alen);
  char *out = g_malloc (n + 1);
  guint i = 0;

  g_assert (alen > 0 && alen <= 256);
  while (i < n)
    {
      guint8 buf[64];
      ecsl_random_bytes (buf, sizeof buf);
      for (gsize k = 0; k < sizeof buf && i < n; k++)
        if (buf[k] < limit)
          out[i++] = alphabet[buf[k] % alen];
    }
  out[n] = '\0';
  return out;
}

char *
ecsl_random_uuid (void)
{
  guint8 b[16];

  ecsl_random_bytes (b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                          b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

gint64
ecsl_now_ms (void)
{
  return g_get_real_time () / 1000;
}

char *
ecsl_iso8601 (gint64 ms)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (ms / 1000);

  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

void
ecsl_json_add_timestamp (JsonBuilder *b, const char *member, gint64 ms)
{
  if (ms <= 0)
    return;
  json_builder_set_member_name (b, member);
  if (ms % 1000 == 0)
    json_builder_add_int_value (b, ms / 1000);
  else
    json_builder_add_double_value (b, (double) ms / 1000.0);
}

JsonNode *
ecsl_json_timestamp_node (gint64 ms)
{
  JsonNode *n = json_node_new (JSON_NODE_VALUE);

  if (ms % 1000 == 0)
    json_node_set_int (n, ms / 1000);
  else
    json_node_set_double (n, (double) ms / 1000.0);
  return n;
}

/* ------------------------------------------------------------------------------------------- */
/* request readers */

static JsonNode *
member_node (JsonObject *req, const char *member)
{
  JsonNode *node = req != NULL ? json_object_get_member (req, member) : NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return node;
}

static gboolean
type_error (const char *member, const char *expected, GError **error)
{
  g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "'%s' must be %s", member, expected);
  return FALSE;
}

gboolean
ecsl_req_string (JsonObject *req, const char *member, const char **out, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return type_error (member, "a string", error);
  *out = json_node_get_string (node);
  return TRUE;
}

gboolean
ecsl_req_int (JsonObject *req, const char *member, gint64 *out, gboolean *out_present, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (out_present != NULL)
    *out_present = FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      /* JSON has one number type: accept a double with no fraction, as AWS's parser does. */
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
        {
          double d = json_node_get_double (node);
          if (d == floor (d) && fabs (d) < 9.0e15)
            {
              *out = (gint64) d;
              if (out_present != NULL)
                *out_present = TRUE;
              return TRUE;
            }
        }
      return type_error (member, "an integer", error);
    }
  *out = json_node_get_int (node);
  if (out_present != NULL)
    *out_present = TRUE;
  return TRUE;
}

gboolean
ecsl_req_bool (JsonObject *req, const char *member, gboolean *out, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return type_error (member, "a boolean", error);
  *out = json_node_get_boolean (node);
  return TRUE;
}

gboolean
ecsl_req_array (JsonObject *req, const char *member, JsonArray **out, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return type_error (member, "a list", error);
  *out = json_node_get_array (node);
  return TRUE;
}

gboolean
ecsl_req_object (JsonObject *req, const char *member, JsonObject **out, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return type_error (member, "a structure", error);
  *out = json_node_get_object (node);
  return TRUE;
}

gboolean
ecsl_req_strv (JsonObject *req, const char *member, char ***out, GError **error)
{
  JsonArray *array = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;

  if (!ecsl_req_array (req, member, &array, error))
    return FALSE;
  if (array == NULL)
    return TRUE;
  builder = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *n = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        return type_error (member, "a list of strings", error);
      g_strv_builder_add (builder, json_node_get_string (n));
    }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

gboolean
ecsl_req_timestamp (JsonObject *req, const char *member, gint64 *out_ms, GError **error)
{
  JsonNode *node = member_node (req, member);

  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out_ms = json_node_get_int (node) * 1000;
      return TRUE;
    }
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
    {
      *out_ms = (gint64) llround (json_node_get_double (node) * 1000.0);
      return TRUE;
    }
  return type_error (member, "a timestamp (epoch seconds)", error);
}

/* ------------------------------------------------------------------------------------------- */

JsonNode *
ecsl_json_deep_copy (JsonNode *node)
{
  JsonNode *copy;

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *src = json_node_get_object (node);
      JsonObject *dst = json_object_new ();
      GList *members = json_object_get_members (src);
      for (GList *l = members; l != NULL; l = l->next)
        json_object_set_member (dst, l->data, ecsl_json_deep_copy (json_object_get_member (src, l->data)));
      g_list_free (members);
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (copy, dst);
      return copy;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *src = json_node_get_array (node);
      JsonArray *dst = json_array_sized_new (json_array_get_length (src));
      for (guint i = 0; i < json_array_get_length (src); i++)
        json_array_add_element (dst, ecsl_json_deep_copy (json_array_get_element (src, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (copy, dst);
      return copy;
    }
  return json_node_copy (node);
}

char *
ecsl_json_to_string (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

JsonNode *
ecsl_json_parse (const char *data, gssize len, const char *what, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;

  if (!json_parser_load_from_data (parser, data, len, &local))
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "%s is not valid JSON: %s", what,
                   local->message);
      return NULL;
    }
  if (json_parser_get_root (parser) == NULL)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "%s is empty", what);
      return NULL;
    }
  return json_parser_steal_root (parser);
}

const char *
ecsl_json_object_string (JsonObject *o, const char *member)
{
  JsonNode *node = member_node (o, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

JsonArray *
ecsl_json_object_array (JsonObject *o, const char *member)
{
  JsonNode *node = member_node (o, member);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

JsonObject *
ecsl_json_object_object (JsonObject *o, const char *member)
{
  JsonNode *node = member_node (o, member);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

gboolean
ecsl_json_object_int (JsonObject *o, const char *member, gint64 *out)
{
  JsonNode *node = member_node (o, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    *out = json_node_get_int (node);
  else if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    *out = (gint64) json_node_get_double (node);
  else
    return FALSE;
  return TRUE;
}

guint8 *
ecsl_base64_decode_strict (const char *text, gsize *out_len)
{
  g_autoptr(GString) clean = g_string_new (NULL);
  gsize n;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (g_ascii_isspace (*p))
        continue;
      if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
        return NULL;
      g_string_append_c (clean, *p);
    }
  n = clean->len;
  if (n == 0 || n % 4 != 0)
    return NULL;
  return g_base64_decode (clean->str, out_len);
}

gboolean
ecsl_write_file (const char *path, const char *contents, gssize len, int mode, GError **error)
{
  return g_file_set_contents_full (path, contents, len,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, mode, error);
}

/* ------------------------------------------------------------------------------------------- */

void
ecsl_config_clear (EcslConfig *c)
{
  g_free (c->state_dir);
  g_free (c->listen_address);
  g_free (c->advertise_host);
  g_strfreev (c->hostnames);
  g_free (c->region);
  g_free (c->account_id);
  g_free (c->ecr_registry);
  if (c->ecr_password != NULL)
    memset (c->ecr_password, 0, strlen (c->ecr_password));
  g_free (c->ecr_password);
  g_free (c->instance_role);
  g_free (c->instance_id);
  g_free (c->instance_type);
  g_free (c->availability_zone);
  g_free (c->ami_id);
  g_free (c->trace_file);
}
