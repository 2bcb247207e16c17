/* ecsa-docker-client.c: the Docker Engine API with libsoup (see the header for the contract).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-client.h"

#include "ecsa-log.h"

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#define DEFAULT_DOCKER_HOST "unix:///var/run/docker.sock"
/* Connections to dockerd: enough that a quick call never queues behind slow ones (v1.16.2's Go
 * client has no limit at all); libsoup queues beyond it. Each is one unix socket. */
#define MAX_CONNECTIONS 256
/* A creation waits in the client's own queue while this many quick calls are in flight:
 * creations, starts, inspections, removals, lists... (not pulls, which stream at the registry's
 * pace, nor stops, which last as long as the container takes to exit). Its time limit runs from
 * when it goes out (a task is not failed because the agent held its creation back); cancelling
 * it still ends the wait. A creation begins new work in dockerd, so new work enters only while
 * dockerd keeps up with the work begun; that work itself never waits, so a quick inspect never
 * queues behind creations (when all calls were limited, inspects timed out after 30 s in the
 * queue during a churn of 500 tasks, and priority orderings starved one class or another under a
 * churn's overload). It bounds what a launch of hundreds of tasks keeps in flight (each call
 * holds a connection, libsoup's buffers and a goroutine in dockerd) while dockerd stays saturated
 * (about 0.45 s per create+start with 256 requests in flight, the same with 32). */
#define MAX_BUSY_BEFORE_CREATES 32
/* The connections to dockerd are closed once no call has been in flight for this long (ms):
 * a burst keeps reusing them, and none is left open for good after it (v1.16.2 kept none). */
#define IDLE_CLOSE_MS 2000
/* Bodies we read whole (inspect, list, errors) are capped: a runaway answer must not eat memory. */
#define MAX_ERROR_BODY (64 * 1024)
/* v1.16.2 logs pull progress bars at most every 2 s. */
#define PULL_STATUS_SUPPRESS_US (2 * G_USEC_PER_SEC)
#define EVENTS_BACKOFF_MIN_MS 100
#define EVENTS_BACKOFF_MAX_MS 5000
/* Events remembered to recognize a replay after a reconnect: far more than dockerd emits in the
 * moments a reconnect takes. */
#define EVENTS_SEEN_MAX 256

/* A remembered event: its time and a 64-bit FNV-1a hash of its container ID and action (two events
 * of the same nanosecond with equal hashes would be taken for one: a chance of 2^-64 a pair). The
 * last EVENTS_SEEN_MAX are kept in a ring inside the client: keys allocated one by one during a
 * burst of tasks each pinned a page of the heap once the burst was over (about 1 MiB after a churn
 * of 1,000 tasks, docs/PERFORMANCE.md). */
typedef struct
{
  gint64 nano;
  guint64 hash;
} SeenEvent;

/* v1.16.2's timeouts (agent/engine/docker_container_engine.go), milliseconds. */
static const guint default_timeouts[ECSA_DOCKER_CALL_LAST_] = {
  [ECSA_DOCKER_CALL_VERSION] = 30 * 1000,
  [ECSA_DOCKER_CALL_PULL] = 2 * 60 * 60 * 1000,
  [ECSA_DOCKER_CALL_PULL_BEGIN] = 5 * 60 * 1000,
  [ECSA_DOCKER_CALL_CREATE] = 4 * 60 * 1000,
  [ECSA_DOCKER_CALL_START] = 3 * 60 * 1000,
  [ECSA_DOCKER_CALL_STOP] = 30 * 1000,
  [ECSA_DOCKER_CALL_INSPECT] = 30 * 1000,
  [ECSA_DOCKER_CALL_REMOVE] = 5 * 60 * 1000,
  [ECSA_DOCKER_CALL_LIST] = 10 * 60 * 1000,
  [ECSA_DOCKER_CALL_INSPECT_IMAGE] = 30 * 1000,
  [ECSA_DOCKER_CALL_REMOVE_IMAGE] = 3 * 60 * 1000,
  [ECSA_DOCKER_CALL_VOLUME] = 30 * 1000,
  [ECSA_DOCKER_CALL_OTHER] = 30 * 1000,
};

struct _EcsaDockerClient
{
  GObject parent_instance;

  char *docker_host; /* as configured, for messages */
  char *base_uri;    /* "http://docker" (unix) or "http://host:port" */
  SoupSession *session;
  SoupSession *stream_session; /* the event stream: one long-lived connection of its own */
  GMainContext *context;
  guint timeouts[ECSA_DOCKER_CALL_LAST_];

  char *api_version;
  char *server_version;
  char *min_api_version;  /* the daemon's oldest API, or NULL: ECSA_DOCKER_API_VERSION_PROBED or older */
  guint n_in_flight;      /* calls sent on `session`, not finished */
  guint n_busy;           /* ... of which quick calls (MAX_BUSY_BEFORE_CREATES) */
  GQueue limited_waiting; /* GTask*: creations waiting for a slot (a reference each) */
  GSource *idle_close;    /* closes the idle connections once nothing is in flight */
  gboolean negotiating;
  GPtrArray *negotiate_waiters; /* GTask* waiting for the version */
  GHashTable *image_inspects;   /* "<image>\n<cancellable>" -> GPtrArray of GTask*: one call in flight each */

  /* event stream */
  gboolean watching;
  gboolean events_connected;
  gboolean events_ever_connected;
  GCancellable *events_cancellable;
  GDataInputStream *events_stream;
  GSource *events_retry;
  char *events_filter; /* the URL-escaped filters document */
  guint events_backoff_ms;
  gint64 events_last_nano;                /* the newest event's time: where a reconnected stream starts */
  SeenEvent events_seen[EVENTS_SEEN_MAX]; /* a ring; nano 0: unused */
  guint events_seen_next;                 /* the slot the next event takes */
};

G_DEFINE_TYPE(EcsaDockerClient, ecsa_docker_client, G_TYPE_OBJECT)

enum
{
  SIGNAL_CONTAINER_EVENT,
  SIGNAL_EVENTS_CONNECTED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

/* ------------------------------------------------------------------------------------------- */
/* helpers */

static char *
format_duration(guint ms)
{
  guint s = ms / 1000;

  if (ms % 1000 != 0)
    return g_strdup_printf("%.1fs", ms / 1000.0);
  if (s >= 3600 && s % 3600 == 0)
    return g_strdup_printf("%uh", s / 3600);
  if (s >= 60 && s % 60 == 0)
    return g_strdup_printf("%um", s / 60);
  if (s >= 60)
    return g_strdup_printf("%um%us", s / 60, s % 60);
  return g_strdup_printf("%us", s);
}

int
ecsa_docker_api_version_compare(const char *a, const char *b)
{
  guint64 amaj = 0, amin = 0, bmaj = 0, bmin = 0;
  const char *dot;

  amaj = g_ascii_strtoull(a, NULL, 10);
  dot = strchr(a, '.');
  if (dot != NULL)
    amin = g_ascii_strtoull(dot + 1, NULL, 10);
  bmaj = g_ascii_strtoull(b, NULL, 10);
  dot = strchr(b, '.');
  if (dot != NULL)
    bmin = g_ascii_strtoull(dot + 1, NULL, 10);
  if (amaj != bmaj)
    return amaj < bmaj ? -1 : 1;
  if (amin != bmin)
    return amin < bmin ? -1 : 1;
  return 0;
}

static gboolean api_version_valid(const char *v);

gboolean
ecsa_docker_api_version_range_contains(const char *oldest, const char *newest, const char *version)
{
  return api_version_valid(version) && api_version_valid(newest)
         && ecsa_docker_api_version_compare(version, newest) <= 0
         && (!api_version_valid(oldest) || ecsa_docker_api_version_compare(version, oldest) >= 0);
}

static gboolean
api_version_valid(const char *v)
{
  const char *p = v;

  if (v == NULL || !g_ascii_isdigit(*p))
    return FALSE;
  while (g_ascii_isdigit(*p))
    p++;
  if (*p++ != '.' || !g_ascii_isdigit(*p))
    return FALSE;
  while (g_ascii_isdigit(*p))
    p++;
  return *p == '\0';
}

char *
ecsa_docker_image_reference_with_tag(const char *image)
{
  const char *slash, *colon;

  g_return_val_if_fail(image != NULL, NULL);

  if (strchr(image, '@') != NULL)
    return g_strdup(image);
  slash = strrchr(image, '/');
  colon = strrchr(image, ':');
  if (colon != NULL && (slash == NULL || colon > slash))
    return g_strdup(image);
  return g_strconcat(image, ":latest", NULL);
}

char *
ecsa_docker_image_registry(const char *image)
{
  const char *slash;
  g_autofree char *first = NULL;

  g_return_val_if_fail(image != NULL, NULL);

  slash = strchr(image, '/');
  if (slash == NULL)
    return g_strdup("index.docker.io");
  first = g_strndup(image, slash - image);
  /* Docker's rule: the first component is a registry when it has a '.' or a ':' or is "localhost". */
  if (strchr(first, '.') == NULL && strchr(first, ':') == NULL && strcmp(first, "localhost") != 0)
    return g_strdup("index.docker.io");
  if (strcmp(first, "docker.io") == 0 || strcmp(first, "registry-1.docker.io") == 0)
    return g_strdup("index.docker.io");
  return g_steal_pointer(&first);
}

char *
ecsa_docker_client_encode_registry_auth(const EcsaRegistryCredentials *credentials)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  gsize len = 0;
  char *encoded;

