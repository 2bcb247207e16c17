/* test-ws-session.c: the websocket plumbing shared by ACS and TCS, against a loopback websocket
 * fake that checks the handshake's SigV4 with the real verifier: frame parsing, the envelope,
 * Go's query encoding, reconnect rules, backoff and silence timing on a virtual clock, refused
 * handshakes with their body, TLS trust.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"
#include "ecsa-ws-session.h"

#include <string.h>

#define GUARD_MS 15000

/* ---- a minimal subclass -------------------------------------------------------------------- */

#define TEST_TYPE_SESSION (test_session_get_type ())
G_DECLARE_FINAL_TYPE (TestSession, test_session, TEST, SESSION, EcsaWsSession)

struct _TestSession
{
  EcsaWsSession parent_instance;
  char *query;             /* appended to <endpoint>ws? */
  GPtrArray *types;        /* char*: received frame types */
  GPtrArray *messages;     /* JsonObject* */
  guint connected;
  guint disconnected;
  guint refused;
  guint refused_status;
  char *refused_body;
  GTimeSpan refused_delay; /* what refused() answers */
};

G_DEFINE_TYPE (TestSession, test_session, ECSA_TYPE_WS_SESSION)

static char *
test_build_url (EcsaWsSession *session, const EcsaPollEndpoints *endpoints, GError **error)
{
  TestSession *self = TEST_SESSION (session);
  return g_strconcat (endpoints->endpoint, "ws?", self->query, NULL);
}

static void
test_connected (EcsaWsSession *session)
{
  TEST_SESSION (session)->connected++;
}

static void
test_handle_message (EcsaWsSession *session, const char *type, JsonObject *message)
{
  TestSession *self = TEST_SESSION (session);
  g_ptr_array_add (self->types, g_strdup (type));
  g_ptr_array_add (self->messages, json_object_ref (message));
}

static void
test_disconnected (EcsaWsSession *session, const GError *error)
{
  TEST_SESSION (session)->disconnected++;
}

static GTimeSpan
test_refused (EcsaWsSession *session, guint status, const char *body)
{
  TestSession *self = TEST_SESSION (session);
  self->refused++;
  self->refused_status = status;
  g_free (self->refused_body);
  self->refused_body = g_strdup (body);
  return self->refused_delay;
}

static void
test_session_finalize (GObject *object)
{
  TestSession *self = TEST_SESSION (object);
  g_free (self->query);
  g_free (self->refused_body);
  g_ptr_array_unref (self->types);
  g_ptr_array_unref (self->messages);
  G_OBJECT_CLASS (test_session_parent_class)->finalize (object);
}

static void
test_session_class_init (TestSessionClass *klass)
{
  EcsaWsSessionClass *ws = ECSA_WS_SESSION_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = test_session_finalize;
  ws->build_url = test_build_url;
  ws->connected = test_connected;
  ws->handle_message = test_handle_message;
  ws->disconnected = test_disconnected;
  ws->refused = test_refused;
}

static void
test_session_init (TestSession *self)
{
  self->types = g_ptr_array_new_with_free_func (g_free);
  self->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  self->query = g_strdup ("seqNum=1");
  self->refused_delay = -1;
}

/* ---- fixture ------------------------------------------------------------------------------- */

typedef struct
{
  EcsaWsTimer which;
  GTimeSpan delay;
} TimerRecord;

typedef struct
{
  EcsaConfig config;
  EcsaTestEcs *ecs;
  EcsaTestWs *ws;
  EcsaAwsCredentialsProvider *credentials;
  EcsaEcsClient *client;
  TestSession *session;
  GArray *timers;        /* TimerRecord */
  gboolean scale_silence;
  GRand *rand;
  char *cert_dir;
} Fixture;

/* The virtual clock: every delay is recorded; reconnect, backoff-reset (and silence when asked)
 * timers run 1000 times faster. */
