/* ecsa-sigv4.h: AWS Signature Version 4, for signing (agent) and verifying (ecs-local).
 *
 * Canonicalisation as AWS specifies it (and as aws-sdk-go and botocore do it for every service
 * but S3): the canonical URI is the request path as sent on the wire, percent-encoded once more
 * (so "%20" on the wire signs as "%2520", an unreserved path signs as itself) with "." and ".."
 * segments removed; the query is decoded ('+' is a space, as Go's url.Values encodes one) and
 * re-encoded with RFC 3986 (space is "%20"), sorted by name then value; header names are
 * lower-cased, values trimmed with inner runs of spaces collapsed, repeated headers joined by ','.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include "ecsa-plugin.h" /* EcsaAwsCredentials */

G_BEGIN_DECLS

#define ECSA_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define ECSA_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* AWS refuses a request whose X-Amz-Date is further than this from its clock. */
#define ECSA_SIGV4_MAX_SKEW_SECONDS (15 * 60)

#define ECSA_SIGV4_ERROR (ecsa_sigv4_error_quark ())
GQuark ecsa_sigv4_error_quark (void);

/* Verification failures, named after the AWS error codes a service answers with. */
typedef enum
{
  ECSA_SIGV4_ERROR_MISSING_AUTHENTICATION_TOKEN, /* no Authorization header: MissingAuthenticationTokenException */
  ECSA_SIGV4_ERROR_INCOMPLETE_SIGNATURE,         /* malformed Authorization / X-Amz-Date: IncompleteSignatureException */
  ECSA_SIGV4_ERROR_UNRECOGNIZED_CLIENT,          /* unknown access key or bad token: UnrecognizedClientException */
  ECSA_SIGV4_ERROR_INVALID_SIGNATURE,            /* signature or scope mismatch: InvalidSignatureException */
  ECSA_SIGV4_ERROR_SIGNATURE_EXPIRED,            /* X-Amz-Date too far from now: InvalidSignatureException "Signature expired" */
} EcsaSigv4Error;

/* The AWS error code (the "__type" of a JSON error) for a verification failure. */
const char *ecsa_sigv4_error_code (const GError *error);

/* One request to canonicalise. Build it, add the headers to sign, then sign or verify. */
typedef struct _EcsaSigv4Request EcsaSigv4Request;

EcsaSigv4Request *ecsa_sigv4_request_new (const char *method, const char *wire_path, const char *wire_query);
void ecsa_sigv4_request_free (EcsaSigv4Request *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaSigv4Request, ecsa_sigv4_request_free)

/* Add a header to sign (a repeated name adds a value). */
void ecsa_sigv4_request_add_header (EcsaSigv4Request *req, const char *name, const char *value);
/* The payload: its bytes (hashed here) or an already computed lower-case hex SHA-256. */
void ecsa_sigv4_request_set_payload (EcsaSigv4Request *req, const void *data, gsize len);
void ecsa_sigv4_request_set_payload_hash (EcsaSigv4Request *req, const char *hex_sha256);

/* The intermediate forms, for tests and debugging. */
char *ecsa_sigv4_request_canonical (const EcsaSigv4Request *req, char **out_signed_headers);
char *ecsa_sigv4_string_to_sign (const char *amz_date, const char *scope, const char *canonical_request);
char *ecsa_sigv4_signature (const char *secret_access_key, const char *date, const char *region,
                            const char *service, const char *string_to_sign);

/* Sign: returns the Authorization header value for amz_date ("20150830T123600Z"). The request
 * must already carry every header to sign, including x-amz-date (and x-amz-security-token). */
char *ecsa_sigv4_request_sign (const EcsaSigv4Request *req, const char *amz_date, const char *region,
                               const char *service, const char *access_key_id, const char *secret_access_key);

/* "20150830T123600Z" for a time (NULL: now). */
char *ecsa_sigv4_amz_date (GDateTime *when);

/* Sign a SoupMessage in place: sets X-Amz-Date (and X-Amz-Security-Token when the credentials carry a
 * session token) and Authorization. Signs host, content-type and content-length when present, and
 * every x-amz-* header. `body` is the exact request body (NULL: empty); when given, Content-Length is
 * set from it so the signed value is the one sent. `when` NULL means now. */
gboolean ecsa_sigv4_sign_message (SoupMessage *msg, GBytes *body, const char *service, const char *region,
                                  const EcsaAwsCredentials *credentials, GDateTime *when, GError **error);

/* The headers of a signed GET of `uri` whose payload is `payload` (TCS frames, PROTOCOL-NOTES.md):
 * fills `out_headers` (name -> value: Authorization, Host, X-Amz-Date, X-Amz-Security-Token). */
gboolean ecsa_sigv4_sign_get_with_payload (GUri *uri, const void *payload, gsize payload_len, const char *service,
                                           const char *region, const EcsaAwsCredentials *credentials,
                                           GDateTime *when, GHashTable *out_headers, GError **error);

/* Verification (the control plane side). The lookup returns the secret key for an access key ID
 * (and the session token it was issued with, or NULL), or FALSE when the key is unknown. */
typedef gboolean (*EcsaSigv4SecretLookup) (const char *access_key_id, char **out_secret_access_key,
                                           char **out_session_token, gpointer user_data);

typedef struct
{
  char *access_key_id;
  char *region;
  char *service;
  char *date;           /* yyyymmdd of the scope */
  char **signed_headers; /* lower-case names */
  char *signature;
} EcsaSigv4Authorization;

void ecsa_sigv4_authorization_free (EcsaSigv4Authorization *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaSigv4Authorization, ecsa_sigv4_authorization_free)

/* Parse "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ecs/aws4_request, SignedHeaders=..., Signature=...". */
EcsaSigv4Authorization *ecsa_sigv4_authorization_parse (const char *header, GError **error);

/* Verify a request received by a server. `now` is unix seconds. On success *out_access_key_id (if
 * not NULL) names the caller. `expected_service` may be NULL to accept any. */
gboolean ecsa_sigv4_verify (const char *method, const char *wire_path, const char *wire_query,
                            SoupMessageHeaders *headers, GBytes *body, const char *expected_service,
                            EcsaSigv4SecretLookup lookup, gpointer user_data, gint64 now,
                            char **out_access_key_id, GError **error);

/* Constant-time comparison of two NUL-terminated strings. */
gboolean ecsa_sigv4_equal_ct (const char *a, const char *b);

/* Lower-case hex SHA-256 of data. */
char *ecsa_sigv4_sha256_hex (const void *data, gsize len);

G_END_DECLS
