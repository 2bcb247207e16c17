/* ecsa-test-acs.h: loopback fakes for the control-plane side of the agent (IMDS, the ECS JSON API,
 * ACS and TCS websockets), written from the models in /work/shared/reference and PROTOCOL-NOTES.md.
 * Every fake is a SoupServer on 127.0.0.1:0 run on the test's main context; the ECS and websocket
 * fakes check SigV4 with the real verifier (ecsa_sigv4_verify).
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_TEST_ACCESS_KEY "AKIDTESTACS000000001"
#define ECSA_TEST_SECRET_KEY "acsTestSecretKey/With+Some=Chars0123456"
#define ECSA_TEST_SESSION_TOKEN "acs-test-session-token-value-0123456789"
#define ECSA_TEST_REGION "us-west-2"

/* ---- IMDS ---------------------------------------------------------------------------------- */
typedef struct
{
  SoupServer *server;
  char *url; /* http://127.0.0.1:<port> */

  /* behaviour */
  guint token_status;      /* 0: tokens are issued; else PUT /latest/api/token answers this status */
  gboolean require_token;  /* a GET without a valid token answers 401 */
  gboolean revoke_once;    /* the first GET carrying a token answers 401 (token revoked) */
  guint fail_gets;         /* the next N GETs answer 500 */
  guint stall_gets;        /* the next N GETs never answer (the client must time out) */
  GHashTable *paths;       /* "/latest/<path>" -> body (char*) */

  /* observations */
  guint token_requests;
  guint token_ttl;         /* last X-aws-ec2-metadata-token-ttl-seconds */
  guint gets;
  guint gets_with_token;
  guint gets_without_token;
  char *issued_token;
  GPtrArray *stalled; /* SoupServerMessage* paused */
} EcsaTestImds;

EcsaTestImds *ecsa_test_imds_new (void);
void ecsa_test_imds_free (EcsaTestImds *imds);
void ecsa_test_imds_set (EcsaTestImds *imds, const char *path, const char *body);
/* Serve an instance role with these credentials, expiring `expires_in` seconds from now. */
void ecsa_test_imds_set_role (EcsaTestImds *imds, const char *role, const char *akid, const char *secret,
                              const char *token, gint64 expires_in);
/* Serve an instance identity document for this instance and region, with a signature. */
void ecsa_test_imds_set_identity (EcsaTestImds *imds, const char *instance_id, const char *region);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestImds, ecsa_test_imds_free)

/* ---- log capture --------------------------------------------------------------------------- */
/* Capture every log line (all domains, all levels, debug included) while installed. */
void ecsa_test_log_capture_start (void);
/* The captured text so far (lines joined by '\n'); stops nothing. */
const char *ecsa_test_log_captured (void);
void ecsa_test_log_capture_stop (void);
/* Fail the test if any of the NULL-terminated secrets appears in the captured log. */
void ecsa_test_log_assert_no_secret (const char *const *secrets);

/* A loopback SoupServer (http) on port 0; returns its base URL "http://127.0.0.1:<port>". */
char *ecsa_test_server_listen (SoupServer *server);

/* Static credentials for signing in tests. */
const EcsaAwsCredentials *ecsa_test_credentials (gboolean with_token);

G_END_DECLS

G_BEGIN_DECLS

/* ---- TLS ----------------------------------------------------------------------------------- */
/* A CA and a server certificate for 127.0.0.1 (certtool), in `dir`: ca.pem, server.pem, server.key;
 * and other.pem, a CA that signed nothing. */
void ecsa_test_make_certificates (const char *dir);
/* A loopback SoupServer over HTTPS with dir/server.pem; returns "https://127.0.0.1:<port>". */
char *ecsa_test_server_listen_tls (SoupServer *server, const char *dir);

/* ---- signature checks ---------------------------------------------------------------------- */
/* The lookup for ecsa_sigv4_verify: knows ECSA_TEST_ACCESS_KEY (issued with ECSA_TEST_SESSION_TOKEN
 * when *(gboolean *) user_data is TRUE). */
gboolean ecsa_test_secret_lookup (const char *access_key_id, char **out_secret, char **out_token, gpointer user_data);

/* ---- the ECS JSON API ---------------------------------------------------------------------- */
typedef struct _EcsaTestEcs EcsaTestEcs;

/* Return TRUE when the hook answered the call itself (status + body set on msg). */
typedef gboolean (*EcsaTestEcsHook) (EcsaTestEcs *ecs, const char *op, JsonObject *request, SoupServerMessage *msg,
                                     gpointer user_data);

typedef struct
{
  char *op;
  JsonNode *body;
  char *signed_headers; /* the SignedHeaders of the Authorization */
  char *content_type;
  char *user_agent;
} EcsaTestEcsCall;

struct _EcsaTestEcs
{
  SoupServer *server;
  char *url;
  gboolean session_token; /* the agent signs with ECSA_TEST_SESSION_TOKEN */
  gboolean any_signature; /* accept any well-formed signature (for callers whose secret varies) */

  /* behaviour */
  char *acs_endpoint;          /* DiscoverPollEndpoint's endpoint */
  char *tcs_endpoint;          /* ... telemetryEndpoint (NULL: omitted) */
  gboolean drop_attributes;    /* registration answers without the attributes */
  gboolean missing_clusters;   /* RegisterContainerInstance fails with ClusterNotFoundException until CreateCluster */
  GHashTable *clusters;        /* created */
  EcsaTestEcsHook hook;
  gpointer hook_data;

