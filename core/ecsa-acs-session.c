/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-acs-session.h"

#include <string.h>

#define UPDATES_DISABLED_REASON "Updates are disabled"

struct _EcsaAcsSession
{
  EcsaWsSession parent_instance;

  EcsaAcsSessionHooks hooks;
  EcsaStateReporter *reporter;
  gboolean send_credentials; /* TRUE until a connection succeeded */
  guint payloads_in_flight;
  GQueue waiting; /* WaitingPayload*: received while ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT were being recorded */
  GCancellable *cancellable;
};

typedef struct
{
  JsonObject *message;
  guint64 connection_id; /* the connection it came on: its ack goes there or nowhere */
} WaitingPayload;

static void
waiting_payload_free (WaitingPayload *w)
{
  json_object_unref (w->message);
  g_free (w);
}

G_DEFINE_TYPE (EcsaAcsSession, ecsa_acs_session, ECSA_TYPE_WS_SESSION)

enum
{
  SIGNAL_INACTIVE_INSTANCE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static const char *
member_string (JsonObject *o, const char *name)
{
  JsonNode *node = o != NULL ? json_object_get_member (o, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonObject *
member_object (JsonObject *o, const char *name)
{
  JsonNode *node = o != NULL ? json_object_get_member (o, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gboolean
send_message (EcsaAcsSession *self, guint64 connection_id, const char *type, JsonObject *message)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), message);
  g_autoptr(GError) error = NULL;

  if (!ecsa_ws_session_send (ECSA_WS_SESSION (self), connection_id, type, node, &error))
    {
      g_warning ("ACS: unable to send %s: %s", type, error->message);
      return FALSE;
    }
  return TRUE;
}

char *
ecsa_acs_session_build_url (EcsaAcsSession *self, const char *endpoint)
{
  EcsaEcsClient *client = ecsa_ws_session_get_ecs_client (ECSA_WS_SESSION (self));
  const char *docker_version = ecsa_ecs_client_get_docker_version (client);
  g_autofree char *docker = docker_version != NULL ? g_strconcat ("DockerVersion: ", docker_version, NULL) : NULL;
  const char *arn = ecsa_ecs_client_get_container_instance_arn (client);
  const char *pairs[] = {
    "clusterArn", ecsa_ecs_client_get_cluster (client),
    "containerInstanceArn", arn != NULL ? arn : "",
    "agentHash", ecsa_ecs_client_agent_hash (),
    "agentVersion", ECSA_COMPAT_VERSION,
    "seqNum", "1",
    "sendCredentials", self->send_credentials ? "true" : "false",
    docker != NULL ? "dockerVersion" : NULL, docker,
    NULL,
  };
  g_autofree char *query = ecsa_ws_query_encode (pairs);

  return g_strconcat (endpoint, g_str_has_suffix (endpoint, "/") ? "" : "/", "ws?", query, NULL);
}

/* ------------------------------------------------------------------------------------------- */

static gboolean
is_one_of (const char *name, const char *const *names)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (strcmp (name, names[i]) == 0)
      return TRUE;
  return FALSE;
}

/* A new object with the members of `object` but `skip` (values shared: they are not edited). */
static JsonObject *
object_without (JsonObject *object, const char *const *skip)
{
  JsonObject *copy = json_object_new ();
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    if (!is_one_of (l->data, skip))
      json_object_set_member (copy, l->data, json_node_copy (json_object_get_member (object, l->data)));
  return copy;
}

JsonObject *
ecsa_acs_task_without_secrets (JsonObject *task)
{
  static const char *const creds_members[] = { "roleCredentials", "executionRoleCredentials", NULL };
  static const char *const secret_members[] = { "accessKeyId", "secretAccessKey", "sessionToken", NULL };
  JsonObject *clean = object_without (task, creds_members);

  for (guint i = 0; creds_members[i] != NULL; i++)
    {
      JsonObject *creds = member_object (task, creds_members[i]);
      if (creds != NULL)
        json_object_set_object_member (clean, creds_members[i], object_without (creds, secret_members));
    }
  return clean;
}

typedef struct
{
  EcsaAcsSession *self;
  char *message_id;
  guint64 connection_id;
  GPtrArray *credential_acks; /* JsonObject*: IAMRoleCredentialsAckRequest messages */
  GPtrArray *credential_tasks; /* char*: tasks whose credentials were handed over */
  gboolean all_ok;
} PayloadData;

static void start_payload (EcsaAcsSession *self, JsonObject *message, guint64 connection_id);

/* Start the waiting payloads, oldest first, while fewer than the maximum are being recorded. */
static void
start_waiting (EcsaAcsSession *self)
{
  while (self->payloads_in_flight < ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT && !g_queue_is_empty (&self->waiting)
         && !g_cancellable_is_cancelled (self->cancellable))
    {
      WaitingPayload *w = g_queue_pop_head (&self->waiting);

      start_payload (self, w->message, w->connection_id);
      waiting_payload_free (w);
    }
}

static void
payload_data_free (PayloadData *data)
{
  data->self->payloads_in_flight--;
  start_waiting (data->self);
  g_object_unref (data->self);
  g_free (data->message_id);
  g_ptr_array_unref (data->credential_acks);
  g_ptr_array_unref (data->credential_tasks);
  g_free (data);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PayloadData, payload_data_free)

static void
report_refused_task (EcsaAcsSession *self, const char *arn, const char *why)
{
  g_autofree char *reason = g_strconcat (ECSA_STATE_REPORTER_UNRECOGNIZED_TASK_PREFIX, why, NULL);

  g_warning ("ACS: task '%s' refused: %s", arn, why);
  if (self->reporter != NULL)
    ecsa_state_reporter_report_task_stopped (self->reporter, arn, reason);
}

/* "task '<arn>': reason" */
static gboolean
parse_rejection (const char *text, char **out_arn, const char **out_reason)
{
  const char *end;

  if (!g_str_has_prefix (text, "task '") || (end = strstr (text + 6, "': ")) == NULL)
    return FALSE;
  *out_arn = g_strndup (text + 6, (gsize) (end - (text + 6)));
  *out_reason = end + 3;
  return TRUE;
}

static void
payload_applied_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PayloadData) data = user_data;
  EcsaAcsSession *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(JsonObject) ack = NULL;
  EcsaEcsClient *client;

  if (!self->hooks.apply_payload_finish (self->hooks.engine, result, &rejected, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_critical ("ACS: error saving state for payload message '%s': %s; not acking it", data->message_id,
                    error->message);
      return;
    }
  for (guint i = 0; rejected != NULL && i < rejected->len; i++)
    {
      const char *text = g_ptr_array_index (rejected, i);
      g_autofree char *arn = NULL;
      const char *reason;

      data->all_ok = FALSE;
      if (!parse_rejection (text, &arn, &reason))
        {
          g_warning ("ACS: payload '%s': %s", data->message_id, text);
          continue;
        }
      report_refused_task (self, arn, reason);
      if (self->hooks.remove_credentials != NULL && self->hooks.has_task != NULL
          && !self->hooks.has_task (self->hooks.engine, arn)
          && g_ptr_array_find_with_equal_func (data->credential_tasks, arn, g_str_equal, NULL))
        self->hooks.remove_credentials (self->hooks.credentials, arn);
    }
  if (!data->all_ok)
    {
      /* v1.16.2: no ack unless every task was accepted */
      g_warning ("ACS: payload message '%s' not acked: not every task in it could be used", data->message_id);
      return;
    }
  for (guint i = 0; i < data->credential_acks->len; i++)
    send_message (self, data->connection_id, "IAMRoleCredentialsAckRequest",
                  g_ptr_array_index (data->credential_acks, i));
  client = ecsa_ws_session_get_ecs_client (ECSA_WS_SESSION (self));
  ack = json_object_new ();
  json_object_set_string_member (ack, "cluster", ecsa_ecs_client_get_cluster (client));
  json_object_set_string_member (ack, "containerInstance",
                                 ecsa_ecs_client_get_container_instance_arn (client) != NULL
                                   ? ecsa_ecs_client_get_container_instance_arn (client)
                                   : "");
  json_object_set_string_member (ack, "messageId", data->message_id);
  if (send_message (self, data->connection_id, "AckRequest", ack))
    g_debug ("ACS: acked payload message '%s'", data->message_id);
}

