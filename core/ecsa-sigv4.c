/* ecsa-sigv4.c: AWS Signature Version 4 (see ecsa-sigv4.h for the canonicalisation rules).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-sigv4.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK (ecsa-sigv4-error-quark, ecsa_sigv4_error)

typedef struct
{
  char *name;  /* lower case */
  char *value; /* as given */
} Header;

struct _EcsaSigv4Request
{
  char *method;
  char *wire_path;
  char *wire_query;
  GPtrArray *headers; /* Header*, in insertion order */
  char *payload_hash;
};

static void
header_free (Header *h)
{
  g_free (h->name);
  g_free (h->value);
  g_free (h);
}

/* ------------------------------------------------------------------------------------------- */
/* hashing */

static char *
hex_encode (const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 0xf];
    }
  out[len * 2] = '\0';
  return out;
}

char *
ecsa_sigv4_sha256_hex (const void *data, gsize len)
{
  guint8 digest[32];
  int rc = gnutls_hash_fast (GNUTLS_DIG_SHA256, data != NULL ? data : "", len, digest);

  g_assert (rc >= 0);
  return hex_encode (digest, sizeof digest);
}

static void
hmac_sha256 (const void *key, gsize key_len, const char *msg, guint8 out[32])
{
  int rc = gnutls_hmac_fast (GNUTLS_MAC_SHA256, key, key_len, msg, strlen (msg), out);
  g_assert (rc >= 0);
}

gboolean
ecsa_sigv4_equal_ct (const char *a, const char *b)
{
  gsize la, lb;
  guint8 diff;

  if (a == NULL || b == NULL)
    return FALSE;
  la = strlen (a);
  lb = strlen (b);
  diff = la != lb;
  for (gsize i = 0; i < la && i < lb; i++)
    diff |= (guint8) (a[i] ^ b[i]);
  return diff == 0;
}

/* ------------------------------------------------------------------------------------------- */
/* encoding */

static gboolean
is_unreserved (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void
uri_encode_append (GString *out, const char *s, gsize len, gboolean keep_slash)
{
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) s[i];
      if (is_unreserved (c) || (keep_slash && c == '/'))
        g_string_append_c (out, (char) c);
      else
        g_string_append_printf (out, "%%%02X", c);
    }
}

/* Decode a query component: '+' is a space, %XX a byte; a malformed escape stays literal. */
static char *
query_decode (const char *s, gsize len)
{
  GString *out = g_string_sized_new (len);

  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '+')
        g_string_append_c (out, ' ');
      else if (s[i] == '%' && i + 2 < len && g_ascii_isxdigit (s[i + 1]) && g_ascii_isxdigit (s[i + 2]))
        {
          g_string_append_c (out, (char) (g_ascii_xdigit_value (s[i + 1]) << 4 | g_ascii_xdigit_value (s[i + 2])));
          i += 2;
        }
      else
        g_string_append_c (out, s[i]);
    }
  return g_string_free (out, FALSE);
}

typedef struct
{
  char *key;
  char *value;
} QueryPair;

static void
query_pair_free (QueryPair *p)
{
  g_free (p->key);
  g_free (p->value);
  g_free (p);
}

static int
query_pair_cmp (gconstpointer a, gconstpointer b)
{
  const QueryPair *pa = *(QueryPair *const *) a;
  const QueryPair *pb = *(QueryPair *const *) b;
  int c = strcmp (pa->key, pb->key);

  return c != 0 ? c : strcmp (pa->value, pb->value);
}