  g_return_val_if_fail(credentials != NULL, NULL);

  json_builder_begin_object(b);
  if (credentials->username != NULL)
    {
      json_builder_set_member_name(b, "username");
      json_builder_add_string_value(b, credentials->username);
    }
  if (credentials->password != NULL)
    {
      json_builder_set_member_name(b, "password");
      json_builder_add_string_value(b, credentials->password);
    }
  if (credentials->email != NULL)
    {
      json_builder_set_member_name(b, "email");
      json_builder_add_string_value(b, credentials->email);
    }
  if (credentials->server_address != NULL)
    {
      json_builder_set_member_name(b, "serveraddress");
      json_builder_add_string_value(b, credentials->server_address);
    }
  if (credentials->identity_token != NULL)
    {
      json_builder_set_member_name(b, "identitytoken");
      json_builder_add_string_value(b, credentials->identity_token);
    }
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json = json_generator_to_data(gen, &len);
  encoded = g_base64_encode((const guchar *)json, len);
  for (char *p = encoded; *p != '\0'; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
    }
  /* wipe the clear copy */
  memset(json, 0, len);
  return encoded;
}

/* Docker's error body is {"message": "..."}; anything else is shown raw (trimmed). */
static char *
docker_error_message(GBytes *body, guint status)
{
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data(body, &len) : NULL;
  g_autoptr(JsonParser) parser = NULL;

  if (data == NULL || len == 0)
    return g_strdup_printf("HTTP %u %s", status, soup_status_get_phrase(status));
  parser = json_parser_new();
  if (len <= MAX_ERROR_BODY && json_parser_load_from_data(parser, data, len, NULL))
    {
      JsonNode *root = json_parser_get_root(parser);
      if (root != NULL && JSON_NODE_HOLDS_OBJECT(root))
        {
          JsonObject *o = json_node_get_object(root);
          const char *msg = json_object_get_string_member_with_default(o, "message", NULL);
          if (msg != NULL)
            return g_strdup(msg);
        }
    }
  {
    g_autofree char *raw = g_strndup(data, MIN(len, 512));
    return g_strstrip(g_steal_pointer(&raw));
  }
}

static int
status_to_code(guint status)
{
  switch (status)
    {
    case SOUP_STATUS_NOT_FOUND:
      return ECSA_ERROR_NOT_FOUND;
    case SOUP_STATUS_BAD_REQUEST:
      return ECSA_ERROR_INVALID_DATA;
    default:
      return ECSA_ERROR_FAILED;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* one call */

typedef enum
{
  RESULT_BYTES = 0, /* generic request: (status, body) */
  RESULT_NONE,      /* success/failure only */
  RESULT_JSON,      /* a parsed JSON document */
  RESULT_ID,        /* create: the "Id" member */
} ResultKind;

typedef struct
{
  EcsaDockerClient *self; /* unowned: the GTask holds the reference */
  GTask *waiting;         /* unowned: set while queued behind the version negotiation */
  EcsaDockerCall call;
  ResultKind kind;
  char *what; /* "create container 'ecs-x'" */
  char *method;
  char *path; /* relative to the version: "/containers/create?name=x" */
  gboolean versioned;
  char *api_version; /* override, or NULL */
  GBytes *body;
  char *registry_auth;
  guint extra_timeout_ms;    /* added to the call's timeout (stop: the stop timeout) */
  guint timeout_override_ms; /* replaces it (generic requests), or 0 */
  guint timeout_ms;          /* the effective overall timeout */
  guint ok_status_2;         /* a non-2xx status that counts as success (304), or 0 */
  gboolean streamed;         /* pull: read progress lines */
  char *image;               /* pull: for the log */

  gboolean counted;           /* sent: counts in n_in_flight (and n_busy when busy) */
  gboolean limited;           /* a creation: waits while MAX_BUSY_BEFORE_CREATES calls are busy */
  gboolean busy;              /* a quick call (not a pull nor a stop): counts in n_busy */
  GList *slot_wait;           /* its link in limited_waiting, while it waits for a slot */
  gulong slot_cancel_handler; /* on `cancellable` while it waits */
  GCancellable *cancellable;  /* the call's own, cancelled by the parent or the timer */
  GCancellable *parent_cancellable;
  gulong parent_handler;
  GSource *timer;
  GSource *begin_timer; /* pull: first progress line */
  gboolean timed_out;
  EcsaDockerCall timed_out_call;

  SoupMessage *msg;
  guint status;
  /* streaming */
  GDataInputStream *lines;
  GString *error_text; /* body of a failed stream, or the in-stream error */
  gint64 started;
  gint64 last_progress_log;
  guint n_lines;
  char *last_status;
} CallData;

static void
call_data_free(CallData *cd)
{
  if (cd->timer != NULL)
    {
      g_source_destroy(cd->timer);
      g_source_unref(cd->timer);
    }
  if (cd->begin_timer != NULL)
    {
      g_source_destroy(cd->begin_timer);
      g_source_unref(cd->begin_timer);
    }
  if (cd->slot_cancel_handler != 0)
    g_clear_signal_handler(&cd->slot_cancel_handler, cd->cancellable);
  if (cd->parent_handler != 0)
    g_cancellable_disconnect(cd->parent_cancellable, cd->parent_handler);
  g_clear_object(&cd->parent_cancellable);
  g_clear_object(&cd->cancellable);
  g_clear_object(&cd->msg);
  g_clear_object(&cd->lines);
  if (cd->error_text != NULL)
    g_string_free(cd->error_text, TRUE);
  if (cd->registry_auth != NULL)
    {
      memset(cd->registry_auth, 0, strlen(cd->registry_auth));
      g_free(cd->registry_auth);
    }
  g_clear_pointer(&cd->body, g_bytes_unref);
  g_free(cd->what);
  g_free(cd->method);
  g_free(cd->path);
  g_free(cd->api_version);
  g_free(cd->image);
  g_free(cd->last_status);
  g_free(cd);
}

static void
parent_cancelled_cb(GCancellable *parent, gpointer user_data)
{
  /* may run in another thread: GCancellable is thread-safe */
  g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static GError *call_error(EcsaDockerClient *self, CallData *cd, GError *transport_error);

static gboolean
call_timeout_cb(gpointer user_data)
{
  CallData *cd = user_data;

  if (!cd->timed_out)
    {
      cd->timed_out = TRUE;
      cd->timed_out_call = cd->call;
      g_cancellable_cancel(cd->cancellable);
      if (cd->waiting != NULL && g_ptr_array_remove(cd->self->negotiate_waiters, cd->waiting))
        {
          /* still queued behind the version negotiation: fail now, not when it ends */
          g_autoptr(GTask) task = g_steal_pointer(&cd->waiting);
          g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
          g_task_return_error(task, call_error(cd->self, cd, cancelled));
        }
    }
  return G_SOURCE_REMOVE;
}

static gboolean
call_begin_timeout_cb(gpointer user_data)
{
  CallData *cd = user_data;

  if (!cd->timed_out)
    {
      cd->timed_out = TRUE;
      cd->timed_out_call = ECSA_DOCKER_CALL_PULL_BEGIN;
      g_cancellable_cancel(cd->cancellable);
    }
  return G_SOURCE_REMOVE;
}

static GSource *
attach_timer(EcsaDockerClient *self, guint ms, GSourceFunc func, CallData *cd)
{
  GSource *src = g_timeout_source_new(ms);

  g_source_set_callback(src, func, cd, NULL);
  g_source_set_name(src, "ecsa-docker-call-timeout");
  g_source_attach(src, self->context);
  return src;
}

static CallData *
call_data_new(EcsaDockerClient *self, EcsaDockerCall call, ResultKind kind, const char *method, char *path, char *what,
              GCancellable *cancellable)
{
  CallData *cd = g_new0(CallData, 1);

  cd->self = self;
  cd->call = call;
  cd->kind = kind;
  cd->method = g_strdup(method);
  cd->path = path;
  cd->what = what;
  cd->versioned = TRUE;
  cd->cancellable = g_cancellable_new();
  if (cancellable != NULL)
    {
      cd->parent_cancellable = g_object_ref(cancellable);
      cd->parent_handler = g_cancellable_connect(cancellable, G_CALLBACK(parent_cancelled_cb), cd->cancellable, NULL);
    }
  cd->started = g_get_monotonic_time();
  return cd;
}

/* The error for a failed call: a timeout names the call and its limit, a cancellation stays a
 * cancellation, a transport failure says dockerd cannot be reached. */
static GError *
call_error(EcsaDockerClient *self, CallData *cd, GError *transport_error)
{
  if (cd->timed_out)
    {
      guint ms = cd->timed_out_call == ECSA_DOCKER_CALL_PULL_BEGIN ? self->timeouts[ECSA_DOCKER_CALL_PULL_BEGIN]
                                                                   : cd->timeout_ms;
      g_autofree char *dur = format_duration(ms);
      return g_error_new(ECSA_ERROR, ECSA_ERROR_TIMEOUT, "docker %s: timed out after %s%s", cd->what, dur,
                         cd->timed_out_call == ECSA_DOCKER_CALL_PULL_BEGIN ? " without any progress" : "");
    }
  if (g_error_matches(transport_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy(transport_error);
  return g_error_new(ECSA_ERROR, ECSA_ERROR_RETRY, "docker %s: cannot reach dockerd at '%s': %s", cd->what,
                     self->docker_host, transport_error->message);
}

static void call_send(GTask *task);
static void negotiate_start(EcsaDockerClient *self);

/* Start a call: the timer runs from here, negotiation included. */
static void
call_start(EcsaDockerClient *self, CallData *cd, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  g_autoptr(GTask) task = g_task_new(self, cd->parent_cancellable, callback, user_data);

  g_task_set_source_tag(task, source_tag);
  g_task_set_task_data(task, cd, (GDestroyNotify)call_data_free);
  g_task_set_check_cancellable(task, FALSE);
  cd->timeout_ms
    = cd->timeout_override_ms != 0 ? cd->timeout_override_ms : self->timeouts[cd->call] + cd->extra_timeout_ms;
  cd->timer = attach_timer(self, cd->timeout_ms, call_timeout_cb, cd);

  if (g_cancellable_is_cancelled(cd->cancellable))
    {
      g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "docker %s: cancelled", cd->what);
      return;
    }
  if (cd->versioned && cd->api_version == NULL && self->api_version == NULL)
    {
      cd->waiting = task;
      g_ptr_array_add(self->negotiate_waiters, g_steal_pointer(&task));
      negotiate_start(self);
      return;
    }
  call_send(g_steal_pointer(&task));
}

static char *
call_uri(EcsaDockerClient *self, CallData *cd)
{
  if (!cd->versioned)
    return g_strconcat(self->base_uri, cd->path, NULL);
  return g_strdup_printf("%s/v%s%s", self->base_uri, cd->api_version != NULL ? cd->api_version : self->api_version,
                         cd->path);
}

static void
call_finish_response(GTask *task, GBytes *body)
{
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);
  guint status = cd->status;
  gboolean ok = (status >= 200 && status < 300) || (cd->ok_status_2 != 0 && status == cd->ok_status_2);

  (void)self;
  if (cd->kind == RESULT_BYTES)
    {
      g_task_return_pointer(task, g_bytes_ref(body), (GDestroyNotify)g_bytes_unref);
      return;
    }
  if (!ok)
    {
      g_autofree char *msg = docker_error_message(body, status);
      g_task_return_new_error(task, ECSA_ERROR, status_to_code(status), "docker %s: %s", cd->what, msg);
      return;
    }
  if (cd->kind == RESULT_NONE)
    {
      g_task_return_boolean(task, TRUE);
      return;
    }

  {
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    const char *data = g_bytes_get_data(body, &len);
    JsonNode *root;

    if (!json_parser_load_from_data(parser, data != NULL ? data : "", len, &error)
        || json_parser_get_root(parser) == NULL)
      {
        g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "docker %s: unreadable answer: %s", cd->what,
                                error != NULL ? error->message : "empty body");
        return;
      }
    root = json_parser_get_root(parser);
    if (cd->kind == RESULT_ID)
      {
        const char *id = NULL;
        if (JSON_NODE_HOLDS_OBJECT(root))
          id = json_object_get_string_member_with_default(json_node_get_object(root), "Id", NULL);
        if (id == NULL || *id == '\0')
          {
            g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "docker %s: answer has no 'Id'",
                                    cd->what);
            return;
          }
        g_task_return_pointer(task, g_strdup(id), g_free);
        return;
      }
    g_task_return_pointer(task, json_node_ref(root), (GDestroyNotify)json_node_unref);
  }
}

static void
call_read_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);

  if (body == NULL)
    {
      g_task_return_error(task, call_error(self, cd, error));
      return;
    }
  cd->status = soup_message_get_status(cd->msg);
  ecsa_log_debug("docker %s: HTTP %u in %.3fs", cd->what, cd->status, (g_get_monotonic_time() - cd->started) / 1e6);
  call_finish_response(task, body);
}

