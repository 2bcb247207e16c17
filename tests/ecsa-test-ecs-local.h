/* ecsa-test-ecs-local.h: helpers for the tests of ecs-local (the local control plane): start and
 * stop it, run the real AWS CLI against it, sign calls like an agent, and a small scripted "agent"
 * that registers, holds the ACS and TCS websockets and submits state changes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef struct
{
  GSubprocess *proc;
  char *state_dir;
  gboolean own_state_dir;
  char *endpoint;      /* https://127.0.0.1:port */
  char *tcs_endpoint;
  char *imds_endpoint; /* or NULL */
  char *ca_path;
  char *region;
  char *access_key_id; /* root credentials from <state>/credentials */
  char *secret_access_key;
  char *trace_path;
  char *stderr_path;
  SoupSession *session; /* trusts the CA */
} EcslTestServer;

/* Start ecs-local on free ports in `state_dir` (NULL: a fresh temporary directory) with extra
 * arguments (NULL-terminated), waiting for it to be ready. */
EcslTestServer *ecsl_test_server_start (const char *state_dir, const char *const *extra_args);
/* Remove what earlier runs of these tests left behind when they died before their teardown (their
 * pid no longer exists): state directories. */
void ecsl_test_reap_leftovers (void);
/* SIGTERM and wait; `keep_state` leaves the state directory (for a restart). */
void ecsl_test_server_stop (EcslTestServer *s, gboolean keep_state);

/* Run /usr/bin/aws --endpoint-url <endpoint> --output json <args…> with the CLI configured for
 * ecs-local (its credentials file, CA, region). Returns the exit status; *out_json is the parsed
 * stdout (NULL when empty), *out_stderr what the CLI printed there. */
int ecsl_test_aws (EcslTestServer *s, const char *const *env_extra, JsonNode **out_json, char **out_stderr,
                   const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

/* A SigV4-signed JSON 1.1 call of `target` (e.g. "AmazonEC2ContainerServiceV20141113.ListClusters")
 * with root credentials (creds NULL) or the given ones. Returns the parsed body; *out_status the
 * HTTP status. */
JsonNode *ecsl_test_call (EcslTestServer *s, const EcsaAwsCredentials *creds, const char *target, const char *body,
                          guint *out_status);
/* The same for an ECS operation ("RunTask"); asserts HTTP 200. */
JsonNode *ecsl_test_ecs (EcslTestServer *s, const char *op, const char *body_format, ...) G_GNUC_PRINTF (3, 4);

/* The __type of an error body, or NULL. */
const char *ecsl_test_error_type (JsonNode *node);

/* A path inside a node: "tasks/0/lastStatus" (numbers index arrays). NULL when absent. */
JsonNode *ecsl_test_get (JsonNode *node, const char *path);
const char *ecsl_test_get_string (JsonNode *node, const char *path);
gint64 ecsl_test_get_int (JsonNode *node, const char *path);

/* Let time pass (to show that something does NOT happen, or before polling again), serving the
 * main context. */
void ecsl_test_pause (guint ms);
/* A TCP port free on 127.0.0.1 and 0.0.0.0 right now. */
guint16 ecsl_test_free_port (void);
/* Run a command (argv[0] from PATH); returns its stdout, stripped. Fails the test when it does not
 * exit 0, unless may_fail. */
char *ecsl_test_run (gboolean may_fail, const char *const *argv);
/* GET http://127.0.0.1:port/ until it answers 200 (a server may still be starting): the body. */
char *ecsl_test_http_get (guint16 port);
/* The same for any http:// URL. */
char *ecsl_test_http_get_url (const char *url);

/* Run the main context until `done` returns TRUE, failing after timeout_ms with `what`. */
void ecsl_test_wait (gboolean (*done) (gpointer), gpointer data, guint timeout_ms, const char *what);
void ecsl_test_wait_flag (const gboolean *flag, guint timeout_ms, const char *what);

/* GET a read-only view of ecs-local ("/_ecs-local/v1/status", "/_ecs-local/v1/metrics"). */
JsonNode *ecsl_test_view (EcslTestServer *s, const char *path);

/* Check every call in the trace file against the botocore model (tests/ecs-local/check-shapes.py). */
void ecsl_test_check_trace (EcslTestServer *s);

/* Test programs whose cases meson runs as several tests (one ecs-local each, so that none takes
 * over a minute in CI): "--group NAME" picks the cases of group NAME; without it every case runs.
 * Call before g_test_init (it removes the option from argv); ecsl_test_add registers a case only
 * when its group is picked; a group name nothing uses is an error (ecsl_test_check_groups). */
void ecsl_test_take_group (int *argc, char ***argv);
void ecsl_test_add (const char *group, const char *path, GTestFunc func);
void ecsl_test_check_groups (void);

/* ------------------------------------------------------------------------------------------- */
/* The scripted agent */

typedef struct
{
  EcslTestServer *server;
  char *cluster;
  char *instance_arn;
  EcsaAwsCredentials *creds; /* NULL: root credentials */
  SoupWebsocketConnection *acs;
  SoupWebsocketConnection *tcs;
  GQueue acs_frames;         /* JsonNode* received on ACS, oldest first */
  GQueue tcs_frames;
  gboolean acs_closed;
  gboolean tcs_closed;
  gushort tcs_close_code;
  char *tcs_url;
} EcslTestAgent;

/* Register a container instance with these resources (ports: NULL-terminated strings) and
 * attributes (name, value, name, value, …, NULL; value "" for a name-only attribute), checking
 * that the response echoes every attribute. */
EcslTestAgent *ecsl_test_agent_register (EcslTestServer *s, const char *cluster, gint64 cpu, gint64 memory,
                                         const char *const *ports, const char *const *attributes);
/* An agent object for an instance registered earlier (after a restart). */
EcslTestAgent *ecsl_test_agent_attach (EcslTestServer *s, const char *cluster, const char *instance_arn);
void ecsl_test_agent_free (EcslTestAgent *a);
/* Close the ACS websocket and wait until it is closed. */
void ecsl_test_agent_close_acs (EcslTestAgent *a);
/* Assert that no ACS frame of this type arrives within ms. */
void ecsl_test_agent_expect_none (EcslTestAgent *a, const char *type, guint ms);

/* Open the ACS websocket (asserting success), or try and return the HTTP status and body of a
 * refused handshake. */
void ecsl_test_agent_connect_acs (EcslTestAgent *a, gboolean send_credentials);
guint ecsl_test_agent_try_acs (EcslTestServer *s, const EcsaAwsCredentials *creds, const char *cluster,
                               const char *instance_arn, char **out_body);
void ecsl_test_agent_connect_tcs (EcslTestAgent *a);
/* Wait for the next ACS frame of a type (others of other types are skipped and dropped). */
JsonNode *ecsl_test_agent_next (EcslTestAgent *a, const char *type, guint timeout_ms);
void ecsl_test_agent_send (EcslTestAgent *a, const char *type, const char *message_json);
void ecsl_test_agent_ack (EcslTestAgent *a, JsonNode *payload);
/* A TCS frame signed as the agent does it (bad_signature: corrupt the signature). */
void ecsl_test_agent_send_tcs (EcslTestAgent *a, const char *type, const char *message_json, gboolean bad_signature);
JsonNode *ecsl_test_agent_next_tcs (EcslTestAgent *a, const char *type, guint timeout_ms);

G_END_DECLS