static JsonObject *
credentials_ack (const char *message_id, JsonObject *creds)
{
  JsonObject *ack = json_object_new ();
  JsonNode *expiration = json_object_get_member (creds, "expiration");

  json_object_set_string_member (ack, "messageId", message_id);
  if (expiration != NULL)
    json_object_set_member (ack, "expiration", json_node_copy (expiration));
  json_object_set_string_member (ack, "credentialsId", member_string (creds, "credentialsId"));
  return ack;
}

static void
start_payload (EcsaAcsSession *self, JsonObject *message, guint64 connection_id)
{
  const char *message_id = member_string (message, "messageId");
  JsonNode *tasks_node = json_object_get_member (message, "tasks");
  JsonNode *seq_node = json_object_get_member (message, "seqNum");
  g_autoptr(JsonArray) tasks = json_array_new ();
  PayloadData *data;
  gint64 seq_num = 0;

  if (message_id == NULL || *message_id == '\0')
    {
      g_critical ("ACS: received a payload with no message id, ignoring");
      return;
    }
  if (tasks_node != NULL && !JSON_NODE_HOLDS_ARRAY (tasks_node) && !JSON_NODE_HOLDS_NULL (tasks_node))
    {
      g_critical ("ACS: payload '%s': 'tasks' is not a list, ignoring the payload", message_id);
      return;
    }
  if (seq_node != NULL && JSON_NODE_HOLDS_VALUE (seq_node) && json_node_get_value_type (seq_node) == G_TYPE_INT64)
    seq_num = json_node_get_int (seq_node);
  if (self->hooks.apply_payload_async == NULL)
    {
      g_critical ("ACS: no task engine to record payload '%s'", message_id);
      return;
    }

  data = g_new0 (PayloadData, 1);
  data->self = g_object_ref (self);
  data->message_id = g_strdup (message_id);
  data->connection_id = connection_id;
  data->credential_acks = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  data->credential_tasks = g_ptr_array_new_with_free_func (g_free);
  data->all_ok = TRUE;
  self->payloads_in_flight++;
  g_debug ("ACS: received payload message '%s'", message_id);

  for (guint i = 0; tasks_node != NULL && JSON_NODE_HOLDS_ARRAY (tasks_node)
                    && i < json_array_get_length (json_node_get_array (tasks_node));
       i++)
    {
      JsonNode *task_node = json_array_get_element (json_node_get_array (tasks_node), i);
      static const struct
      {
        const char *member;
        const char *role_type;
      } roles[] = { { "roleCredentials", ECSA_ACS_ROLE_TYPE_APPLICATION },
                    { "executionRoleCredentials", ECSA_ACS_ROLE_TYPE_EXECUTION } };
      JsonObject *task;
      const char *arn;
      gboolean ok = TRUE;

      if (!JSON_NODE_HOLDS_OBJECT (task_node))
        {
          g_critical ("ACS: payload '%s': task #%u is not an object", message_id, i);
          data->all_ok = FALSE;
          continue;
        }
      task = json_node_get_object (task_node);
      arn = member_string (task, "arn");
      if (arn == NULL || *arn == '\0')
        {
          g_critical ("ACS: payload '%s': received a task with no arn", message_id);
          data->all_ok = FALSE;
          continue;
        }
      for (guint r = 0; r < G_N_ELEMENTS (roles) && ok; r++)
        {
          JsonObject *creds = member_object (task, roles[r].member);
          g_autoptr(GError) error = NULL;

          if (creds == NULL)
            continue;
          if (member_string (creds, "credentialsId") == NULL || *member_string (creds, "credentialsId") == '\0')
            {
              report_refused_task (self, arn, "credentials without a credentialsId");
              ok = FALSE;
            }
          else if (self->hooks.set_credentials == NULL
                   || !self->hooks.set_credentials (self->hooks.credentials, creds, arn, roles[r].role_type, &error))
            {
              g_autofree char *why = g_strdup_printf ("%s: %s", roles[r].member,
                                                      error != NULL ? error->message : "no credentials manager");
              report_refused_task (self, arn, why);
              ok = FALSE;
            }
          else
            {
              g_ptr_array_add (data->credential_acks, credentials_ack (message_id, creds));
              if (!g_ptr_array_find_with_equal_func (data->credential_tasks, arn, g_str_equal, NULL))
                g_ptr_array_add (data->credential_tasks, g_strdup (arn));
            }
        }
      if (!ok)
        {
          data->all_ok = FALSE;
          continue;
        }
      json_array_add_object_element (tasks, ecsa_acs_task_without_secrets (task));
    }
  self->hooks.apply_payload_async (self->hooks.engine, tasks, seq_num, self->cancellable, payload_applied_cb, data);
}