static char *
canonical_query (const char *wire_query)
{
  g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func ((GDestroyNotify) query_pair_free);
  GString *out;
  const char *p = wire_query;

  if (wire_query == NULL || *wire_query == '\0')
    return g_strdup ("");

  while (*p != '\0')
    {
      const char *end = strchr (p, '&');
      gsize len = end != NULL ? (gsize) (end - p) : strlen (p);
      const char *eq = memchr (p, '=', len);
      if (len > 0)
        {
          g_autofree char *k = query_decode (p, eq != NULL ? (gsize) (eq - p) : len);
          g_autofree char *v = eq != NULL ? query_decode (eq + 1, len - (gsize) (eq + 1 - p)) : g_strdup ("");
          QueryPair *pair = g_new0 (QueryPair, 1);
          GString *ek = g_string_new (NULL);
          GString *ev = g_string_new (NULL);

          uri_encode_append (ek, k, strlen (k), FALSE);
          uri_encode_append (ev, v, strlen (v), FALSE);
          pair->key = g_string_free (ek, FALSE);
          pair->value = g_string_free (ev, FALSE);
          g_ptr_array_add (pairs, pair);
        }
      if (end == NULL)
        break;
      p = end + 1;
    }

  g_ptr_array_sort (pairs, query_pair_cmp);
  out = g_string_new (NULL);
  for (guint i = 0; i < pairs->len; i++)
    {
      const QueryPair *pair = pairs->pdata[i];
      if (i > 0)
        g_string_append_c (out, '&');
      g_string_append_printf (out, "%s=%s", pair->key, pair->value);
    }
  return g_string_free (out, FALSE);
}

static char *
canonical_uri (const char *wire_path)
{
  GString *out = g_string_new (NULL);

  if (wire_path == NULL || *wire_path == '\0')
    {
      g_string_free (out, TRUE);
      return g_strdup ("/");
    }
  if (*wire_path != '/')
    g_string_append_c (out, '/');
  uri_encode_append (out, wire_path, strlen (wire_path), TRUE);
  return g_string_free (out, FALSE);
}

/* Trim, and collapse inner runs of spaces and tabs into one space. */
static void
append_header_value (GString *out, const char *value)
{
  const char *p = value;
  const char *end = value + strlen (value);
  gboolean in_space = FALSE;

  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  for (; p < end; p++)
    {
      if (*p == ' ' || *p == '\t')
        {
          if (!in_space)
            g_string_append_c (out, ' ');
          in_space = TRUE;
        }
      else
        {
          g_string_append_c (out, *p);
          in_space = FALSE;
        }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* requests */

EcsaSigv4Request *
ecsa_sigv4_request_new (const char *method, const char *wire_path, const char *wire_query)
{
  EcsaSigv4Request *req = g_new0 (EcsaSigv4Request, 1);

  g_return_val_if_fail (method != NULL, NULL);
  req->method = g_ascii_strup (method, -1);
  req->wire_path = g_strdup (wire_path != NULL ? wire_path : "/");
  req->wire_query = g_strdup (wire_query != NULL ? wire_query : "");
  req->headers = g_ptr_array_new_with_free_func ((GDestroyNotify) header_free);
  req->payload_hash = g_strdup (ECSA_SIGV4_EMPTY_SHA256);
  return req;
}

void
ecsa_sigv4_request_free (EcsaSigv4Request *req)
{
  if (req == NULL)
    return;
  g_free (req->method);
  g_free (req->wire_path);
  g_free (req->wire_query);
  g_ptr_array_unref (req->headers);
  g_free (req->payload_hash);
  g_free (req);
}

void
ecsa_sigv4_request_add_header (EcsaSigv4Request *req, const char *name, const char *value)
{
  Header *h;

  g_return_if_fail (req != NULL && name != NULL);
  h = g_new0 (Header, 1);
  h->name = g_ascii_strdown (name, -1);
  h->value = g_strdup (value != NULL ? value : "");
  g_ptr_array_add (req->headers, h);
}

void
ecsa_sigv4_request_set_payload (EcsaSigv4Request *req, const void *data, gsize len)
{
  g_return_if_fail (req != NULL);
  g_free (req->payload_hash);
  req->payload_hash = ecsa_sigv4_sha256_hex (data, len);
}

void
ecsa_sigv4_request_set_payload_hash (EcsaSigv4Request *req, const char *hex_sha256)
{
  g_return_if_fail (req != NULL && hex_sha256 != NULL);
  g_free (req->payload_hash);
  req->payload_hash = g_ascii_strdown (hex_sha256, -1);
}

static int
str_ptr_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char *
ecsa_sigv4_request_canonical (const EcsaSigv4Request *req, char **out_signed_headers)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autofree char *uri = NULL;
  g_autofree char *query = NULL;
  GString *out;
  GString *signed_names = g_string_new (NULL);

  g_return_val_if_fail (req != NULL, NULL);

  for (guint i = 0; i < req->headers->len; i++)
    {
      const Header *h = req->headers->pdata[i];
      gboolean seen = FALSE;
      for (guint j = 0; j < names->len && !seen; j++)
        seen = strcmp (names->pdata[j], h->name) == 0;
      if (!seen)
        g_ptr_array_add (names, h->name);
    }
  g_ptr_array_sort (names, str_ptr_cmp);

  uri = canonical_uri (req->wire_path);
  query = canonical_query (req->wire_query);
  out = g_string_new (NULL);
  g_string_append_printf (out, "%s\n%s\n%s\n", req->method, uri, query);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      gboolean first = TRUE;

      g_string_append_printf (out, "%s:", name);
      for (guint j = 0; j < req->headers->len; j++)
        {
          const Header *h = req->headers->pdata[j];
          if (strcmp (h->name, name) != 0)
            continue;
          if (!first)
            g_string_append_c (out, ',');
          append_header_value (out, h->value);
          first = FALSE;
        }
      g_string_append_c (out, '\n');
      if (i > 0)
        g_string_append_c (signed_names, ';');
      g_string_append (signed_names, name);
    }
  g_string_append_printf (out, "\n%s\n%s", signed_names->str, req->payload_hash);

  if (out_signed_headers != NULL)
    *out_signed_headers = g_string_free (signed_names, FALSE);
  else
    g_string_free (signed_names, TRUE);
  return g_string_free (out, FALSE);
}