/* --- streamed calls (pull) --- */

static void pull_read_line(GTask *task);

static void
pull_log_line(CallData *cd, JsonObject *o, const char *line)
{
  const char *status = json_object_get_string_member_with_default(o, "status", NULL);
  const char *id = json_object_get_string_member_with_default(o, "id", NULL);
  const char *progress = json_object_get_string_member_with_default(o, "progress", NULL);
  gint64 now = g_get_monotonic_time();

  if (status != NULL)
    {
      g_free(cd->last_status);
      cd->last_status = g_strdup(status);
    }
  /* progress bars are rate-limited as v1.16.2 does; every other line is logged */
  if (progress != NULL && now - cd->last_progress_log < PULL_STATUS_SUPPRESS_US)
    return;
  cd->last_progress_log = now;
  ecsa_log_debug("pulling image '%s': %s%s%s%s%s", cd->image, id != NULL ? id : "", id != NULL ? ": " : "",
                 status != NULL ? status : line, progress != NULL ? " " : "", progress != NULL ? progress : "");
}

static void
pull_line_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, &len, &error);

  if (line == NULL && error != NULL)
    {
      g_task_return_error(task, call_error(self, cd, error));
      return;
    }
  if (line == NULL)
    {
      /* end of stream */
      gboolean ok = cd->status >= 200 && cd->status < 300;
      if (!ok)
        {
          g_autoptr(GBytes) b = g_bytes_new(cd->error_text != NULL ? cd->error_text->str : "",
                                            cd->error_text != NULL ? cd->error_text->len : 0);
          g_autofree char *msg = docker_error_message(b, cd->status);
          g_task_return_new_error(task, ECSA_ERROR, status_to_code(cd->status), "docker %s: %s", cd->what, msg);
          return;
        }
      if (cd->error_text != NULL)
        {
          /* an error inside a 200 stream */
          g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_FAILED, "docker %s: %s", cd->what, cd->error_text->str);
          return;
        }
      ecsa_log_info("pulled image '%s' in %.1fs: %s", cd->image, (g_get_monotonic_time() - cd->started) / 1e6,
                    cd->last_status != NULL ? cd->last_status : "done");
      g_task_return_boolean(task, TRUE);
      return;
    }

  if (cd->begin_timer != NULL)
    {
      /* progress began: only the overall timeout is left */
      g_source_destroy(cd->begin_timer);
      g_clear_pointer(&cd->begin_timer, g_source_unref);
    }
  cd->n_lines++;
  if (cd->status < 200 || cd->status >= 300)
    {
      if (cd->error_text == NULL)
        cd->error_text = g_string_new(NULL);
      if (cd->error_text->len < MAX_ERROR_BODY)
        g_string_append(cd->error_text, line);
    }
  else if (len > 0)
    {
      g_autoptr(JsonParser) parser = json_parser_new();
      if (json_parser_load_from_data(parser, line, len, NULL) && json_parser_get_root(parser) != NULL
          && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        {
          JsonObject *o = json_node_get_object(json_parser_get_root(parser));
          const char *err = json_object_get_string_member_with_default(o, "error", NULL);
          if (err != NULL && cd->error_text == NULL)
            cd->error_text = g_string_new(err);
          else if (err == NULL)
            pull_log_line(cd, o, line);
        }
      else
        ecsa_log_debug("pulling image '%s': %s", cd->image, line);
    }
  pull_read_line(g_steal_pointer(&task));
}

static void
pull_read_line(GTask *task)
{
  CallData *cd = g_task_get_task_data(task);

  g_data_input_stream_read_line_async(cd->lines, G_PRIORITY_DEFAULT, cd->cancellable, pull_line_ready_cb, task);
}

static void
call_stream_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) stream = soup_session_send_finish(SOUP_SESSION(source), result, &error);

  if (stream == NULL)
    {
      g_task_return_error(task, call_error(self, cd, error));
      return;
    }
  cd->status = soup_message_get_status(cd->msg);
  cd->lines = g_data_input_stream_new(stream);
  g_data_input_stream_set_newline_type(cd->lines, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  pull_read_line(g_steal_pointer(&task));
}