/* A payload is recorded at once, or, while ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT are being recorded (a
 * burst: ECS sends one payload per stopped task), waits its turn in order, as agent v1.16.2's
 * payload buffer holds up its reader instead of dropping anything. Beyond
 * ECSA_ACS_MAX_PAYLOADS_WAITING it is left unacked for ACS to send again. */
static void
handle_payload (EcsaAcsSession *self, JsonObject *message)
{
  WaitingPayload *w;

  if (self->payloads_in_flight < ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT && g_queue_is_empty (&self->waiting))
    {
      start_payload (self, message, ecsa_ws_session_get_connection_id (ECSA_WS_SESSION (self)));
      return;
    }
  if (g_queue_get_length (&self->waiting) >= ECSA_ACS_MAX_PAYLOADS_WAITING)
    {
      g_warning ("ACS: %u payloads are being recorded and %u wait; payload '%s' is left for ACS to send again",
                 self->payloads_in_flight, g_queue_get_length (&self->waiting),
                 member_string (message, "messageId") != NULL ? member_string (message, "messageId") : "");
      return;
    }
  w = g_new0 (WaitingPayload, 1);
  w->message = json_object_ref (message);
  w->connection_id = ecsa_ws_session_get_connection_id (ECSA_WS_SESSION (self));
  g_queue_push_tail (&self->waiting, w);
}