char *
ecsa_sigv4_string_to_sign (const char *amz_date, const char *scope, const char *canonical_request)
{
  g_autofree char *hash = ecsa_sigv4_sha256_hex (canonical_request, strlen (canonical_request));

  return g_strdup_printf ("%s\n%s\n%s\n%s", ECSA_SIGV4_ALGORITHM, amz_date, scope, hash);
}

char *
ecsa_sigv4_signature (const char *secret_access_key, const char *date, const char *region, const char *service,
                      const char *string_to_sign)
{
  g_autofree char *k_secret = g_strconcat ("AWS4", secret_access_key, NULL);
  guint8 k_date[32], k_region[32], k_service[32], k_signing[32], sig[32];
  char *hex;

  hmac_sha256 (k_secret, strlen (k_secret), date, k_date);
  hmac_sha256 (k_date, sizeof k_date, region, k_region);
  hmac_sha256 (k_region, sizeof k_region, service, k_service);
  hmac_sha256 (k_service, sizeof k_service, "aws4_request", k_signing);
  hmac_sha256 (k_signing, sizeof k_signing, string_to_sign, sig);
  hex = hex_encode (sig, sizeof sig);

  /* the derived keys are as secret as the key itself */
  memset (k_secret, 0, strlen (k_secret));
  gnutls_memset (k_date, 0, sizeof k_date);
  gnutls_memset (k_region, 0, sizeof k_region);
  gnutls_memset (k_service, 0, sizeof k_service);
  gnutls_memset (k_signing, 0, sizeof k_signing);
  return hex;
}