/* --- calls in flight: the creations' limit, and closing idle connections --- */

static gboolean
call_is_limited(const CallData *cd)
{
  return cd->call == ECSA_DOCKER_CALL_CREATE;
}

static gboolean
call_is_busy(const CallData *cd)
{
  return cd->call != ECSA_DOCKER_CALL_PULL && cd->call != ECSA_DOCKER_CALL_PULL_BEGIN
         && cd->call != ECSA_DOCKER_CALL_STOP;
}

static gboolean
idle_close_cb(gpointer user_data)
{
  EcsaDockerClient *self = user_data;

  g_clear_pointer(&self->idle_close, g_source_unref);
  /* nothing is in flight on the session: this only closes its idle connections */
  if (self->n_in_flight == 0 && self->session != NULL)
    soup_session_abort(self->session);
  return G_SOURCE_REMOVE;
}

static void call_send(GTask *task);

/* A call finished (its callback ran): waiting creations go out while fewer than
 * MAX_BUSY_BEFORE_CREATES calls are busy. */
static void
call_completed_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
  GTask *task = G_TASK(object);
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);

  g_signal_handlers_disconnect_by_func(task, call_completed_cb, NULL);
  g_assert(cd->counted && self->n_in_flight > 0);
  cd->counted = FALSE;
  self->n_in_flight--;
  if (cd->busy)
    self->n_busy--;
  while (self->n_busy < MAX_BUSY_BEFORE_CREATES && !g_queue_is_empty(&self->limited_waiting))
    {
      GTask *next = g_queue_pop_head(&self->limited_waiting);
      CallData *ncd = g_task_get_task_data(next);

      ncd->slot_wait = NULL;
      g_clear_signal_handler(&ncd->slot_cancel_handler, ncd->cancellable);
      if (g_cancellable_is_cancelled(ncd->cancellable))
        {
          g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
          g_task_return_error(next, call_error(self, ncd, cancelled));
          g_object_unref(next);
          continue;
        }
      /* its time limit starts now */
      ncd->timer = attach_timer(self, ncd->timeout_ms, call_timeout_cb, ncd);
      call_send(next);
    }
  if (self->n_in_flight == 0 && self->idle_close == NULL && self->session != NULL)
    {
      self->idle_close = g_timeout_source_new(IDLE_CLOSE_MS);
      g_source_set_callback(self->idle_close, idle_close_cb, self, NULL);
      g_source_set_name(self->idle_close, "ecsa-docker-idle-close");
      g_source_attach(self->idle_close, self->context);
    }
}

/* Creations cancelled while they wait leave the queue (on the client's context). */
static gboolean
slot_sweep_cb(gpointer user_data)
{
  EcsaDockerClient *self = user_data;
  GList *l = self->limited_waiting.head;

  while (l != NULL)
    {
      GList *next_link = l->next;
      GTask *task = l->data;
      CallData *cd = g_task_get_task_data(task);

      if (g_cancellable_is_cancelled(cd->cancellable))
        {
          g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");

          g_queue_delete_link(&self->limited_waiting, l);
          cd->slot_wait = NULL;
          g_clear_signal_handler(&cd->slot_cancel_handler, cd->cancellable);
          g_task_return_error(task, call_error(self, cd, cancelled));
          g_object_unref(task);
        }
      l = next_link;
    }
  return G_SOURCE_REMOVE;
}

/* may run in another thread: the queue is swept on the client's context */
static void
slot_wait_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
  EcsaDockerClient *self = user_data;
  g_autoptr(GSource) idle = g_idle_source_new();

  g_source_set_callback(idle, slot_sweep_cb, g_object_ref(self), g_object_unref);
  g_source_set_name(idle, "ecsa-docker-slot-sweep");
  g_source_attach(idle, self->context);
}

/* Counts the call in, or makes it wait for a slot (FALSE: it waits, the queue holds `task`; its
 * timer is stopped until it goes out). */
static gboolean
call_take_slot(EcsaDockerClient *self, CallData *cd, GTask *task)
{
  cd->limited = call_is_limited(cd);
  cd->busy = call_is_busy(cd);
  if (cd->limited && self->n_busy >= MAX_BUSY_BEFORE_CREATES)
    {
      if (cd->timer != NULL)
        {
          g_source_destroy(cd->timer);
          g_clear_pointer(&cd->timer, g_source_unref);
        }
      g_queue_push_tail(&self->limited_waiting, task);
      cd->slot_wait = g_queue_peek_tail_link(&self->limited_waiting);
      cd->slot_cancel_handler
        = g_signal_connect(cd->cancellable, "cancelled", G_CALLBACK(slot_wait_cancelled_cb), self);
      if (g_cancellable_is_cancelled(cd->cancellable))
        slot_wait_cancelled_cb(cd->cancellable, self);
      return FALSE;
    }
  cd->counted = TRUE;
  self->n_in_flight++;
  if (cd->busy)
    self->n_busy++;
  if (self->idle_close != NULL)
    {
      g_source_destroy(self->idle_close);
      g_clear_pointer(&self->idle_close, g_source_unref);
    }
  g_signal_connect(task, "notify::completed", G_CALLBACK(call_completed_cb), NULL);
  return TRUE;
}

static void
call_send(GTask *task)
{
  EcsaDockerClient *self = g_task_get_source_object(task);
  CallData *cd = g_task_get_task_data(task);
  g_autofree char *uri = NULL;

  if (!call_take_slot(self, cd, task))
    return;
  uri = call_uri(self, cd);

  cd->msg = soup_message_new(cd->method, uri);
  if (cd->msg == NULL)
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "docker %s: invalid request URI '%s'",
                              cd->what, uri);
      g_object_unref(task);
      return;
    }
  /* Keep-alive connections are reused for POSTs too, as Go's client did for v1.16.2: libsoup
   * otherwise opens a new connection for every non-idempotent request, and with hundreds of calls
   * queued its connection manager spends its time matching queued messages against connections
   * still being set up (most of the agent's CPU during a churn of short tasks). libsoup sends such
   * a request again only when a reused connection turns out closed before any answer came: dockerd
   * closed it while idle, before it could read the request. */
  soup_message_add_flags(cd->msg, SOUP_MESSAGE_IDEMPOTENT);
  if (cd->body != NULL)
    soup_message_set_request_body_from_bytes(cd->msg, "application/json", cd->body);
  else if (strcmp(cd->method, "POST") == 0)
    soup_message_headers_replace(soup_message_get_request_headers(cd->msg), "Content-Length", "0");
  if (cd->registry_auth != NULL)
    soup_message_headers_replace(soup_message_get_request_headers(cd->msg), "X-Registry-Auth", cd->registry_auth);

  if (cd->streamed)
    {
      cd->begin_timer = attach_timer(self, self->timeouts[ECSA_DOCKER_CALL_PULL_BEGIN], call_begin_timeout_cb, cd);
      soup_session_send_async(self->session, cd->msg, G_PRIORITY_DEFAULT, cd->cancellable, call_stream_ready_cb, task);
      return;
    }
  ecsa_log_debug("docker %s: %s %s", cd->what, cd->method, uri);
  soup_session_send_and_read_async(self->session, cd->msg, G_PRIORITY_DEFAULT, cd->cancellable, call_read_ready_cb,
                                   task);
}

/* --- version negotiation --- */

static void
negotiate_done(EcsaDockerClient *self, const GError *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer(&self->negotiate_waiters);

  self->negotiate_waiters = g_ptr_array_new();
  self->negotiating = FALSE;
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = waiters->pdata[i];
      CallData *cd = g_task_get_task_data(task);

      if (cd != NULL)
        cd->waiting = NULL;
      if (g_task_get_source_tag(task) == ecsa_docker_client_negotiate_async)
        {
          if (error != NULL)
            g_task_return_error(task, g_error_copy(error));
          else
            g_task_return_boolean(task, TRUE);
          continue;
        }
      if (error != NULL)
        {
          g_autoptr(GError) copy = g_error_copy(error);
          g_prefix_error(&copy, "docker %s: ", cd->what);
          g_task_return_error(task, g_steal_pointer(&copy));
        }
      else if (g_cancellable_is_cancelled(cd->cancellable))
        {
          g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
          g_task_return_error(task, call_error(self, cd, cancelled));
        }
      else
        call_send(g_steal_pointer(&task));
    }
}

/* The daemon's API (api), version and oldest API (min_api, NULL when not reported) are known:
 * pick the API version to speak. */