static void
handle_credentials (EcsaAcsSession *self, JsonObject *message)
{
  const char *message_id = member_string (message, "messageId");
  const char *task_arn = member_string (message, "taskArn");
  const char *role_type = member_string (message, "roleType");
  JsonObject *creds = member_object (message, "roleCredentials");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) ack = NULL;

  if (message_id == NULL || *message_id == '\0' || task_arn == NULL || *task_arn == '\0' || creds == NULL
      || member_string (creds, "credentialsId") == NULL || *member_string (creds, "credentialsId") == '\0')
    {
      g_warning ("ACS: error validating credentials message: %s",
                 message_id == NULL || *message_id == '\0' ? "message id not set"
                 : task_arn == NULL || *task_arn == '\0'   ? "task arn not set"
                 : creds == NULL                           ? "role credentials not set"
                                                           : "role credentials ID not set");
      return;
    }
  if (self->hooks.has_task == NULL || !self->hooks.has_task (self->hooks.engine, task_arn))
    {
      g_warning ("ACS: task '%s' of credentials message '%s' is not known to the engine", task_arn, message_id);
      return;
    }
  if (g_strcmp0 (role_type, ECSA_ACS_ROLE_TYPE_APPLICATION) != 0 && g_strcmp0 (role_type, ECSA_ACS_ROLE_TYPE_EXECUTION) != 0)
    g_warning ("ACS: unknown roleType '%s' for task '%s' in credentials message '%s'", role_type ? role_type : "",
               task_arn, message_id);
  else if (self->hooks.set_credentials == NULL
           || !self->hooks.set_credentials (self->hooks.credentials, creds, task_arn, role_type, &error))
    {
      g_warning ("ACS: unable to update credentials for task '%s' (message '%s'): %s", task_arn, message_id,
                 error != NULL ? error->message : "no credentials manager");
      return;
    }
  ack = credentials_ack (message_id, creds);
  send_message (self, 0, "IAMRoleCredentialsAckRequest", ack);
}