  /* observations */
  GPtrArray *calls; /* EcsaTestEcsCall* */
  guint bad_signatures;
  char *last_signature_error;
  guint registrations;
  GHashTable *sockets; /* GSocket*: one per connection that carried a call */
};

EcsaTestEcs *ecsa_test_ecs_new (gboolean tls, const char *cert_dir);
void ecsa_test_ecs_free (EcsaTestEcs *ecs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestEcs, ecsa_test_ecs_free)
/* Calls of this operation so far. */
guint ecsa_test_ecs_count (EcsaTestEcs *ecs, const char *op);
/* Connections that carried at least one call so far. */
guint ecsa_test_ecs_count_connections (EcsaTestEcs *ecs);
/* The n-th call (0-based) of `op`, or NULL. */
EcsaTestEcsCall *ecsa_test_ecs_call (EcsaTestEcs *ecs, const char *op, guint n);
/* Answer with an AWS JSON error. */
void ecsa_test_ecs_reply_error (SoupServerMessage *msg, guint status, const char *type, const char *message);
void ecsa_test_ecs_reply_json (SoupServerMessage *msg, const char *json);

G_END_DECLS

G_BEGIN_DECLS

/* ---- ACS / TCS websockets ------------------------------------------------------------------ */
typedef struct
{
  char *type;
  JsonObject *message;
  char *raw;                /* the frame as received */
  gboolean signature_ok;    /* TCS: the frame's signature verified */
  char *frame_headers;      /* TCS: the header block before the blank line */
  guint64 connection;       /* which connection (1-based) carried it */
} EcsaTestFrame;

typedef struct
{
  SoupServer *server;
  char *url;                /* http(s)://127.0.0.1:<port>/ : what DiscoverPollEndpoint returns */
  gboolean tcs;             /* frames from the agent are signed (TCS layout) */
  gboolean session_token;

  /* behaviour */
  guint refuse_status;      /* refuse handshakes with this status (0: accept) */
  char *refuse_body;
  guint refuse_count;       /* refuse only this many (0: as long as refuse_status is set) */
  gboolean other_secret;    /* verify with another secret than the agent's (every signature is bad) */

  /* observations */
  guint handshakes;         /* every handshake request, refused or not */
  guint bad_signatures;
  char *last_signature_error;
  GPtrArray *queries;       /* GHashTable* (decoded query) of each accepted handshake */
  GPtrArray *raw_queries;   /* char*: each handshake's query as on the wire */
  GPtrArray *signed_headers; /* char*: each handshake's SignedHeaders */
  GPtrArray *frames;        /* EcsaTestFrame* */
  GArray *connect_times;    /* gint64 monotonic time of each accepted connection */
  SoupWebsocketConnection *conn; /* the current connection */
  guint connections;
  guint closed;             /* connections that ended */
  char *path;               /* path of the current connection's handshake */
  char *query;              /* raw query of the current connection's handshake */
} EcsaTestWs;

EcsaTestWs *ecsa_test_ws_new (gboolean tcs, gboolean tls, const char *cert_dir);
void ecsa_test_ws_free (EcsaTestWs *ws);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestWs, ecsa_test_ws_free)
/* Send {"type":type,"message":<message_json>} on the current connection. */
void ecsa_test_ws_send (EcsaTestWs *ws, const char *type, const char *message_json);
void ecsa_test_ws_send_raw (EcsaTestWs *ws, const char *text);
void ecsa_test_ws_close (EcsaTestWs *ws, gushort code);
/* Iterate until `connections` reaches n (fails the test after timeout_ms). */
void ecsa_test_ws_wait_connections (EcsaTestWs *ws, guint n, guint timeout_ms);
void ecsa_test_ws_wait_closed (EcsaTestWs *ws, guint n, guint timeout_ms);
/* Frames of `type` so far; the n-th (0-based) frame of `type`, waiting for it. */
guint ecsa_test_ws_count (EcsaTestWs *ws, const char *type);
EcsaTestFrame *ecsa_test_ws_wait_frame (EcsaTestWs *ws, const char *type, guint n, guint timeout_ms);
/* Iterate the main context until `cond` holds; fail the test after timeout_ms (a guard). */
gboolean ecsa_test_guard_cb (gpointer what);
#define ECSA_TEST_WAIT(cond, timeout_ms)                                                                    \
  G_STMT_START                                                                                              \
  {                                                                                                         \
    GSource *guard_ = g_timeout_source_new (timeout_ms);                                                    \
    g_source_set_callback (guard_, ecsa_test_guard_cb, (gpointer) #cond, NULL);                             \
    g_source_attach (guard_, NULL);                                                                         \
    while (!(cond))                                                                                         \
      g_main_context_iteration (NULL, TRUE);                                                                \
    g_source_destroy (guard_);                                                                              \
    g_source_unref (guard_);                                                                                \
  }                                                                                                         \
  G_STMT_END

/* Run the main context for `ms` (to show that nothing more happens). */
void ecsa_test_acs_run_for (guint ms);

G_END_DECLS
