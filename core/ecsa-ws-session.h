/* ecsa-ws-session.h: the websocket plumbing shared by the ACS and TCS sessions.
 *
 * One EcsaWsSession keeps one websocket to a control-plane service up, as agent v1.16.2's
 * wsclient + session loops do:
 *   discover (ECS DiscoverPollEndpoint, cached) -> URL (subclass) -> credentials -> connect:
 *   a SigV4-signed GET (service "ecs", empty payload, signed headers host;x-amz-date and
 *   x-amz-security-token) upgraded to a websocket; https:// endpoints become wss://, http:// ws://.
 *   TLS follows the ECS client: its trust database, -k, and the host alone as server name.
 * A refused handshake is read to the end (status and body, e.g. {"InactiveInstanceException":
 * "..."}) and handed to the subclass, which may choose the delay before the next try.
 *
 * Frames, both ways, are {"type":"<ShapeName>","message":{...}}. A frame that is a bare
 * {"<ExceptionName>":"<text>"} is delivered with type <ExceptionName> and message {"message":text}.
 * Anything else is logged (without its content) and ignored; nothing stops the session.
 *
 * Reconnecting: a close by the server with 1000, 1001, 1006 (no close frame) or 1011, or a close
 * the subclass asks for (CloseMessage, StopTelemetrySessionMessage), reconnects at once and resets
 * the backoff (a second such close within `flap_window` (1 s) of connecting backs off instead, so a
 * flapping server cannot spin us); any other end (failed connect, refused handshake, silence, protocol
 * error) waits for the backoff: min..max, xmultiple, +jitter. The backoff is also reset after
 * the connection stayed up for `backoff_reset_after` (+ its jitter). Silence (no frame at all) for
 * `silence_timeout` + a random share of `silence_jitter` closes the connection.
 *
 * Timers go through a factory so tests can run the clock fast and see every delay requested.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "ecsa-backoff.h"
#include "ecsa-ecs-client.h"

G_BEGIN_DECLS

#define ECSA_WS_CONNECT_TIMEOUT (30 * G_USEC_PER_SEC)
#define ECSA_WS_MAX_FRAME (16 * 1024 * 1024)

#define ECSA_WS_SESSION_ERROR (ecsa_ws_session_error_quark ())
GQuark ecsa_ws_session_error_quark (void);

typedef enum
{
  ECSA_WS_SESSION_ERROR_REFUSED,     /* the handshake got an HTTP answer other than 101 */
  ECSA_WS_SESSION_ERROR_HANDSHAKE,   /* a malformed or unverifiable handshake answer */
  ECSA_WS_SESSION_ERROR_NOT_CONNECTED,
  ECSA_WS_SESSION_ERROR_BAD_FRAME,   /* not an envelope */
} EcsaWsSessionError;

typedef enum
{
  ECSA_WS_TIMER_RECONNECT,
  ECSA_WS_TIMER_SILENCE,
  ECSA_WS_TIMER_BACKOFF_RESET,
  ECSA_WS_TIMER_PUBLISH,  /* subclasses' own periodic work */
  ECSA_WS_TIMER_CONNECT_DEADLINE,
} EcsaWsTimer;

/* Return an unattached source that fires after (about) `delay`. */
typedef GSource *(*EcsaWsTimerFactory) (EcsaWsTimer which, GTimeSpan delay, gpointer user_data);

typedef struct
{
  const char *name;            /* "ACS", "TCS": for logs */
  GTimeSpan backoff_min;
  GTimeSpan backoff_max;
  double backoff_multiplier;
  double backoff_jitter;
  GTimeSpan silence_timeout;   /* 0: no silence timer */
  GTimeSpan silence_jitter;
  GTimeSpan backoff_reset_after; /* 0: only clean closes reset the backoff */
  GTimeSpan backoff_reset_jitter;
  GTimeSpan flap_window;         /* a clean close this soon after connecting is a flap (0: 1 s) */
  GTimeSpan connect_timeout;     /* connect + handshake deadline (0: ECSA_WS_CONNECT_TIMEOUT) */
} EcsaWsSessionParams;