static void
nack_update (EcsaAcsSession *self, const char *type, JsonObject *message)
{
  const char *message_id = member_string (message, "messageId");
  g_autoptr(JsonObject) nack = NULL;

  if (message_id == NULL)
    {
      g_warning ("ACS: %s without a message id, ignoring", type);
      return;
    }
  g_warning ("ACS: nacking %s '%s': %s", type, message_id, UPDATES_DISABLED_REASON);
  nack = json_object_new ();
  if (member_string (message, "clusterArn") != NULL)
    json_object_set_string_member (nack, "cluster", member_string (message, "clusterArn"));
  if (member_string (message, "containerInstanceArn") != NULL)
    json_object_set_string_member (nack, "containerInstance", member_string (message, "containerInstanceArn"));
  json_object_set_string_member (nack, "messageId", message_id);
  json_object_set_string_member (nack, "reason", UPDATES_DISABLED_REASON);
  send_message (self, 0, "NackRequest", nack);
}

static void
handle_attach_eni (EcsaAcsSession *self, JsonObject *message)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *message_id = NULL;
  g_autoptr(JsonObject) ack = NULL;

  if (self->hooks.attach_eni == NULL)
    {
      g_info ("ACS: AttachTaskNetworkInterfacesMessage while task ENIs are off, ignoring");
      return;
    }
  if (!self->hooks.attach_eni (self->hooks.eni_attachments, message, &message_id, &error))
    {
      g_warning ("ACS: AttachTaskNetworkInterfacesMessage refused: %s", error->message);
      return;
    }
  ack = json_object_new ();
  if (member_string (message, "clusterArn") != NULL)
    json_object_set_string_member (ack, "cluster", member_string (message, "clusterArn"));
  if (member_string (message, "containerInstanceArn") != NULL)
    json_object_set_string_member (ack, "containerInstance", member_string (message, "containerInstanceArn"));
  json_object_set_string_member (ack, "messageId", message_id);
  send_message (self, 0, "AckRequest", ack);
}

static void
acs_handle_message (EcsaWsSession *session, const char *type, JsonObject *message)
{
  EcsaAcsSession *self = ECSA_ACS_SESSION (session);

  if (strcmp (type, "PayloadMessage") == 0)
    handle_payload (self, message);
  else if (strcmp (type, "IAMRoleCredentialsMessage") == 0)
    handle_credentials (self, message);
  else if (strcmp (type, "HeartbeatMessage") == 0)
    {
      const char *message_id = member_string (message, "messageId");

      if (message_id != NULL && *message_id != '\0')
        {
          g_autoptr(JsonObject) ack = json_object_new ();
          json_object_set_string_member (ack, "messageId", message_id);
          send_message (self, 0, "HeartbeatAckRequest", ack);
        }
    }
  else if (strcmp (type, "CloseMessage") == 0)
    {
      g_info ("ACS: CloseMessage received (%s); reconnecting", member_string (message, "message") != NULL
                                                                    ? member_string (message, "message")
                                                                    : "");
      ecsa_ws_session_reconnect (session, TRUE, "CloseMessage");
    }
  else if (strcmp (type, "ErrorMessage") == 0)
    g_warning ("ACS: ErrorMessage received: %s",
               member_string (message, "message") != NULL ? member_string (message, "message") : "");
  else if (strcmp (type, "AttachTaskNetworkInterfacesMessage") == 0)
    handle_attach_eni (self, message);
  else if (strcmp (type, "StageUpdateMessage") == 0 || strcmp (type, "PerformUpdateMessage") == 0)
    nack_update (self, type, message);
  else if (g_str_has_suffix (type, "Exception"))
    g_warning ("ACS: %s: %s", type,
               member_string (message, "message") != NULL ? member_string (message, "message") : "");
  else
    g_info ("ACS: no handler for message type '%s', ignoring", type);
}