char *
ecsa_sigv4_request_sign (const EcsaSigv4Request *req, const char *amz_date, const char *region, const char *service,
                         const char *access_key_id, const char *secret_access_key)
{
  g_autofree char *signed_headers = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *date = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *sts = NULL;
  g_autofree char *signature = NULL;

  g_return_val_if_fail (req != NULL && amz_date != NULL && strlen (amz_date) >= 8, NULL);
  g_return_val_if_fail (region != NULL && service != NULL && access_key_id != NULL && secret_access_key != NULL, NULL);

  canonical = ecsa_sigv4_request_canonical (req, &signed_headers);
  date = g_strndup (amz_date, 8);
  scope = g_strdup_printf ("%s/%s/%s/aws4_request", date, region, service);
  sts = ecsa_sigv4_string_to_sign (amz_date, scope, canonical);
  signature = ecsa_sigv4_signature (secret_access_key, date, region, service, sts);
  return g_strdup_printf ("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s", ECSA_SIGV4_ALGORITHM, access_key_id,
                          scope, signed_headers, signature);
}

char *
ecsa_sigv4_amz_date (GDateTime *when)
{
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(GDateTime) utc = NULL;

  if (when == NULL)
    when = now = g_date_time_new_now_utc ();
  utc = g_date_time_to_utc (when);
  return g_date_time_format (utc, "%Y%m%dT%H%M%SZ");
}

static gboolean
credentials_usable (const EcsaAwsCredentials *credentials, GError **error)
{
  if (credentials == NULL || credentials->access_key_id == NULL || *credentials->access_key_id == '\0'
      || credentials->secret_access_key == NULL || *credentials->secret_access_key == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_AUTH, "no AWS credentials to sign the request with");
      return FALSE;
    }
  return TRUE;
}

/* The Host header value libsoup sends for a URI: the host, with the port when not the default. */
static char *
host_header_for_uri (GUri *uri)
{
  const char *host = g_uri_get_host (uri);
  int port = g_uri_get_port (uri);
  const char *scheme = g_uri_get_scheme (uri);
  int default_port = -1;
  gboolean ipv6 = host != NULL && strchr (host, ':') != NULL;

  if (scheme != NULL)
    {
      if (g_ascii_strcasecmp (scheme, "https") == 0 || g_ascii_strcasecmp (scheme, "wss") == 0)
        default_port = 443;
      else if (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "ws") == 0)
        default_port = 80;
    }
  if (port == -1 || port == default_port)
    return ipv6 ? g_strdup_printf ("[%s]", host) : g_strdup (host);
  return ipv6 ? g_strdup_printf ("[%s]:%d", host, port) : g_strdup_printf ("%s:%d", host, port);
}

typedef struct
{
  EcsaSigv4Request *req;
} CollectData;

static void
collect_signed_header_cb (const char *name, const char *value, gpointer user_data)
{
  CollectData *data = user_data;

  if (g_ascii_strcasecmp (name, "content-type") == 0 || g_ascii_strcasecmp (name, "content-length") == 0
      || g_ascii_strncasecmp (name, "x-amz-", 6) == 0)
    ecsa_sigv4_request_add_header (data->req, name, value);
}

gboolean
ecsa_sigv4_sign_message (SoupMessage *msg, GBytes *body, const char *service, const char *region,
                         const EcsaAwsCredentials *credentials, GDateTime *when, GError **error)
{
  SoupMessageHeaders *headers;
  GUri *uri;
  g_autoptr(EcsaSigv4Request) req = NULL;
  g_autofree char *amz_date = NULL;
  g_autofree char *host = NULL;
  g_autofree char *authorization = NULL;
  CollectData data;

  g_return_val_if_fail (SOUP_IS_MESSAGE (msg), FALSE);
  g_return_val_if_fail (service != NULL && region != NULL, FALSE);

  if (!credentials_usable (credentials, error))
    return FALSE;

  headers = soup_message_get_request_headers (msg);
  uri = soup_message_get_uri (msg);
  amz_date = ecsa_sigv4_amz_date (when);

  soup_message_headers_remove (headers, "Authorization");
  soup_message_headers_replace (headers, "X-Amz-Date", amz_date);
  if (credentials->session_token != NULL && *credentials->session_token != '\0')
    soup_message_headers_replace (headers, "X-Amz-Security-Token", credentials->session_token);
  else
    soup_message_headers_remove (headers, "X-Amz-Security-Token");
  if (body != NULL)
    soup_message_headers_set_content_length (headers, (goffset) g_bytes_get_size (body));

  req = ecsa_sigv4_request_new (soup_message_get_method (msg), g_uri_get_path (uri), g_uri_get_query (uri));
  host = host_header_for_uri (uri);
  ecsa_sigv4_request_add_header (req, "host", host);
  data.req = req;
  soup_message_headers_foreach (headers, collect_signed_header_cb, &data);
  if (body != NULL)
    ecsa_sigv4_request_set_payload (req, g_bytes_get_data (body, NULL), g_bytes_get_size (body));

  authorization = ecsa_sigv4_request_sign (req, amz_date, region, service, credentials->access_key_id,
                                           credentials->secret_access_key);
  soup_message_headers_replace (headers, "Authorization", authorization);
  return TRUE;
}