static void
negotiate_settle(EcsaDockerClient *self, const char *api, const char *version, const char *min_api, const char *how)
{
  if (!api_version_valid(api))
    {
      g_autoptr(GError) e = g_error_new(ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                                        "dockerd at '%s' reports no usable ApiVersion in %s", self->docker_host, how);
      negotiate_done(self, e);
      return;
    }
  if (ecsa_docker_api_version_compare(api, ECSA_DOCKER_API_VERSION_MIN) < 0)
    {
      g_autoptr(GError) e = g_error_new(ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                                        "dockerd at '%s' speaks Engine API %s; ecs-agent needs %s or newer",
                                        self->docker_host, api, ECSA_DOCKER_API_VERSION_MIN);
      negotiate_done(self, e);
      return;
    }
  g_free(self->api_version);
  self->api_version = g_strdup(
    ecsa_docker_api_version_compare(api, ECSA_DOCKER_API_VERSION_MAX) > 0 ? ECSA_DOCKER_API_VERSION_MAX : api);
  g_free(self->server_version);
  self->server_version = g_strdup(version);
  g_free(self->min_api_version);
  self->min_api_version = api_version_valid(min_api) ? g_strdup(min_api) : NULL;
  ecsa_log_info("Docker %s at '%s' (Engine API %s, minimum %s): using API %s", version, self->docker_host, api,
                self->min_api_version != NULL ? self->min_api_version : ECSA_DOCKER_API_VERSION_PROBED " or older",
                self->api_version);
  negotiate_done(self, NULL);
}

/* The answer to GET /version (the fallback): ApiVersion, Version and MinAPIVersion. */
static void
negotiate_version_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaDockerClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = g_task_propagate_pointer(G_TASK(result), &error);
  JsonObject *o;

  if (root == NULL)
    {
      negotiate_done(self, error);
      return;
    }
  o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  negotiate_settle(self, o != NULL ? json_object_get_string_member_with_default(o, "ApiVersion", NULL) : NULL,
                   o != NULL ? json_object_get_string_member_with_default(o, "Version", "") : "",
                   o != NULL ? json_object_get_string_member_with_default(o, "MinAPIVersion", NULL) : NULL,
                   "GET /version");
}

static void
negotiate_by_version(EcsaDockerClient *self)
{
  CallData *cd = call_data_new(self, ECSA_DOCKER_CALL_VERSION, RESULT_JSON, "GET", g_strdup("/version"),
                               g_strdup("get version"), NULL);

  cd->versioned = FALSE;
  call_start(self, cd, negotiate_version_ready_cb, g_object_ref(self), negotiate_start);
}

/* "Docker/20.10.24+dfsg1 (linux)" -> "20.10.24+dfsg1"; NULL for any other server. */
static char *
ping_server_version(const char *server)
{
  const char *v, *end;

  if (server == NULL || !g_str_has_prefix(server, "Docker/"))
    return NULL;
  v = server + strlen("Docker/");
  end = v + strcspn(v, " ");
  return end > v ? g_strndup(v, end - v) : NULL;
}

/* "client version 1.17 is too old. Minimum supported API version is 1.24, please ..." -> "1.24" */
static char *
ping_minimum(GBytes *body)
{
  static const char marker[] = "Minimum supported API version is ";
  g_autofree char *message = docker_error_message(body, 400);
  const char *at = strstr(message, marker);
  g_autofree char *version = NULL;

  if (at == NULL)
    return NULL;
  at += strlen(marker);
  version = g_strndup(at, strspn(at, "0123456789."));
  while (version[0] != '\0' && version[strlen(version) - 1] == '.')
    version[strlen(version) - 1] = '\0';
  return api_version_valid(version) ? g_steal_pointer(&version) : NULL;
}

/* The answer to GET /v<PROBED>/_ping. dockerd answers a ping without running anything (GET
 * /version runs runc and docker-init to print their versions: 50 to 80 ms), and its headers say
 * what the negotiation needs: Api-Version, and the daemon's version in Server. A version older
 * than the daemon's oldest is refused with 400 and a message that names that oldest one. Any other
 * answer (another server, an old daemon without the headers): GET /version instead. */
static void
negotiate_ping_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaDockerClient) self = user_data;
  CallData *cd = g_task_get_task_data(G_TASK(result));
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = g_task_propagate_pointer(G_TASK(result), &error);
  SoupMessageHeaders *headers;
  const char *api;
  g_autofree char *version = NULL;
  g_autofree char *minimum = NULL;

  if (body == NULL)
    {
      negotiate_done(self, error);
      return;
    }
  headers = soup_message_get_response_headers(cd->msg);
  api = soup_message_headers_get_one(headers, "Api-Version");
  version = ping_server_version(soup_message_headers_get_one(headers, "Server"));
  if (cd->status == 400)
    minimum = ping_minimum(body);
  if (!api_version_valid(api) || version == NULL || (cd->status != 200 && minimum == NULL))
    {
      ecsa_log_debug(
        "docker get version: ping answered HTTP %u without the answers the negotiation needs: asking GET /version",
        cd->status);
      negotiate_by_version(self);
      return;
    }
  negotiate_settle(self, api, version, minimum, "GET /_ping");
}

static void
negotiate_start(EcsaDockerClient *self)
{
  CallData *cd;

  if (self->negotiating)
    return;
  self->negotiating = TRUE;
  cd = call_data_new(self, ECSA_DOCKER_CALL_VERSION, RESULT_BYTES, "GET",
                     g_strdup("/v" ECSA_DOCKER_API_VERSION_PROBED "/_ping"), g_strdup("get version"), NULL);
  cd->versioned = FALSE;
  call_start(self, cd, negotiate_ping_ready_cb, g_object_ref(self), negotiate_start);
}

void
ecsa_docker_client_negotiate_async(EcsaDockerClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));

  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, ecsa_docker_client_negotiate_async);
  /* versioned calls made meanwhile wait for the new answer */
  g_clear_pointer(&self->api_version, g_free);
  g_ptr_array_add(self->negotiate_waiters, g_steal_pointer(&task));
  negotiate_start(self);
}

gboolean
ecsa_docker_client_negotiate_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* public calls */

static void
request_start(EcsaDockerClient *self, const char *method, const char *path, GBytes *body, gboolean versioned,
              guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
              gpointer source_tag)
{
  CallData *cd = call_data_new(self, ECSA_DOCKER_CALL_OTHER, RESULT_BYTES, method, g_strdup(path),
                               g_strdup_printf("%s %s", method, path), cancellable);

  if (body != NULL)
    cd->body = g_bytes_ref(body);
  cd->versioned = versioned;
  cd->timeout_override_ms = timeout_ms;
  call_start(self, cd, callback, user_data, source_tag);
}

void
ecsa_docker_client_request_async(EcsaDockerClient *self, const char *method, const char *path, GBytes *body,
                                 guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(method != NULL && path != NULL && path[0] == '/');
  request_start(self, method, path, body, TRUE, timeout_ms, cancellable, callback, user_data,
                ecsa_docker_client_request_async);
}

void
ecsa_docker_client_request_unversioned_async(EcsaDockerClient *self, const char *method, const char *path,
                                             guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                                             gpointer user_data)
{
  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(method != NULL && path != NULL && path[0] == '/');
  request_start(self, method, path, NULL, FALSE, timeout_ms, cancellable, callback, user_data,
                ecsa_docker_client_request_unversioned_async);
}

GBytes *
ecsa_docker_client_request_finish(EcsaDockerClient *self, GAsyncResult *result, guint *out_status, GError **error)
{
  CallData *cd;
  GBytes *body;

  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  cd = g_task_get_task_data(G_TASK(result));
  body = g_task_propagate_pointer(G_TASK(result), error);
  if (body != NULL && out_status != NULL)
    *out_status = cd->status;
  return body;
}

static JsonNode *
propagate_json(EcsaDockerClient *self, GAsyncResult *result, gpointer tag, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(result, tag), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

static gboolean
propagate_boolean(EcsaDockerClient *self, GAsyncResult *result, gpointer tag, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_return_val_if_fail(g_async_result_is_tagged(result, tag), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

static char *
escape(const char *s)
{
  return g_uri_escape_string(s, NULL, FALSE);
}

void
ecsa_docker_client_create_container_async(EcsaDockerClient *self, const char *name, JsonNode *body,
                                          const char *api_version, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *ename = NULL;
  g_autoptr(JsonGenerator) gen = json_generator_new();
  char *json;
  gsize len = 0;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(body != NULL);

  ename = name != NULL ? escape(name) : NULL;
  cd = call_data_new(self, ECSA_DOCKER_CALL_CREATE, RESULT_ID, "POST",
                     ename != NULL ? g_strdup_printf("/containers/create?name=%s", ename)
                                   : g_strdup("/containers/create"),
                     g_strdup_printf("create container '%s'", name != NULL ? name : ""), cancellable);
  json_generator_set_root(gen, body);
  json = json_generator_to_data(gen, &len);
  cd->body = g_bytes_new_take(json, len);
  if (api_version != NULL)
    {
      if (!api_version_valid(api_version))
        {
          g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
          g_task_set_source_tag(task, ecsa_docker_client_create_container_async);
          g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "docker %s: invalid API version '%s'",
                                  cd->what, api_version);
          call_data_free(cd);
          return;
        }
      cd->api_version = g_strdup(api_version);
    }
  call_start(self, cd, callback, user_data, ecsa_docker_client_create_container_async);
}

char *
ecsa_docker_client_create_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return (char *)propagate_json(self, result, ecsa_docker_client_create_container_async, error);
}

void
ecsa_docker_client_start_container_async(EcsaDockerClient *self, const char *id, const char *api_version,
                                         GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *eid = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(id != NULL);

  eid = escape(id);
  cd = call_data_new(self, ECSA_DOCKER_CALL_START, RESULT_NONE, "POST", g_strdup_printf("/containers/%s/start", eid),
                     g_strdup_printf("start container '%s'", id), cancellable);
  cd->ok_status_2 = SOUP_STATUS_NOT_MODIFIED;
  if (api_version != NULL && api_version_valid(api_version))
    cd->api_version = g_strdup(api_version);
  call_start(self, cd, callback, user_data, ecsa_docker_client_start_container_async);
}

gboolean
ecsa_docker_client_start_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_start_container_async, error);
}