static GSource *
timer_factory (EcsaWsTimer which, GTimeSpan delay, gpointer user_data)
{
  Fixture *fx = user_data;
  TimerRecord record = { which, delay };

  g_array_append_val (fx->timers, record);
  if (which == ECSA_WS_TIMER_RECONNECT || which == ECSA_WS_TIMER_BACKOFF_RESET
      || (which == ECSA_WS_TIMER_SILENCE && fx->scale_silence))
    return g_timeout_source_new ((guint) (delay / 1000 / 1000));
  return g_timeout_source_new ((guint) (delay / 1000));
}

static guint
count_timers (Fixture *fx, EcsaWsTimer which)
{
  guint n = 0;
  for (guint i = 0; i < fx->timers->len; i++)
    if (g_array_index (fx->timers, TimerRecord, i).which == which)
      n++;
  return n;
}

static GTimeSpan
nth_timer (Fixture *fx, EcsaWsTimer which, guint n)
{
  for (guint i = 0; i < fx->timers->len; i++)
    {
      TimerRecord *r = &g_array_index (fx->timers, TimerRecord, i);
      if (r->which == which && n-- == 0)
        return r->delay;
    }
  g_assert_not_reached ();
  return -1;
}

static const EcsaWsSessionParams acs_like = {
  .name = "TEST",
  .backoff_min = 250 * 1000,
  .backoff_max = 2 * 60 * G_USEC_PER_SEC,
  .backoff_multiplier = 1.5,
  .backoff_jitter = 0.2,
  .silence_timeout = 60 * G_USEC_PER_SEC,
  .silence_jitter = 60 * G_USEC_PER_SEC,
  .backoff_reset_after = 60 * G_USEC_PER_SEC,
  .backoff_reset_jitter = 60 * G_USEC_PER_SEC,
  .flap_window = 100 * 1000,
};

static void
make_session (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&fx->session);
  g_clear_object (&fx->client);
  g_free (fx->config.api_endpoint);
  fx->config.api_endpoint = g_strdup (fx->ecs->url);
  g_free (fx->ecs->acs_endpoint);
  fx->ecs->acs_endpoint = g_strdup (fx->ws->url);
  fx->client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_no_error (error);
  fx->session = g_object_new (TEST_TYPE_SESSION, NULL);
  ecsa_ws_session_set_rand (ECSA_WS_SESSION (fx->session), fx->rand);
  ecsa_ws_session_setup (ECSA_WS_SESSION (fx->session), &acs_like, fx->client);
  ecsa_ws_session_set_timer_factory (ECSA_WS_SESSION (fx->session), timer_factory, fx);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_setenv ("AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
  memset (&fx->config, 0, sizeof fx->config);
  fx->config.cluster = g_strdup ("test-cluster");
  fx->config.aws_region = g_strdup (ECSA_TEST_REGION);
  fx->timers = g_array_new (FALSE, FALSE, sizeof (TimerRecord));
  fx->rand = g_rand_new_with_seed (42);
  fx->ecs = ecsa_test_ecs_new (FALSE, NULL);
  fx->ws = ecsa_test_ws_new (FALSE, FALSE, NULL);
  fx->credentials = ecsa_aws_credentials_provider_new (NULL);
  make_session (fx);
  ecsa_test_log_capture_start ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_log_capture_stop ();
  if (fx->session != NULL)
    ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));
  g_clear_object (&fx->session);
  g_clear_object (&fx->client);
  g_clear_object (&fx->credentials);
  ecsa_test_ws_free (fx->ws);
  ecsa_test_ecs_free (fx->ecs);
  g_free (fx->config.cluster);
  g_free (fx->config.aws_region);
  g_free (fx->config.api_endpoint);
  g_array_unref (fx->timers);
  g_rand_free (fx->rand);
  if (fx->cert_dir != NULL)
    ecsa_test_rmdir_recursive (fx->cert_dir);
  g_free (fx->cert_dir);
  ecsa_test_acs_run_for (20);
}