gboolean
ecsa_sigv4_sign_get_with_payload (GUri *uri, const void *payload, gsize payload_len, const char *service,
                                  const char *region, const EcsaAwsCredentials *credentials, GDateTime *when,
                                  GHashTable *out_headers, GError **error)
{
  g_autoptr(EcsaSigv4Request) req = NULL;
  g_autofree char *amz_date = NULL;
  g_autofree char *host = NULL;
  gboolean token;

  g_return_val_if_fail (uri != NULL && out_headers != NULL, FALSE);

  if (!credentials_usable (credentials, error))
    return FALSE;

  amz_date = ecsa_sigv4_amz_date (when);
  host = host_header_for_uri (uri);
  token = credentials->session_token != NULL && *credentials->session_token != '\0';

  req = ecsa_sigv4_request_new ("GET", g_uri_get_path (uri), g_uri_get_query (uri));
  ecsa_sigv4_request_add_header (req, "host", host);
  ecsa_sigv4_request_add_header (req, "x-amz-date", amz_date);
  if (token)
    ecsa_sigv4_request_add_header (req, "x-amz-security-token", credentials->session_token);
  ecsa_sigv4_request_set_payload (req, payload, payload_len);

  g_hash_table_replace (out_headers, g_strdup ("Authorization"),
                        ecsa_sigv4_request_sign (req, amz_date, region, service, credentials->access_key_id,
                                                 credentials->secret_access_key));
  g_hash_table_replace (out_headers, g_strdup ("Host"), g_steal_pointer (&host));
  g_hash_table_replace (out_headers, g_strdup ("X-Amz-Date"), g_steal_pointer (&amz_date));
  if (token)
    g_hash_table_replace (out_headers, g_strdup ("X-Amz-Security-Token"), g_strdup (credentials->session_token));
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* verification */

void
ecsa_sigv4_authorization_free (EcsaSigv4Authorization *auth)
{
  if (auth == NULL)
    return;
  g_free (auth->access_key_id);
  g_free (auth->region);
  g_free (auth->service);
  g_free (auth->date);
  g_strfreev (auth->signed_headers);
  g_free (auth->signature);
  g_free (auth);
}

const char *
ecsa_sigv4_error_code (const GError *error)
{
  if (error == NULL || error->domain != ECSA_SIGV4_ERROR)
    return "InternalFailure";
  switch ((EcsaSigv4Error) error->code)
    {
    case ECSA_SIGV4_ERROR_MISSING_AUTHENTICATION_TOKEN:
      return "MissingAuthenticationTokenException";
    case ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE:
      return "IncompleteSignatureException";
    case ECSA_SIGV4_ERROR_UNRECOGNIZED_CLIENT:
      return "UnrecognizedClientException";
    case ECSA_SIGV4_ERROR_INVALID_SIGNATURE:
    case ECSA_SIGV4_ERROR_SIGNATURE_EXPIRED:
      return "InvalidSignatureException";
    default:
      return "InternalFailure";
    }
}

EcsaSigv4Authorization *
ecsa_sigv4_authorization_parse (const char *header, GError **error)
{
  g_autoptr(EcsaSigv4Authorization) auth = g_new0 (EcsaSigv4Authorization, 1);
  g_auto(GStrv) parts = NULL;
  const char *rest;
  g_autofree char *credential = NULL;
  g_autofree char *signed_headers = NULL;

  if (header == NULL || !g_str_has_prefix (header, ECSA_SIGV4_ALGORITHM " "))
    {
      g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,
                   "Authorization header requires the '%s' algorithm", ECSA_SIGV4_ALGORITHM);
      return NULL;
    }
  rest = header + strlen (ECSA_SIGV4_ALGORITHM " ");
  parts = g_strsplit (rest, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *item = g_strstrip (parts[i]);
      if (g_str_has_prefix (item, "Credential="))
        {
          g_free (credential);
          credential = g_strdup (item + strlen ("Credential="));
        }
      else if (g_str_has_prefix (item, "SignedHeaders="))
        {
          g_free (signed_headers);
          signed_headers = g_strdup (item + strlen ("SignedHeaders="));
        }
      else if (g_str_has_prefix (item, "Signature="))
        {
          g_free (auth->signature);
          auth->signature = g_strdup (item + strlen ("Signature="));
        }
    }
  if (credential == NULL || signed_headers == NULL || auth->signature == NULL)
    {
      g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,
                   "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters");
      return NULL;
    }
  {
    g_auto(GStrv) scope = g_strsplit (credential, "/", -1);
    if (g_strv_length (scope) != 5 || strcmp (scope[4], "aws4_request") != 0 || *scope[0] == '\0'
        || strlen (scope[1]) != 8)
      {
        g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,
                     "Credential should be scoped to a valid region, service and 'aws4_request', got '%s'",
                     credential);
        return NULL;
      }
    auth->access_key_id = g_strdup (scope[0]);
    auth->date = g_strdup (scope[1]);
    auth->region = g_strdup (scope[2]);
    auth->service = g_strdup (scope[3]);
  }
  auth->signed_headers = g_strsplit (signed_headers, ";", -1);
  return g_steal_pointer (&auth);
}