void
ecsa_docker_client_stop_container_async(EcsaDockerClient *self, const char *id, guint stop_timeout_s,
                                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *eid = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(id != NULL);

  eid = escape(id);
  cd = call_data_new(self, ECSA_DOCKER_CALL_STOP, RESULT_NONE, "POST",
                     g_strdup_printf("/containers/%s/stop?t=%u", eid, stop_timeout_s),
                     g_strdup_printf("stop container '%s'", id), cancellable);
  cd->ok_status_2 = SOUP_STATUS_NOT_MODIFIED;
  cd->extra_timeout_ms = stop_timeout_s * 1000;
  call_start(self, cd, callback, user_data, ecsa_docker_client_stop_container_async);
}

gboolean
ecsa_docker_client_stop_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_stop_container_async, error);
}

void
ecsa_docker_client_inspect_container_async(EcsaDockerClient *self, const char *id_or_name, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *eid = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(id_or_name != NULL);

  eid = escape(id_or_name);
  cd = call_data_new(self, ECSA_DOCKER_CALL_INSPECT, RESULT_JSON, "GET", g_strdup_printf("/containers/%s/json", eid),
                     g_strdup_printf("inspect container '%s'", id_or_name), cancellable);
  call_start(self, cd, callback, user_data, ecsa_docker_client_inspect_container_async);
}

JsonNode *
ecsa_docker_client_inspect_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_json(self, result, ecsa_docker_client_inspect_container_async, error);
}

void
ecsa_docker_client_remove_container_async(EcsaDockerClient *self, const char *id, gboolean remove_volumes,
                                          gboolean force, GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  g_autofree char *eid = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(id != NULL);

  eid = escape(id);
  cd = call_data_new(self, ECSA_DOCKER_CALL_REMOVE, RESULT_NONE, "DELETE",
                     g_strdup_printf("/containers/%s?v=%d&force=%d", eid, remove_volumes ? 1 : 0, force ? 1 : 0),
                     g_strdup_printf("remove container '%s'", id), cancellable);
  call_start(self, cd, callback, user_data, ecsa_docker_client_remove_container_async);
}

gboolean
ecsa_docker_client_remove_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_remove_container_async, error);
}

void
ecsa_docker_client_list_containers_async(EcsaDockerClient *self, const char *label_filter, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  char *path;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));

  if (label_filter != NULL)
    {
      g_autoptr(JsonBuilder) b = json_builder_new();
      g_autoptr(JsonGenerator) gen = json_generator_new();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *filters = NULL;
      g_autofree char *efilters = NULL;

      json_builder_begin_object(b);
      json_builder_set_member_name(b, "label");
      json_builder_begin_array(b);
      json_builder_add_string_value(b, label_filter);
      json_builder_end_array(b);
      json_builder_end_object(b);
      root = json_builder_get_root(b);
      json_generator_set_root(gen, root);
      filters = json_generator_to_data(gen, NULL);
      efilters = escape(filters);
      path = g_strdup_printf("/containers/json?all=1&filters=%s", efilters);
    }
  else
    path = g_strdup("/containers/json?all=1");
  cd = call_data_new(self, ECSA_DOCKER_CALL_LIST, RESULT_JSON, "GET", path, g_strdup("list containers"), cancellable);
  call_start(self, cd, callback, user_data, ecsa_docker_client_list_containers_async);
}

JsonNode *
ecsa_docker_client_list_containers_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  g_autoptr(JsonNode) node = propagate_json(self, result, ecsa_docker_client_list_containers_async, error);

  if (node != NULL && !JSON_NODE_HOLDS_ARRAY(node))
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "docker list containers: answer is not an array");
      return NULL;
    }
  return g_steal_pointer(&node);
}

void
ecsa_docker_client_pull_image_async(EcsaDockerClient *self, const char *image, const char *registry_auth,
                                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *ref = NULL;
  g_autofree char *eref = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(image != NULL);

  ref = ecsa_docker_image_reference_with_tag(image);
  eref = escape(ref);
  cd = call_data_new(self, ECSA_DOCKER_CALL_PULL, RESULT_NONE, "POST",
                     g_strdup_printf("/images/create?fromImage=%s", eref), g_strdup_printf("pull image '%s'", image),
                     cancellable);
  cd->streamed = TRUE;
  cd->image = g_strdup(image);
  cd->registry_auth = g_strdup(registry_auth);
  ecsa_log_debug("pulling image '%s' (%s)", image, ref);
  call_start(self, cd, callback, user_data, ecsa_docker_client_pull_image_async);
}

gboolean
ecsa_docker_client_pull_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_pull_image_async, error);
}

/* The one call of identical inspections: each waiter gets the answer (or the error). */
static void
image_inspected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaDockerClient *self = ECSA_DOCKER_CLIENT(source);
  g_autofree char *key = user_data;
  g_autofree char *stolen_key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(result), &error);
  g_autoptr(GPtrArray) waiters = NULL;

  if (!g_hash_table_steal_extended(self->image_inspects, key, (gpointer *)&stolen_key, (gpointer *)&waiters))
    g_return_if_reached();
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = g_ptr_array_index(waiters, i);

      if (node != NULL)
        g_task_return_pointer(task, json_node_ref(node), (GDestroyNotify)json_node_unref);
      else
        g_task_return_error(task, g_error_copy(error));
    }
}

void
ecsa_docker_client_inspect_image_async(EcsaDockerClient *self, const char *image, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *eimage = NULL;
  g_autofree char *key = NULL;
  GTask *task;
  GPtrArray *waiters;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(image != NULL);

  /* N tasks of one image ask at once: they share one call (dockerd is the bottleneck of a launch) */
  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, ecsa_docker_client_inspect_image_async);
  key = g_strdup_printf("%s\n%p", image, (void *)cancellable);
  waiters = g_hash_table_lookup(self->image_inspects, key);
  if (waiters != NULL)
    {
      g_ptr_array_add(waiters, task);
      return;
    }
  waiters = g_ptr_array_new();
  g_ptr_array_add(waiters, task);
  g_hash_table_insert(self->image_inspects, g_strdup(key), waiters);
  /* the reference keeps its '/' and ':' (Docker routes /images/{name}/json on the full path) */
  eimage = g_uri_escape_string(image, "/:@", FALSE);
  cd = call_data_new(self, ECSA_DOCKER_CALL_INSPECT_IMAGE, RESULT_JSON, "GET",
                     g_strdup_printf("/images/%s/json", eimage), g_strdup_printf("inspect image '%s'", image),
                     cancellable);
  call_start(self, cd, image_inspected_cb, g_steal_pointer(&key), image_inspected_cb);
}

JsonNode *
ecsa_docker_client_inspect_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_json(self, result, ecsa_docker_client_inspect_image_async, error);
}

void
ecsa_docker_client_remove_image_async(EcsaDockerClient *self, const char *image, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *eimage = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(image != NULL);

  eimage = g_uri_escape_string(image, "/:@", FALSE);
  cd = call_data_new(self, ECSA_DOCKER_CALL_REMOVE_IMAGE, RESULT_NONE, "DELETE", g_strdup_printf("/images/%s", eimage),
                     g_strdup_printf("remove image '%s'", image), cancellable);
  call_start(self, cd, callback, user_data, ecsa_docker_client_remove_image_async);
}

gboolean
ecsa_docker_client_remove_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_remove_image_async, error);
}