/* ---- pure helpers -------------------------------------------------------------------------- */

typedef struct
{
  const char *frame;
  const char *type; /* NULL: refused */
  const char *member; /* a member expected in the message */
} FrameCase;

static const FrameCase frame_cases[] = {
  { "{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":true}}", "HeartbeatMessage", "healthy" },
  { "{\"type\":\"CloseMessage\"}", "CloseMessage", NULL },
  { "{\"type\":\"CloseMessage\",\"message\":null}", "CloseMessage", NULL },
  { "{\"message\":{},\"type\":\"X\",\"extra\":1}", "X", NULL },
  { "{\"InactiveInstanceException\":\"The container instance is inactive.\"}", "InactiveInstanceException",
    "message" },
  { "{\"type\":\"X\",\"message\":[1]}", NULL, NULL },
  { "{\"type\":\"X\",\"message\":\"s\"}", NULL, NULL },
  { "{\"type\":1,\"message\":{}}", NULL, NULL },
  { "{\"type\":\"\",\"message\":{}}", NULL, NULL },
  { "{\"a\":1}", NULL, NULL },
  { "{\"a\":\"x\",\"b\":\"y\"}", NULL, NULL },
  { "[]", NULL, NULL },
  { "\"text\"", NULL, NULL },
  { "{\"type\":\"X\",", NULL, NULL },
  { "", NULL, NULL },
  { "\x01\x02\xff", NULL, NULL },
};

static void
test_parse_frame (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (frame_cases); i++)
    {
      const FrameCase *c = &frame_cases[i];
      g_autofree char *type = NULL;
      g_autoptr(JsonObject) message = NULL;
      g_autoptr(GError) error = NULL;
      gboolean ok = ecsa_ws_parse_frame (c->frame, strlen (c->frame), &type, &message, &error);

      if (c->type == NULL)
        {
          g_assert_false (ok);
          g_assert_error (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME);
          continue;
        }
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpstr (type, ==, c->type);
      g_assert_nonnull (message);
      if (c->member != NULL)
        g_assert_true (json_object_has_member (message, c->member));
    }
}

static void
test_envelope (void)
{
  g_autoptr(JsonParser) p = json_parser_new ();
  g_autoptr(GBytes) env = NULL;
  g_autofree char *type = NULL;
  g_autoptr(JsonObject) message = NULL;

  g_assert_true (json_parser_load_from_data (p, "{\"cluster\":\"c\",\"messageId\":\"m\"}", -1, NULL));
  env = ecsa_ws_build_envelope ("AckRequest", json_parser_get_root (p));
  g_assert_cmpstr (g_bytes_get_data (env, NULL), ==,
                   "{\"type\":\"AckRequest\",\"message\":{\"cluster\":\"c\",\"messageId\":\"m\"}}");
  g_assert_true (ecsa_ws_parse_frame (g_bytes_get_data (env, NULL), g_bytes_get_size (env), &type, &message, NULL));
  g_assert_cmpstr (type, ==, "AckRequest");
}

static void
test_query_encode (void)
{
  const char *pairs[] = { "seqNum", "1",
                          "clusterArn", "my cluster",
                          "dockerVersion", "DockerVersion: 20.10.24+dfsg1",
                          "containerInstanceArn", "arn:aws:ecs:us-west-2:123:container-instance/c/ab",
                          "agentHash", "*UNKNOWN",
                          NULL };
  g_autofree char *q = ecsa_ws_query_encode (pairs);

  /* Go's url.Values.Encode: sorted, QueryEscape (space '+', ':' '/' '+' '*' escaped) */
  g_assert_cmpstr (q, ==,
                   "agentHash=%2AUNKNOWN&clusterArn=my+cluster&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-west-2%3A123"
                   "%3Acontainer-instance%2Fc%2Fab&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1&seqNum=1");
}

