/* ecsl-util.h: small helpers of ecs-local (the local ECS control plane): random identifiers,
 * time, JSON request readers, and the API error domain whose codes map to AWS's "__type"s.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define ECSL_API_ERROR (ecsl_api_error_quark ())
GQuark ecsl_api_error_quark (void);

/* Each code is one AWS error type; ecsl_api_error_type() and ecsl_api_error_status() give the
 * "__type" and the HTTP status a service answers it with. */
typedef enum
{
  ECSL_API_ERROR_CLIENT,                     /* ClientException 400 */
  ECSL_API_ERROR_INVALID_PARAMETER,          /* InvalidParameterException 400 */
  ECSL_API_ERROR_CLUSTER_NOT_FOUND,          /* ClusterNotFoundException 400 */
  ECSL_API_ERROR_CLUSTER_CONTAINS_INSTANCES, /* ClusterContainsContainerInstancesException 400 */
  ECSL_API_ERROR_CLUSTER_CONTAINS_TASKS,     /* ClusterContainsTasksException 400 */
  ECSL_API_ERROR_UNSUPPORTED_FEATURE,        /* UnsupportedFeatureException 400 */
  ECSL_API_ERROR_ACCESS_DENIED,              /* AccessDeniedException 400 */
  ECSL_API_ERROR_SERVER,                     /* ServerException 500 */
  ECSL_API_ERROR_SERIALIZATION,              /* SerializationException 400 */
  ECSL_API_ERROR_UNKNOWN_OPERATION,          /* UnknownOperationException 400 */
  ECSL_API_ERROR_MISSING_AUTHENTICATION,     /* MissingAuthenticationTokenException 403 */
  ECSL_API_ERROR_INCOMPLETE_SIGNATURE,       /* IncompleteSignatureException 400 */
  ECSL_API_ERROR_UNRECOGNIZED_CLIENT,        /* UnrecognizedClientException 400 */
  ECSL_API_ERROR_INVALID_SIGNATURE,          /* InvalidSignatureException 400 */
  ECSL_API_ERROR_EXPIRED_TOKEN,              /* ExpiredTokenException 400 */
  ECSL_API_ERROR_ECR_INVALID_PARAMETER,      /* ECR's InvalidParameterException (its model says HTTP 422) */
} EcslApiError;

const char *ecsl_api_error_type (const GError *error);
guint ecsl_api_error_status (const GError *error);

/* Random bytes from GnuTLS (GNUTLS_RND_KEY: unguessable). */
void ecsl_random_bytes (void *buf, gsize len);
/* n random lower-case hex digits (32 for an ECS task or container instance ID). */
char *ecsl_random_hex (guint n);
/* A random RFC 4122 version 4 UUID, lower case. */
char *ecsl_random_uuid (void);
/* n random characters from the alphabet. */
char *ecsl_random_string (const char *alphabet, guint n);

/* Unix time in milliseconds. */
gint64 ecsl_now_ms (void);
/* "2024-01-02T03:04:05Z" for a time in milliseconds. */
char *ecsl_iso8601 (gint64 ms);

/* JSON 1.1 timestamps are epoch seconds (fractions allowed). */
void ecsl_json_add_timestamp (JsonBuilder *b, const char *member, gint64 ms);
/* A timestamp value node. */
JsonNode *ecsl_json_timestamp_node (gint64 ms);
/* Read a timestamp member (number of epoch seconds); FALSE with an error if it is not a number. */
gboolean ecsl_req_timestamp (JsonObject *req, const char *member, gint64 *out_ms, GError **error);

/* Request readers: an absent or null member leaves the output untouched (NULL / not present) and
 * returns TRUE; a member of the wrong type is a SerializationException naming the member. */
gboolean ecsl_req_string (JsonObject *req, const char *member, const char **out, GError **error);
gboolean ecsl_req_int (JsonObject *req, const char *member, gint64 *out, gboolean *out_present, GError **error);
gboolean ecsl_req_bool (JsonObject *req, const char *member, gboolean *out, GError **error);
gboolean ecsl_req_array (JsonObject *req, const char *member, JsonArray **out, GError **error);
gboolean ecsl_req_object (JsonObject *req, const char *member, JsonObject **out, GError **error);
/* An array of strings; *out is a NULL-terminated vector (NULL when absent). */
gboolean ecsl_req_strv (JsonObject *req, const char *member, char ***out, GError **error);

/* A deep copy of a node (json_node_copy shares objects and arrays), or NULL. */
JsonNode *ecsl_json_deep_copy (JsonNode *node);
/* Serialise a node (compact). */
char *ecsl_json_to_string (JsonNode *node);
/* Parse text into a node; NULL with an error naming `what` when it is not JSON. */
JsonNode *ecsl_json_parse (const char *data, gssize len, const char *what, GError **error);
/* Member helpers on plain objects (NULL when absent or of another type). */
const char *ecsl_json_object_string (JsonObject *o, const char *member);
JsonArray *ecsl_json_object_array (JsonObject *o, const char *member);
JsonObject *ecsl_json_object_object (JsonObject *o, const char *member);
gboolean ecsl_json_object_int (JsonObject *o, const char *member, gint64 *out);

/* Base64 that tolerates embedded white space; NULL when invalid. */
guint8 *ecsl_base64_decode_strict (const char *text, gsize *out_len);

/* Write a file atomically and durably with the given mode. */
gboolean ecsl_write_file (const char *path, const char *contents, gssize len, int mode, GError **error);

G_END_DECLS