void
ecsa_docker_client_create_volume_async(EcsaDockerClient *self, const char *name, GHashTable *labels,
                                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  char *json;
  gsize len = 0;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(name != NULL);

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "Name");
  json_builder_add_string_value(b, name);
  json_builder_set_member_name(b, "Driver");
  json_builder_add_string_value(b, "local");
  json_builder_set_member_name(b, "Labels");
  json_builder_begin_object(b);
  if (labels != NULL)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, labels);
      while (g_hash_table_iter_next(&it, &k, &v))
        {
          json_builder_set_member_name(b, k);
          json_builder_add_string_value(b, v);
        }
    }
  json_builder_end_object(b);
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json = json_generator_to_data(gen, &len);
  cd = call_data_new(self, ECSA_DOCKER_CALL_VOLUME, RESULT_NONE, "POST", g_strdup("/volumes/create"),
                     g_strdup_printf("create volume '%s'", name), cancellable);
  cd->body = g_bytes_new_take(json, len);
  call_start(self, cd, callback, user_data, ecsa_docker_client_create_volume_async);
}

gboolean
ecsa_docker_client_create_volume_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_create_volume_async, error);
}

void
ecsa_docker_client_remove_volume_async(EcsaDockerClient *self, const char *name, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *ename = NULL;
  CallData *cd;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(name != NULL);

  ename = escape(name);
  cd = call_data_new(self, ECSA_DOCKER_CALL_VOLUME, RESULT_NONE, "DELETE", g_strdup_printf("/volumes/%s", ename),
                     g_strdup_printf("remove volume '%s'", name), cancellable);
  call_start(self, cd, callback, user_data, ecsa_docker_client_remove_volume_async);
}

gboolean
ecsa_docker_client_remove_volume_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error)
{
  return propagate_boolean(self, result, ecsa_docker_client_remove_volume_async, error);
}

/* ------------------------------------------------------------------------------------------- */
/* event stream */

static void events_connect(EcsaDockerClient *self, gboolean reconnect);

static gboolean
events_retry_cb(gpointer user_data)
{
  EcsaDockerClient *self = user_data;

  g_clear_pointer(&self->events_retry, g_source_unref);
  events_connect(self, TRUE);
  return G_SOURCE_REMOVE;
}

static void
events_schedule_reconnect(EcsaDockerClient *self, const char *why)
{
  gboolean was_connected = self->events_connected;

  self->events_connected = FALSE;
  g_clear_object(&self->events_stream);
  if (!self->watching || self->events_retry != NULL)
    return;
  if (was_connected)
    ecsa_log_warn("Docker event stream from '%s' lost: %s; reconnecting", self->docker_host, why);
  else
    ecsa_log_debug("Docker event stream from '%s' not available: %s; retrying in %u ms", self->docker_host, why,
                   self->events_backoff_ms);
  self->events_retry = g_timeout_source_new(self->events_backoff_ms);
  g_source_set_callback(self->events_retry, events_retry_cb, self, NULL);
  g_source_set_name(self->events_retry, "ecsa-docker-events-retry");
  g_source_attach(self->events_retry, self->context);
  self->events_backoff_ms = MIN(self->events_backoff_ms * 2, EVENTS_BACKOFF_MAX_MS);
}

static void events_read_line(EcsaDockerClient *self);

static guint64
fnv1a(guint64 h, const char *text)
{
  for (const guchar *c = (const guchar *)text; *c != '\0'; c++)
    h = (h ^ *c) * G_GUINT64_CONSTANT(0x100000001b3);
  return (h ^ 0xff) * G_GUINT64_CONSTANT(0x100000001b3); /* ends the field: ("ab", "c") != ("a", "bc") */
}

/* Remember this event; FALSE when it was seen already (a replay after a reconnect). */
static gboolean
event_first_seen(EcsaDockerClient *self, gint64 nano, const char *id, const char *action)
{
  guint64 hash = fnv1a(fnv1a(G_GUINT64_CONSTANT(0xcbf29ce484222325), id), action);

  for (guint i = 0; i < EVENTS_SEEN_MAX; i++)
    if (self->events_seen[i].nano == nano && self->events_seen[i].hash == hash)
      return FALSE;
  self->events_seen[self->events_seen_next] = (SeenEvent){ .nano = nano, .hash = hash };
  self->events_seen_next = (self->events_seen_next + 1) % EVENTS_SEEN_MAX;
  return TRUE;
}

static void
events_handle_line(EcsaDockerClient *self, const char *line, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o, *actor, *attributes = NULL;
  const char *type, *action, *id;
  gint64 nano;

  if (len == 0)
    return;
  if (!json_parser_load_from_data(parser, line, len, NULL) || json_parser_get_root(parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
    {
      ecsa_log_debug("Docker event stream: unreadable line, ignoring");
      return;
    }
  o = json_node_get_object(json_parser_get_root(parser));
  type = json_object_get_string_member_with_default(o, "Type", "container");
  if (strcmp(type, "container") != 0)
    return;
  action = json_object_get_string_member_with_default(o, "Action", NULL);
  if (action == NULL)
    action = json_object_get_string_member_with_default(o, "status", NULL);
  actor = json_object_has_member(o, "Actor") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "Actor"))
            ? json_object_get_object_member(o, "Actor")
            : NULL;
  id = actor != NULL ? json_object_get_string_member_with_default(actor, "ID", NULL) : NULL;
  if (id == NULL)
    id = json_object_get_string_member_with_default(o, "id", NULL);
  if (actor != NULL && json_object_has_member(actor, "Attributes")
      && JSON_NODE_HOLDS_OBJECT(json_object_get_member(actor, "Attributes")))
    attributes = json_object_get_object_member(actor, "Attributes");
  nano = json_object_get_int_member_with_default(o, "timeNano", 0);
  if (action == NULL || id == NULL)
    return;
  /* dockerd stamps an event before it takes the lock that orders its stream, so the events of two
   * containers can arrive out of timestamp order: an event is dropped only when this very event
   * (time, container, action) was seen already, as after a reconnect (since = the newest seen). An
   * event published late across a reconnect is covered by the inspection of every live container
   * that follows a reconnect. */
  if (nano != 0)
    {
      if (!event_first_seen(self, nano, id, action))
        return;
      self->events_last_nano = MAX(self->events_last_nano, nano);
    }
  /* "exec_start: sh -c ..." and the like carry a suffix; keep the verb */
  {
    g_autofree char *verb = g_strdup(action);
    char *colon = strchr(verb, ':');
    if (colon != NULL)
      *colon = '\0';
    g_autoptr(JsonObject) attrs = attributes != NULL ? json_object_ref(attributes) : json_object_new();
    g_signal_emit(self, signals[SIGNAL_CONTAINER_EVENT], 0, id, verb, attrs, nano);
  }
}

static void
events_line_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaDockerClient) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, &len, &error);

  if (G_DATA_INPUT_STREAM(source) != self->events_stream)
    return; /* a stream we already gave up */
  if (line == NULL)
    {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !self->watching)
        return;
      events_schedule_reconnect(self, error != NULL ? error->message : "dockerd closed the stream");
      return;
    }
  events_handle_line(self, line, len);
  if (self->watching && G_DATA_INPUT_STREAM(source) == self->events_stream)
    events_read_line(self);
}

static void
events_read_line(EcsaDockerClient *self)
{
  g_data_input_stream_read_line_async(self->events_stream, G_PRIORITY_DEFAULT, self->events_cancellable,
                                      events_line_ready_cb, g_object_ref(self));
}

static void
events_send_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaDockerClient) self = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
  g_autoptr(GInputStream) stream = soup_session_send_finish(SOUP_SESSION(source), result, &error);
  gboolean reconnected;

  if (!self->watching)
    return;
  if (stream == NULL)
    {
      events_schedule_reconnect(self, error->message);
      return;
    }
  if (soup_message_get_status(msg) != SOUP_STATUS_OK)
    {
      g_autofree char *why = g_strdup_printf("GET /events answered HTTP %u", soup_message_get_status(msg));
      events_schedule_reconnect(self, why);
      return;
    }
  reconnected = self->events_ever_connected;
  self->events_ever_connected = TRUE;
  self->events_connected = TRUE;
  self->events_backoff_ms = EVENTS_BACKOFF_MIN_MS;
  self->events_stream = g_data_input_stream_new(stream);
  g_data_input_stream_set_newline_type(self->events_stream, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  if (reconnected)
    ecsa_log_info("Docker event stream from '%s' re-established", self->docker_host);
  else
    ecsa_log_debug("Docker event stream from '%s' established", self->docker_host);
  events_read_line(self);
  g_signal_emit(self, signals[SIGNAL_EVENTS_CONNECTED], 0, reconnected);
}