static char *
acs_build_url (EcsaWsSession *session, const EcsaPollEndpoints *endpoints, GError **error)
{
  return ecsa_acs_session_build_url (ECSA_ACS_SESSION (session), endpoints->endpoint);
}

static void
acs_connected (EcsaWsSession *session)
{
  ECSA_ACS_SESSION (session)->send_credentials = FALSE;
}

static GTimeSpan
acs_refused (EcsaWsSession *session, guint status, const char *body)
{
  g_autofree char *type = NULL;
  g_autoptr(JsonObject) message = NULL;

  if (body != NULL && ecsa_ws_parse_frame (body, strlen (body), &type, &message, NULL)
      && strcmp (type, "InactiveInstanceException") == 0)
    {
      g_warning ("ACS: the container instance is inactive (deregistered); trying again in an hour");
      g_signal_emit (session, signals[SIGNAL_INACTIVE_INSTANCE], 0);
      return ECSA_ACS_INACTIVE_INSTANCE_DELAY;
    }
  return -1;
}

static void
ecsa_acs_session_dispose (GObject *object)
{
  EcsaAcsSession *self = ECSA_ACS_SESSION (object);

  g_cancellable_cancel (self->cancellable);
  g_queue_clear_full (&self->waiting, (GDestroyNotify) waiting_payload_free);
  G_OBJECT_CLASS (ecsa_acs_session_parent_class)->dispose (object);
}

static void
ecsa_acs_session_finalize (GObject *object)
{
  EcsaAcsSession *self = ECSA_ACS_SESSION (object);

  g_clear_object (&self->reporter);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (ecsa_acs_session_parent_class)->finalize (object);
}

static void
ecsa_acs_session_class_init (EcsaAcsSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  EcsaWsSessionClass *ws_class = ECSA_WS_SESSION_CLASS (klass);

  object_class->dispose = ecsa_acs_session_dispose;
  object_class->finalize = ecsa_acs_session_finalize;
  ws_class->build_url = acs_build_url;
  ws_class->connected = acs_connected;
  ws_class->handle_message = acs_handle_message;
  ws_class->refused = acs_refused;

  /* The instance was deregistered (InactiveInstanceException): TCS drops its connection too. */
  signals[SIGNAL_INACTIVE_INSTANCE] = g_signal_new ("inactive-instance", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
ecsa_acs_session_init (EcsaAcsSession *self)
{
  self->send_credentials = TRUE;
  self->cancellable = g_cancellable_new ();
}

EcsaAcsSession *
ecsa_acs_session_new (EcsaEcsClient *ecs_client, const EcsaAcsSessionHooks *hooks, EcsaStateReporter *reporter)
{
  static const EcsaWsSessionParams params = {
    .name = "ACS",
    .backoff_min = 250 * 1000,
    .backoff_max = 2 * 60 * G_USEC_PER_SEC,
    .backoff_multiplier = 1.5,
    .backoff_jitter = 0.2,
    .silence_timeout = ECSA_ACS_HEARTBEAT_TIMEOUT,
    .silence_jitter = ECSA_ACS_HEARTBEAT_JITTER,
    .backoff_reset_after = ECSA_ACS_HEARTBEAT_TIMEOUT,
    .backoff_reset_jitter = ECSA_ACS_HEARTBEAT_JITTER,
  };
  EcsaAcsSession *self;

  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (ecs_client), NULL);

  self = g_object_new (ECSA_TYPE_ACS_SESSION, NULL);
  if (hooks != NULL)
    self->hooks = *hooks;
  if (reporter != NULL)
    self->reporter = g_object_ref (reporter);
  ecsa_ws_session_setup (ECSA_WS_SESSION (self), &params, ecs_client);
  return self;
}

guint
ecsa_acs_session_get_payloads_in_flight (EcsaAcsSession *self)
{
  g_return_val_if_fail (ECSA_IS_ACS_SESSION (self), 0);
  return self->payloads_in_flight;
}