#define ECSA_TYPE_WS_SESSION (ecsa_ws_session_get_type ())
G_DECLARE_DERIVABLE_TYPE (EcsaWsSession, ecsa_ws_session, ECSA, WS_SESSION, GObject)

struct _EcsaWsSessionClass
{
  GObjectClass parent_class;

  /* The https:// (or http://) URL of the websocket from the discovered endpoints, or NULL with
   * an error (the session backs off and tries again). */
  char *(*build_url) (EcsaWsSession *self, const EcsaPollEndpoints *endpoints, GError **error);
  /* The websocket is up. */
  void (*connected) (EcsaWsSession *self);
  /* One frame. `message` is the envelope's "message" object (never NULL: {} when absent). */
  void (*handle_message) (EcsaWsSession *self, const char *type, JsonObject *message);
  /* What goes on the wire for an envelope (TCS signs it); NULL: the envelope itself. */
  GBytes *(*encode_frame) (EcsaWsSession *self, GBytes *envelope, GError **error);
  /* The websocket is gone (error says why; NULL for a clean close). */
  void (*disconnected) (EcsaWsSession *self, const GError *error);
  /* The handshake was refused (status, body): the delay before trying again, or -1 for the
   * backoff. */
  GTimeSpan (*refused) (EcsaWsSession *self, guint status, const char *body);

  gpointer padding[8];
};

/* For subclasses, once, before start. */
void ecsa_ws_session_setup (EcsaWsSession *self, const EcsaWsSessionParams *params, EcsaEcsClient *ecs_client);

void ecsa_ws_session_start (EcsaWsSession *self);
/* Close (1000) and do not reconnect. */
void ecsa_ws_session_stop (EcsaWsSession *self);

gboolean ecsa_ws_session_is_connected (EcsaWsSession *self);
/* Counts successful connections; frames answer on the connection they came from. */
guint64 ecsa_ws_session_get_connection_id (EcsaWsSession *self);
EcsaEcsClient *ecsa_ws_session_get_ecs_client (EcsaWsSession *self);
const char *ecsa_ws_session_get_name (EcsaWsSession *self);
/* The URL of the current (or last) connection, https:// form. */
const char *ecsa_ws_session_get_url (EcsaWsSession *self);

/* Send {"type":type,"message":message} (through encode_frame). Fails when not connected, or when
 * connection_id is not 0 and not the current connection. */
gboolean ecsa_ws_session_send (EcsaWsSession *self, guint64 connection_id, const char *type, JsonNode *message,
                               GError **error);

/* Close the current connection on the subclass's request and reconnect: at once when
 * `immediately` (a clean end), else after the backoff. */
void ecsa_ws_session_reconnect (EcsaWsSession *self, gboolean immediately, const char *why);

/* Timers through the factory (subclasses use it for their periodic work). The source is attached
 * to the thread-default context; the caller owns the returned reference. */
GSource *ecsa_ws_session_add_timer (EcsaWsSession *self, EcsaWsTimer which, GTimeSpan delay, GSourceFunc func,
                                    gpointer user_data);
/* Tests: the clock. NULL restores real timeouts. */
void ecsa_ws_session_set_timer_factory (EcsaWsSession *self, EcsaWsTimerFactory factory, gpointer user_data);
/* Tests: the jitter's random numbers. */
void ecsa_ws_session_set_rand (EcsaWsSession *self, GRand *rand);
EcsaBackoff *ecsa_ws_session_get_backoff (EcsaWsSession *self);

/* Handle `data` as if the current connection had received it as a text frame (tests, fuzzers). */
void ecsa_ws_session_feed (EcsaWsSession *self, const char *data, gsize len);

/* Frame parsing (also the fuzz target). On success *out_type is the frame type and
 * *out_message its message object (a new reference). */
gboolean ecsa_ws_parse_frame (const char *data, gsize len, char **out_type, JsonObject **out_message, GError **error);
/* The envelope for a frame we send. */
GBytes *ecsa_ws_build_envelope (const char *type, JsonNode *message);

/* Go's url.Values.Encode(): keys sorted, QueryEscape'd (space -> '+'). `pairs` is a
 * NULL-terminated key, value, key, value, ... list. */
char *ecsa_ws_query_encode (const char *const *pairs);

G_END_DECLS