static void
test_backoff_sequence (void)
{
  g_autoptr(EcsaBackoff) b = ecsa_backoff_new (250 * 1000, 2 * 60 * G_USEC_PER_SEC, 0.2, 1.5);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  double expected = 250 * 1000;

  ecsa_backoff_set_rand (b, rand);
  for (guint i = 0; i < 30; i++)
    {
      GTimeSpan d = ecsa_backoff_next (b);
      GTimeSpan base = (GTimeSpan) expected;

      g_assert_cmpint (d, >=, base);
      g_assert_cmpint (d, <, base + (GTimeSpan) (base * 0.2) + 1);
      expected = MIN (expected * 1.5, 2.0 * 60 * G_USEC_PER_SEC);
    }
  g_assert_cmpint (ecsa_backoff_peek (b), ==, 2 * 60 * G_USEC_PER_SEC);
  ecsa_backoff_reset (b);
  g_assert_cmpint (ecsa_backoff_peek (b), ==, 250 * 1000);
  /* jitter spreads: not always the base */
  {
    gboolean spread = FALSE;
    for (guint i = 0; i < 20 && !spread; i++)
      {
        ecsa_backoff_reset (b);
        spread = ecsa_backoff_next (b) != 250 * 1000;
      }
    g_assert_true (spread);
  }
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void
wait_connected (Fixture *fx, guint n)
{
  ecsa_test_ws_wait_connections (fx->ws, n, GUARD_MS);
  ECSA_TEST_WAIT (!(fx->session->connected < n), GUARD_MS);
}

static void
test_connect_and_frames (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) p = json_parser_new ();
  EcsaTestFrame *frame;
  GHashTable *q;

  g_free (fx->session->query);
  {
    const char *pairs[] = { "dockerVersion", "DockerVersion: 20.10.24", "seqNum", "1", NULL };
    fx->session->query = ecsa_ws_query_encode (pairs);
  }
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  g_assert_cmpuint (fx->ws->bad_signatures, ==, 0);
  g_assert_cmpstr (g_ptr_array_index (fx->ws->signed_headers, 0), ==, "host;x-amz-date");
  /* the space travels as '+' (and was signed as %20: the verifier accepted it) */
  g_assert_cmpstr (g_ptr_array_index (fx->ws->raw_queries, 0), ==, "dockerVersion=DockerVersion%3A+20.10.24&seqNum=1");
  q = g_ptr_array_index (fx->ws->queries, 0);
  g_assert_cmpstr (g_hash_table_lookup (q, "dockerVersion"), ==, "DockerVersion: 20.10.24");
  g_assert_true (ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session)));
  g_assert_cmpuint (ecsa_ws_session_get_connection_id (ECSA_WS_SESSION (fx->session)), ==, 1);

  /* server -> agent */
  ecsa_test_ws_send (fx->ws, "HeartbeatMessage", "{\"healthy\":true,\"messageId\":\"hb-1\"}");
  ECSA_TEST_WAIT (!(fx->session->types->len < 1), GUARD_MS);
  g_assert_cmpstr (g_ptr_array_index (fx->session->types, 0), ==, "HeartbeatMessage");
  g_assert_true (json_object_get_boolean_member (g_ptr_array_index (fx->session->messages, 0), "healthy"));

  /* bad frames are ignored; the connection stays */
  ecsa_test_ws_send_raw (fx->ws, "not json at all");
  ecsa_test_ws_send_raw (fx->ws, "{\"message\":{}}");
  ecsa_test_ws_send_raw (fx->ws, "[1,2,3]");
  ecsa_test_ws_send (fx->ws, "ErrorMessage", "{\"message\":\"boom\"}");
  ECSA_TEST_WAIT (!(fx->session->types->len < 2), GUARD_MS);
  g_assert_cmpstr (g_ptr_array_index (fx->session->types, 1), ==, "ErrorMessage");
  g_assert_true (ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session)));
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "unable to handle a 15-byte message"));
  g_assert_null (strstr (ecsa_test_log_captured (), "not json at all")); /* content never logged */

  /* agent -> server */
  g_assert_true (json_parser_load_from_data (p, "{\"messageId\":\"hb-1\"}", -1, NULL));
  g_assert_true (ecsa_ws_session_send (ECSA_WS_SESSION (fx->session), 0, "HeartbeatAckRequest",
                                       json_parser_get_root (p), &error));
  frame = ecsa_test_ws_wait_frame (fx->ws, "HeartbeatAckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "hb-1");
  g_assert_cmpstr (frame->raw, ==, "{\"type\":\"HeartbeatAckRequest\",\"message\":{\"messageId\":\"hb-1\"}}");
  /* answering on a connection that is gone fails */
  g_assert_false (ecsa_ws_session_send (ECSA_WS_SESSION (fx->session), 7, "AckRequest", NULL, &error));
  g_assert_error (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_NOT_CONNECTED);
  {
    const char *secrets[] = { ECSA_TEST_SECRET_KEY, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_session_token_handshake (Fixture *fx, gconstpointer data)
{
  g_setenv ("AWS_SESSION_TOKEN", ECSA_TEST_SESSION_TOKEN, TRUE);
  fx->ws->session_token = TRUE;
  fx->ecs->session_token = TRUE;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  g_assert_cmpuint (fx->ws->bad_signatures, ==, 0);
  g_assert_cmpstr (g_ptr_array_index (fx->ws->signed_headers, 0), ==, "host;x-amz-date;x-amz-security-token");
  {
    const char *secrets[] = { ECSA_TEST_SECRET_KEY, ECSA_TEST_SESSION_TOKEN, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_clean_close_reconnects_at_once (Fixture *fx, gconstpointer data)
{
  gushort codes[] = { 1000, 1001, 1011 };

  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      /* let the connection age past the flap window */
      ecsa_test_acs_run_for (150);
      ecsa_test_ws_close (fx->ws, codes[i]);
      wait_connected (fx, i + 2);
      g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, i), ==, 0);
    }
  g_assert_cmpuint (fx->session->disconnected, ==, 3);
}

static void
test_flapping_server_backs_off (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  ecsa_test_ws_close (fx->ws, 1000); /* at once: the first reconnect is immediate */
  wait_connected (fx, 2);
  ecsa_test_ws_close (fx->ws, 1000); /* again at once: back off */
  wait_connected (fx, 3);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), ==, 0);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 1), >=, 250 * 1000);
}