static void
events_open(EcsaDockerClient *self)
{
  g_autoptr(GString) path = g_string_new(NULL);
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *uri = NULL;

  g_string_append_printf(path, "%s/v%s/events?filters=%s", self->base_uri, self->api_version, self->events_filter);
  if (self->events_last_nano > 0)
    g_string_append_printf(path, "&since=%" G_GINT64_FORMAT ".%09" G_GINT64_FORMAT,
                           self->events_last_nano / G_GINT64_CONSTANT(1000000000),
                           self->events_last_nano % G_GINT64_CONSTANT(1000000000));
  uri = g_string_free(g_steal_pointer(&path), FALSE);
  msg = soup_message_new("GET", uri);
  soup_session_send_async(self->stream_session, msg, G_PRIORITY_DEFAULT, self->events_cancellable, events_send_ready_cb,
                          g_object_ref(self));
}

static void
events_negotiated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaDockerClient) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_docker_client_negotiate_finish(self, result, &error))
    {
      if (self->watching)
        events_schedule_reconnect(self, error->message);
      return;
    }
  if (self->watching)
    events_open(self);
}

static void
events_connect(EcsaDockerClient *self, gboolean reconnect)
{
  if (!self->watching)
    return;
  /* the first stream uses the version just negotiated; each reconnect negotiates again: dockerd
   * may have been upgraded while it was away */
  if (!reconnect && self->api_version != NULL)
    events_open(self);
  else
    ecsa_docker_client_negotiate_async(self, self->events_cancellable, events_negotiated_cb, g_object_ref(self));
}

void
ecsa_docker_client_watch_events(EcsaDockerClient *self, const char *label_filter)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *filters = NULL;

  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));

  if (self->watching)
    return;
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_begin_array(b);
  json_builder_add_string_value(b, "container");
  json_builder_end_array(b);
  if (label_filter != NULL)
    {
      json_builder_set_member_name(b, "label");
      json_builder_begin_array(b);
      json_builder_add_string_value(b, label_filter);
      json_builder_end_array(b);
    }
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  filters = json_to_string(root, FALSE);
  g_free(self->events_filter);
  self->events_filter = g_uri_escape_string(filters, NULL, FALSE);
  self->watching = TRUE;
  self->events_backoff_ms = EVENTS_BACKOFF_MIN_MS;
  g_clear_object(&self->events_cancellable);
  self->events_cancellable = g_cancellable_new();
  events_connect(self, FALSE);
}

void
ecsa_docker_client_unwatch_events(EcsaDockerClient *self)
{
  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));

  self->watching = FALSE;
  self->events_connected = FALSE;
  if (self->events_cancellable != NULL)
    g_cancellable_cancel(self->events_cancellable);
  g_clear_object(&self->events_stream);
  if (self->events_retry != NULL)
    {
      g_source_destroy(self->events_retry);
      g_clear_pointer(&self->events_retry, g_source_unref);
    }
}

gboolean
ecsa_docker_client_events_connected(EcsaDockerClient *self)
{
  g_return_val_if_fail(ECSA_IS_DOCKER_CLIENT(self), FALSE);
  return self->events_connected;
}

/* ------------------------------------------------------------------------------------------- */
/* object */

void
ecsa_docker_client_set_timeout(EcsaDockerClient *self, EcsaDockerCall call, guint timeout_ms)
{
  g_return_if_fail(ECSA_IS_DOCKER_CLIENT(self));
  g_return_if_fail(call < ECSA_DOCKER_CALL_LAST_);
  self->timeouts[call] = timeout_ms != 0 ? timeout_ms : default_timeouts[call];
}

guint
ecsa_docker_client_get_timeout(EcsaDockerClient *self, EcsaDockerCall call)
{
  g_return_val_if_fail(call < ECSA_DOCKER_CALL_LAST_, 0);
  if (self == NULL)
    return default_timeouts[call];
  return self->timeouts[call];
}

const char *
ecsa_docker_client_get_api_version(EcsaDockerClient *self)
{
  g_return_val_if_fail(ECSA_IS_DOCKER_CLIENT(self), NULL);
  return self->api_version;
}

const char *
ecsa_docker_client_get_server_version(EcsaDockerClient *self)
{
  g_return_val_if_fail(ECSA_IS_DOCKER_CLIENT(self), NULL);
  return self->server_version;
}

const char *
ecsa_docker_client_get_min_api_version(EcsaDockerClient *self)
{
  g_return_val_if_fail(ECSA_IS_DOCKER_CLIENT(self), NULL);
  return self->min_api_version;
}

static void
ecsa_docker_client_dispose(GObject *object)
{
  EcsaDockerClient *self = ECSA_DOCKER_CLIENT(object);

  ecsa_docker_client_unwatch_events(self);
  if (self->idle_close != NULL)
    {
      g_source_destroy(self->idle_close);
      g_clear_pointer(&self->idle_close, g_source_unref);
    }
  if (self->session != NULL)
    soup_session_abort(self->session);
  if (self->stream_session != NULL)
    soup_session_abort(self->stream_session);
  g_clear_object(&self->session);
  g_clear_object(&self->stream_session);
  g_clear_object(&self->events_cancellable);
  G_OBJECT_CLASS(ecsa_docker_client_parent_class)->dispose(object);
}

static void
ecsa_docker_client_finalize(GObject *object)
{
  EcsaDockerClient *self = ECSA_DOCKER_CLIENT(object);

  g_free(self->docker_host);
  g_free(self->base_uri);
  g_free(self->events_filter);
  g_free(self->api_version);
  g_free(self->server_version);
  g_free(self->min_api_version);
  g_clear_pointer(&self->negotiate_waiters, g_ptr_array_unref);
  g_clear_pointer(&self->image_inspects, g_hash_table_unref);
  g_clear_pointer(&self->context, g_main_context_unref);
  G_OBJECT_CLASS(ecsa_docker_client_parent_class)->finalize(object);
}

static void
ecsa_docker_client_class_init(EcsaDockerClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = ecsa_docker_client_dispose;
  object_class->finalize = ecsa_docker_client_finalize;

  signals[SIGNAL_CONTAINER_EVENT]
    = g_signal_new("container-event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                   G_TYPE_STRING, G_TYPE_STRING, JSON_TYPE_OBJECT, G_TYPE_INT64);
  signals[SIGNAL_EVENTS_CONNECTED] = g_signal_new("events-connected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
ecsa_docker_client_init(EcsaDockerClient *self)
{
  memcpy(self->timeouts, default_timeouts, sizeof(self->timeouts));
  self->negotiate_waiters = g_ptr_array_new();
  self->image_inspects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->context = g_main_context_ref_thread_default();
}

static SoupSession *
make_session(GSocketConnectable *connectable, guint max_conns)
{
  /* timeout = 0: libsoup's 60 s I/O timeout would break long calls (stop with a long stop
   * timeout, pulls, the event stream); every call has its own timer instead. */
  if (connectable != NULL)
    return soup_session_new_with_options("remote-connectable", connectable, "proxy-resolver", NULL, "timeout", 0,
                                         "idle-timeout", 0, "max-conns", max_conns, "max-conns-per-host", max_conns,
                                         "user-agent", "ecs-agent", NULL);
  /* Docker is never reached through a proxy (v1.16.2 put its host in NO_PROXY) */
  return soup_session_new_with_options("proxy-resolver", NULL, "timeout", 0, "idle-timeout", 0, "max-conns", max_conns,
                                       "max-conns-per-host", max_conns, "user-agent", "ecs-agent", NULL);
}

EcsaDockerClient *
ecsa_docker_client_new(const char *docker_host, GError **error)
{
  g_autoptr(EcsaDockerClient) self = NULL;
  g_autoptr(GSocketConnectable) connectable = NULL;
  const char *host = docker_host != NULL && *docker_host != '\0' ? docker_host : DEFAULT_DOCKER_HOST;

  self = g_object_new(ECSA_TYPE_DOCKER_CLIENT, NULL);
  self->docker_host = g_strdup(host);
  if (g_str_has_prefix(host, "unix://"))
    {
      const char *path = host + strlen("unix://");
      if (*path != '/')
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "DOCKER_HOST '%s': a unix socket needs an absolute path", host);
          return NULL;
        }
      connectable = G_SOCKET_CONNECTABLE(g_unix_socket_address_new(path));
      self->base_uri = g_strdup("http://docker");
    }
  else if (g_str_has_prefix(host, "tcp://"))
    {
      g_autofree char *hostport = g_strdup(host + strlen("tcp://"));
      g_autoptr(GError) local = NULL;
      char *slash = strchr(hostport, '/');
      if (slash != NULL)
        *slash = '\0';
      connectable = g_network_address_parse(hostport, 2375, &local);
      if (connectable == NULL || *hostport == '\0')
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "DOCKER_HOST '%s': %s", host,
                      local != NULL ? local->message : "no host");
          return NULL;
        }
      self->base_uri = g_strdup("http://docker");
    }
  else
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "DOCKER_HOST '%s': unsupported scheme (expected unix:// or tcp://)", host);
      return NULL;
    }
  self->session = make_session(connectable, MAX_CONNECTIONS);
  self->stream_session = make_session(connectable, 2);
  return g_steal_pointer(&self);
}