static gboolean
parse_amz_date (const char *s, gint64 *out_unix)
{
  int y, mo, d, h, mi, sec;
  g_autoptr(GDateTime) dt = NULL;

  if (s == NULL || strlen (s) != 16 || s[8] != 'T' || s[15] != 'Z')
    return FALSE;
  if (sscanf (s, "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &sec) != 6)
    return FALSE;
  dt = g_date_time_new_utc (y, mo, d, h, mi, sec);
  if (dt == NULL)
    return FALSE;
  *out_unix = g_date_time_to_unix (dt);
  return TRUE;
}

typedef struct
{
  EcsaSigv4Request *req;
  const char *name;
} AddNamedData;

static void
add_named_header_cb (const char *name, const char *value, gpointer user_data)
{
  AddNamedData *data = user_data;

  if (g_ascii_strcasecmp (name, data->name) == 0)
    ecsa_sigv4_request_add_header (data->req, data->name, value);
}

gboolean
ecsa_sigv4_verify (const char *method, const char *wire_path, const char *wire_query, SoupMessageHeaders *headers,
                   GBytes *body, const char *expected_service, EcsaSigv4SecretLookup lookup, gpointer user_data,
                   gint64 now, char **out_access_key_id, GError **error)
{
  const char *authz_header;
  const char *date_header;
  const char *token_header;
  g_autoptr(EcsaSigv4Authorization) auth = NULL;
  g_autoptr(EcsaSigv4Request) req = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *token = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *sts = NULL;
  gint64 signed_at;

  g_return_val_if_fail (method != NULL && headers != NULL && lookup != NULL, FALSE);

  authz_header = soup_message_headers_get_one (headers, "Authorization");
  if (authz_header == NULL)
    {
      g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_MISSING_AUTHENTICATION_TOKEN,
                           "Missing Authentication Token");
      return FALSE;
    }
  auth = ecsa_sigv4_authorization_parse (authz_header, error);
  if (auth == NULL)
    return FALSE;

  date_header = soup_message_headers_get_one (headers, "X-Amz-Date");
  if (!parse_amz_date (date_header, &signed_at))
    {
      g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,
                           "Authorization header requires existence of a valid 'X-Amz-Date' header");
      return FALSE;
    }
  if (!g_strv_contains ((const char *const *) auth->signed_headers, "host")
      || !g_strv_contains ((const char *const *) auth->signed_headers, "x-amz-date"))
    {
      g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,
                           "'Host' and 'X-Amz-Date' must be signed headers");
      return FALSE;
    }

  if (!lookup (auth->access_key_id, &secret, &token, user_data) || secret == NULL)
    {
      g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_UNRECOGNIZED_CLIENT,
                           "The security token included in the request is invalid.");
      return FALSE;
    }
  token_header = soup_message_headers_get_one (headers, "X-Amz-Security-Token");
  if ((token != NULL && *token != '\0') || token_header != NULL)
    {
      if (token == NULL || token_header == NULL || !ecsa_sigv4_equal_ct (token, token_header))
        {
          g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_UNRECOGNIZED_CLIENT,
                               "The security token included in the request is invalid.");
          return FALSE;
        }
    }

  if (ABS (now - signed_at) > ECSA_SIGV4_MAX_SKEW_SECONDS)
    {
      g_autoptr(GDateTime) now_dt = g_date_time_new_from_unix_utc (now);
      g_autofree char *now_s = ecsa_sigv4_amz_date (now_dt);
      g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_SIGNATURE_EXPIRED,
                   "Signature expired: %s is now earlier than %s (%s - 15 min.)", date_header, now_s, now_s);
      return FALSE;
    }
  if (strncmp (auth->date, date_header, 8) != 0)
    {
      g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INVALID_SIGNATURE,
                   "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                   "'%s' != '%.8s'", auth->date, date_header);
      return FALSE;
    }
  if (expected_service != NULL && strcmp (auth->service, expected_service) != 0)
    {
      g_set_error (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INVALID_SIGNATURE,
                   "Credential should be scoped to correct service: '%s'.", expected_service);
      return FALSE;
    }

  req = ecsa_sigv4_request_new (method, wire_path, wire_query);
  for (guint i = 0; auth->signed_headers[i] != NULL; i++)
    {
      AddNamedData data = { req, auth->signed_headers[i] };
      guint before = req->headers->len;
      soup_message_headers_foreach (headers, add_named_header_cb, &data);
      if (req->headers->len == before)
        ecsa_sigv4_request_add_header (req, auth->signed_headers[i], "");
    }
  if (body != NULL)
    ecsa_sigv4_request_set_payload (req, g_bytes_get_data (body, NULL), g_bytes_get_size (body));

  canonical = ecsa_sigv4_request_canonical (req, NULL);
  scope = g_strdup_printf ("%s/%s/%s/aws4_request", auth->date, auth->region, auth->service);
  sts = ecsa_sigv4_string_to_sign (date_header, scope, canonical);
  expected = ecsa_sigv4_signature (secret, auth->date, auth->region, auth->service, sts);
  memset (secret, 0, strlen (secret));

  if (!ecsa_sigv4_equal_ct (expected, auth->signature))
    {
      g_set_error_literal (error, ECSA_SIGV4_ERROR, ECSA_SIGV4_ERROR_INVALID_SIGNATURE,
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method. Consult the service "
                           "documentation for details.");
      return FALSE;
    }
  if (out_access_key_id != NULL)
    *out_access_key_id = g_strdup (auth->access_key_id);
  return TRUE;
}