static void
test_unclean_close_backs_off (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  ecsa_test_ws_close (fx->ws, 4000);
  wait_connected (fx, 2);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), >=, 250 * 1000);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), <, 300 * 1000 + 1);
}

static void
test_refused_backoff_grows (Fixture *fx, gconstpointer data)
{
  double base = 250 * 1000;

  fx->ws->refuse_status = 503;
  fx->ws->refuse_count = 6;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  g_assert_cmpuint (fx->session->refused, ==, 6);
  g_assert_cmpuint (fx->session->refused_status, ==, 503);
  g_assert_cmpuint (count_timers (fx, ECSA_WS_TIMER_RECONNECT), ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      GTimeSpan d = nth_timer (fx, ECSA_WS_TIMER_RECONNECT, i);
      g_assert_cmpint (d, >=, (GTimeSpan) base);
      g_assert_cmpint (d, <=, (GTimeSpan) (base * 1.2) + 1);
      base *= 1.5;
    }
  /* connected for a while: the backoff goes back to its start */
  ECSA_TEST_WAIT (!(count_timers (fx, ECSA_WS_TIMER_BACKOFF_RESET) < 1), GUARD_MS);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_BACKOFF_RESET, 0), >=, 60 * G_USEC_PER_SEC);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_BACKOFF_RESET, 0), <, 120 * G_USEC_PER_SEC);
  ecsa_test_acs_run_for (200); /* the reset timer runs 1000x faster: <= 120 ms */
  g_assert_cmpint (ecsa_backoff_peek (ecsa_ws_session_get_backoff (ECSA_WS_SESSION (fx->session))), ==, 250 * 1000);
}

static void
test_refused_body_and_delay (Fixture *fx, gconstpointer data)
{
  fx->ws->refuse_status = 400;
  fx->ws->refuse_count = 1;
  fx->ws->refuse_body = g_strdup ("{\"InactiveInstanceException\":\"Container instance is inactive\"}");
  fx->session->refused_delay = (GTimeSpan) 3600 * G_USEC_PER_SEC;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(fx->session->refused < 1), GUARD_MS);
  g_assert_cmpuint (fx->session->refused_status, ==, 400);
  g_assert_cmpstr (fx->session->refused_body, ==, "{\"InactiveInstanceException\":\"Container instance is inactive\"}");
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), ==, (GTimeSpan) 3600 * G_USEC_PER_SEC);
}

static void
test_bad_signature_refused (Fixture *fx, gconstpointer data)
{
  fx->ws->other_secret = TRUE;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(fx->session->refused < 2), GUARD_MS);
  g_assert_cmpuint (fx->session->refused_status, ==, 403);
  g_assert_cmpuint (fx->ws->bad_signatures, >=, 2);
  g_assert_nonnull (strstr (fx->ws->last_signature_error, "signature"));
  g_assert_cmpuint (fx->ws->connections, ==, 0);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), >=, 250 * 1000);
}

static void
test_silence_closes (Fixture *fx, gconstpointer data)
{
  fx->scale_silence = TRUE;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  /* 60..120 s of virtual silence: closed by us, then a reconnect after the backoff */
  ecsa_test_ws_wait_closed (fx->ws, 1, GUARD_MS);
  wait_connected (fx, 2);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_SILENCE, 0), >=, 60 * G_USEC_PER_SEC);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_SILENCE, 0), <, 120 * G_USEC_PER_SEC);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), >=, 250 * 1000);
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "hasn't had any activity for too long"));
}

static void
test_activity_rearms_silence (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  g_assert_cmpuint (count_timers (fx, ECSA_WS_TIMER_SILENCE), ==, 1);
  ecsa_test_ws_send (fx->ws, "HeartbeatMessage", "{}");
  ecsa_test_ws_send (fx->ws, "SomethingNew", "{}");
  ECSA_TEST_WAIT (!(fx->session->types->len < 2), GUARD_MS);
  g_assert_cmpuint (count_timers (fx, ECSA_WS_TIMER_SILENCE), ==, 3);
}

/* The socket's connect timeout does not outlive the handshake: an open session that hears nothing
 * for longer than it (but less than the silence timer) stays connected (a quiet ACS is normal). */
static void
test_quiet_session_outlives_connect_timeout (Fixture *fx, gconstpointer data)
{
  EcsaWsSessionParams params = acs_like;

  params.connect_timeout = 1 * G_USEC_PER_SEC;
  g_clear_object (&fx->session);
  fx->session = g_object_new (TEST_TYPE_SESSION, NULL);
  ecsa_ws_session_set_rand (ECSA_WS_SESSION (fx->session), fx->rand);
  ecsa_ws_session_setup (ECSA_WS_SESSION (fx->session), &params, fx->client);
  ecsa_ws_session_set_timer_factory (ECSA_WS_SESSION (fx->session), timer_factory, fx);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_CONNECT_DEADLINE, 0), ==, 1 * G_USEC_PER_SEC);
  ecsa_test_acs_run_for (2500);
  ecsa_test_ws_send (fx->ws, "HeartbeatMessage", "{}");
  ECSA_TEST_WAIT (!(fx->session->types->len < 1), GUARD_MS);
  g_assert_cmpuint (fx->ws->connections, ==, 1);
  g_assert_null (strstr (ecsa_test_log_captured (), "timed out"));
}

static void
test_stop (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_closed (fx->ws, 1, GUARD_MS);
  ecsa_test_acs_run_for (100);
  g_assert_cmpuint (fx->ws->connections, ==, 1);
  g_assert_cmpuint (count_timers (fx, ECSA_WS_TIMER_RECONNECT), ==, 0);
}

static void
test_reconnect_on_request (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  wait_connected (fx, 1);
  ecsa_test_acs_run_for (150);
  ecsa_ws_session_reconnect (ECSA_WS_SESSION (fx->session), TRUE, "CloseMessage");
  wait_connected (fx, 2);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), ==, 0);
}

static void
test_wss_trust (Fixture *fx, gconstpointer data)
{
  g_autofree char *ca = NULL;
  g_autofree char *other = NULL;

  fx->cert_dir = ecsa_test_mkdtemp ();
  ecsa_test_make_certificates (fx->cert_dir);
  ca = g_build_filename (fx->cert_dir, "ca.pem", NULL);
  other = g_build_filename (fx->cert_dir, "other.pem", NULL);
  ecsa_test_ws_free (fx->ws);
  fx->ws = ecsa_test_ws_new (FALSE, TRUE, fx->cert_dir);
  g_assert_true (g_str_has_prefix (fx->ws->url, "https://127.0.0.1:"));

  /* untrusted: refused by TLS, backing off */
  g_setenv ("SSL_CERT_FILE", other, TRUE);
  g_setenv ("SSL_CERT_DIR", "/nonexistent", TRUE);
  make_session (fx);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(count_timers (fx, ECSA_WS_TIMER_RECONNECT) < 1), GUARD_MS);
  g_assert_cmpuint (fx->ws->connections, ==, 0);
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));

  /* the CA in SSL_CERT_FILE: wss works without -k, the port is not in the server name */
  g_setenv ("SSL_CERT_FILE", ca, TRUE);
  make_session (fx);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->ws, 1, 4 * GUARD_MS);
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));

  /* -k */
  g_setenv ("SSL_CERT_FILE", other, TRUE);
  fx->config.accept_insecure_cert = TRUE;
  make_session (fx);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->ws, 2, 4 * GUARD_MS);
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  if (g_getenv ("ECSA_TEST_TLS") != NULL)
    {
      /* a program of its own: TLS handshakes are slow under ASan */
      g_test_add ("/ws-session/tls/trust", Fixture, NULL, fixture_setup, test_wss_trust, fixture_teardown);
      return g_test_run ();
    }
  g_test_add_func ("/ws-session/parse-frame", test_parse_frame);
  g_test_add_func ("/ws-session/envelope", test_envelope);
  g_test_add_func ("/ws-session/query-encode", test_query_encode);
  g_test_add_func ("/ws-session/backoff-sequence", test_backoff_sequence);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/ws-session/connect-and-frames", test_connect_and_frames);
  ADD ("/ws-session/session-token", test_session_token_handshake);
  ADD ("/ws-session/close/clean-reconnects-at-once", test_clean_close_reconnects_at_once);
  ADD ("/ws-session/close/flapping-backs-off", test_flapping_server_backs_off);
  ADD ("/ws-session/close/unclean-backs-off", test_unclean_close_backs_off);
  ADD ("/ws-session/close/on-request", test_reconnect_on_request);
  ADD ("/ws-session/refused/backoff-grows", test_refused_backoff_grows);
  ADD ("/ws-session/refused/body-and-delay", test_refused_body_and_delay);
  ADD ("/ws-session/refused/bad-signature", test_bad_signature_refused);
  ADD ("/ws-session/silence/closes", test_silence_closes);
  ADD ("/ws-session/silence/activity-rearms", test_activity_rearms_silence);
  ADD ("/ws-session/silence/outlives-connect-timeout", test_quiet_session_outlives_connect_timeout);
  ADD ("/ws-session/stop", test_stop);
  return g_test_run ();
}
