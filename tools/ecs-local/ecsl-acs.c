/* ecsl-acs.c: the ACS websocket sessions of ecs-local (see ecsl-acs.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-acs.h"
#include "ecsl-ecs.h"
#include "ecsl-http.h"
#include "ecsl-util.h"

#include <string.h>

/* At most this many unacknowledged messages per instance; older ones are dropped (and logged). */
#define MAX_OUTBOX 1000

struct _EcslAcs
{
  EcslContext *ctx;
  GPtrArray *conns; /* AcsConn* */
};

typedef struct
{
  EcslContext *ctx;
  SoupWebsocketConnection *ws;
  char *instance_arn;
  guint heartbeat_source;
  guint resend_source;
  gulong message_handler;
  gulong closed_handler;
} AcsConn;

static void
conn_free (AcsConn *conn)
{
  if (conn->heartbeat_source != 0)
    g_source_remove (conn->heartbeat_source);
  if (conn->resend_source != 0)
    g_source_remove (conn->resend_source);
  if (conn->message_handler != 0)
    g_signal_handler_disconnect (conn->ws, conn->message_handler);
  if (conn->closed_handler != 0)
    g_signal_handler_disconnect (conn->ws, conn->closed_handler);
  g_clear_object (&conn->ws);
  g_free (conn->instance_arn);
  g_free (conn);
}

EcslAcs *
ecsl_acs_new (EcslContext *ctx)
{
  EcslAcs *self = g_new0 (EcslAcs, 1);

  self->ctx = ctx;
  self->conns = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
  return self;
}

void
ecsl_acs_free (EcslAcs *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->conns->len; i++)
    {
      AcsConn *conn = g_ptr_array_index (self->conns, i);
      EcslInstance *inst = ecsl_state_instance_by_arn (self->ctx->state, conn->instance_arn);
      if (inst != NULL && inst->acs_conn == conn)
        {
          inst->acs_conn = NULL;
          inst->agent_connected = FALSE;
        }
    }
  g_ptr_array_unref (self->conns);
  g_free (self);
}

static EcslInstance *
conn_instance (AcsConn *conn)
{
  EcslInstance *inst = ecsl_state_instance_by_arn (conn->ctx->state, conn->instance_arn);

  return inst != NULL && inst->acs_conn == conn ? inst : NULL;
}

static gboolean
conn_open (AcsConn *conn)
{
  return soup_websocket_connection_get_state (conn->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
send_frame (AcsConn *conn, const char *type, JsonNode *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  if (!conn_open (conn))
    return;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "message");
  json_builder_add_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = ecsl_json_to_string (root);
  soup_websocket_connection_send_text (conn->ws, text);
  memset (text, 0, strlen (text)); /* it may carry credentials */
}

static void
send_close (AcsConn *conn, const char *reason)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (!conn_open (conn))
    return;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, reason);
  json_builder_end_object (b);
  send_frame (conn, "CloseMessage", json_builder_get_root (b));
  soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, reason);
}

/* ------------------------------------------------------------------------------------------- */
/* the outbox */

/* Render an outbox entry; NULL when there is nothing left to say (its tasks are gone). */
static JsonNode *
render_entry (EcslContext *ctx, EcslInstance *inst, EcslOutboxEntry *e, const char **out_type)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (e->kind == ECSL_OUTBOX_PAYLOAD)
    {
      guint n = 0;
      *out_type = "PayloadMessage";
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "clusterArn");
      json_builder_add_string_value (b, inst->cluster_arn);
      json_builder_set_member_name (b, "containerInstanceArn");
      json_builder_add_string_value (b, inst->arn);
      json_builder_set_member_name (b, "tasks");
      json_builder_begin_array (b);
      for (guint i = 0; i < e->task_arns->len; i++)
        {
          EcslTask *t = g_hash_table_lookup (ctx->state->tasks, g_ptr_array_index (e->task_arns, i));
          JsonNode *task;
          if (t == NULL)
            continue;
          task = ecsl_payload_task (ctx, t, g_ptr_array_index (e->desired, i), TRUE);
          if (task == NULL)
            continue;
          json_builder_add_value (b, task);
          n++;
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "generatedAt");
      json_builder_add_int_value (b, e->queued_ms / 1000);
      json_builder_set_member_name (b, "messageId");
      json_builder_add_string_value (b, e->message_id);
      json_builder_set_member_name (b, "seqNum");
      json_builder_add_int_value (b, e->seq_num);
      json_builder_end_object (b);
      return n > 0 ? json_builder_get_root (b) : NULL;
    }

  *out_type = "IAMRoleCredentialsMessage";
  {
    EcslTask *t = g_hash_table_lookup (ctx->state->tasks, e->task_arn);
    const EcslCredEntry *cred = NULL;
    if (t == NULL || strcmp (t->last_status, "STOPPED") == 0
        || ecsl_credentials_lookup (ctx->creds, e->access_key_id, &cred) != ECSL_CRED_LOOKUP_OK)
      return NULL;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "messageId");
    json_builder_add_string_value (b, e->message_id);
    json_builder_set_member_name (b, "taskArn");
    json_builder_add_string_value (b, e->task_arn);
    json_builder_set_member_name (b, "roleType");
    json_builder_add_string_value (b, e->role_type);
    json_builder_set_member_name (b, "roleCredentials");
    json_builder_add_value (b, ecsl_payload_credentials (ctx, cred));
    json_builder_end_object (b);
    return json_builder_get_root (b);
  }
}

static void schedule_resend (AcsConn *conn);

/* Send the entries that are due (never sent, or unacknowledged for ack_timeout; all when
 * `everything`), dropping those with nothing left to say. */
static void
send_due (AcsConn *conn, gboolean everything)
{
  EcslContext *ctx = conn->ctx;
  EcslInstance *inst = conn_instance (conn);
  gint64 now = ecsl_now_ms ();
  gboolean changed = FALSE;

  if (inst == NULL || !conn_open (conn))
    return;
  for (guint i = 0; i < inst->outbox->len;)
    {
      EcslOutboxEntry *e = g_ptr_array_index (inst->outbox, i);
      const char *type = NULL;
      g_autoptr(JsonNode) message = NULL;

      if (!everything && e->last_sent_ms != 0 && e->last_sent_ms + ctx->config.ack_timeout_ms > now)
        {
          i++;
          continue;
        }
      message = render_entry (ctx, inst, e, &type);
      if (message == NULL)
        {
          g_debug ("dropping ACS message %s: its tasks are gone", e->message_id);
          g_ptr_array_remove_index (inst->outbox, i);
          changed = TRUE;
          continue;
        }
      if (e->last_sent_ms != 0)
        g_message ("resending %s %s to %s (attempt %u, unacknowledged)", type, e->message_id, inst->arn,
                   e->attempts + 1);
      else
        g_message ("sending %s %s (seqNum %" G_GINT64_FORMAT ") to %s", type, e->message_id, e->seq_num, inst->arn);
      send_frame (conn, type, g_steal_pointer (&message));
      e->last_sent_ms = now;
      e->attempts++;
      if (e->kind == ECSL_OUTBOX_PAYLOAD)
        inst->payloads_sent++;
      i++;
    }
  if (changed)
    ecsl_state_changed (ctx->state);
  schedule_resend (conn);
}

static gboolean
resend_cb (gpointer user_data)
{
  AcsConn *conn = user_data;

  conn->resend_source = 0;
  send_due (conn, FALSE);
  return G_SOURCE_REMOVE;
}

static void
schedule_resend (AcsConn *conn)
{
  EcslInstance *inst = conn_instance (conn);
  gint64 next = 0;

  if (conn->resend_source != 0)
    {
      g_source_remove (conn->resend_source);
      conn->resend_source = 0;
    }
  if (inst == NULL)
    return;
  for (guint i = 0; i < inst->outbox->len; i++)
    {
      EcslOutboxEntry *e = g_ptr_array_index (inst->outbox, i);
      gint64 at = e->last_sent_ms + conn->ctx->config.ack_timeout_ms;
      if (e->last_sent_ms != 0 && (next == 0 || at < next))
        next = at;
    }
  if (next != 0)
    conn->resend_source = g_timeout_add ((guint) CLAMP (next - ecsl_now_ms (), 1, G_MAXINT), resend_cb, conn);
}

static void
enqueue (EcslContext *ctx, EcslInstance *inst, EcslOutboxEntry *e)
{
  if (inst->outbox->len >= MAX_OUTBOX)
    {
      EcslOutboxEntry *old = g_ptr_array_index (inst->outbox, 0);
      g_warning ("%s has %d unacknowledged ACS messages: dropping the oldest (%s)", inst->arn, MAX_OUTBOX,
                 old->message_id);
      g_ptr_array_remove_index (inst->outbox, 0);
    }
  g_ptr_array_add (inst->outbox, e);
  ecsl_state_changed (ctx->state);
  if (inst->acs_conn != NULL)
    send_due (inst->acs_conn, FALSE);
}

void
ecsl_acs_queue_payload (EcslContext *ctx, EcslInstance *inst, GPtrArray *tasks, const char *desired)
{
  EcslOutboxEntry *e = ecsl_outbox_entry_new (ECSL_OUTBOX_PAYLOAD);

  e->seq_num = inst->next_seq_num++;
  for (guint i = 0; i < tasks->len; i++)
    {
      EcslTask *t = g_ptr_array_index (tasks, i);
      g_ptr_array_add (e->task_arns, g_strdup (t->arn));
      g_ptr_array_add (e->desired, g_strdup (desired));
    }
  if (inst->acs_conn == NULL)
    g_message ("queued a payload for %s (%u tasks, desired %s): the agent is not connected", inst->arn, tasks->len,
               desired);
  enqueue (ctx, inst, e);
}

static void
queue_credentials (EcslContext *ctx, EcslInstance *inst, EcslTask *task, const EcslCredEntry *cred)
{
  EcslOutboxEntry *e = ecsl_outbox_entry_new (ECSL_OUTBOX_CREDENTIALS);

  e->task_arn = g_strdup (task->arn);
  e->role_type = g_strdup (cred->kind == ECSL_CRED_EXECUTION_ROLE ? "TaskExecution" : "TaskApplication");
  e->access_key_id = g_strdup (cred->access_key_id);
  enqueue (ctx, inst, e);
}

static const EcslCredEntry *
ensure_credentials (EcslContext *ctx, EcslTask *task, EcslCredKind kind, gboolean fresh)
{
  const char *id = kind == ECSL_CRED_TASK_ROLE ? task->role_credentials_id : task->execution_credentials_id;
  const EcslCredEntry *current;

  if (id == NULL)
    return NULL;
  current = ecsl_credentials_find_current (ctx->creds, kind, task->arn);
  if (current != NULL && !fresh)
    return current;
  {
    /* The role of the last issued entry (expired or not) is the task's role. */
    const EcslCredEntry *any = current;
    g_autofree char *role = NULL;
    if (any == NULL)
      {
        /* Look through the task definition (and overrides) for the role. */
        EcslTaskDef *def = ecsl_state_taskdef_by_arn (ctx->state, task->taskdef_arn);
        const char *member = kind == ECSL_CRED_TASK_ROLE ? "taskRoleArn" : "executionRoleArn";
        const char *r = task->overrides != NULL ? ecsl_json_object_string (json_node_get_object (task->overrides), member)
                                                : NULL;
        if (r == NULL && def != NULL)
          r = ecsl_json_object_string (json_node_get_object (def->def), member);
        role = g_strdup (r);
      }
    else
      role = g_strdup (any->role_arn);
    if (role == NULL)
      return NULL;
    return ecsl_credentials_mint (ctx->creds, kind, role, task->arn, id, ctx->config.credentials_ttl_ms);
  }
}

/* ------------------------------------------------------------------------------------------- */
/* credential refresh */

typedef struct
{
  EcslContext *ctx;
  EcslTask *task;
} RefreshData;

static gboolean
refresh_cb (gpointer user_data)
{
  RefreshData *data = user_data;
  EcslContext *ctx = data->ctx;
  EcslTask *task = data->task;
  EcslInstance *inst = ecsl_state_instance_by_arn (ctx->state, task->instance_arn);

  if (strcmp (task->last_status, "STOPPED") == 0 || inst == NULL || strcmp (inst->status, "INACTIVE") == 0)
    {
      task->refresh_source = 0;
      return G_SOURCE_REMOVE;
    }
  for (int k = 0; k < 2; k++)
    {
      EcslCredKind kind = k == 0 ? ECSL_CRED_TASK_ROLE : ECSL_CRED_EXECUTION_ROLE;
      const EcslCredEntry *cred = ensure_credentials (ctx, task, kind, TRUE);
      if (cred == NULL)
        continue;
      g_message ("refreshing the %s credentials of %s (new key %s, credentials ID %s)",
                 kind == ECSL_CRED_TASK_ROLE ? "task role" : "execution role", task->arn, cred->access_key_id,
                 cred->credentials_id);
      queue_credentials (ctx, inst, task, cred);
    }
  ecsl_state_changed (ctx->state);
  return G_SOURCE_CONTINUE;
}

void
ecsl_acs_schedule_refresh (EcslContext *ctx, EcslTask *task)
{
  RefreshData *data;
  gint64 interval = MAX (ctx->config.credentials_ttl_ms / 2, 1000);

  if (task->refresh_source != 0 || strcmp (task->last_status, "STOPPED") == 0
      || (task->role_credentials_id == NULL && task->execution_credentials_id == NULL))
    return;
  data = g_new0 (RefreshData, 1);
  data->ctx = ctx;
  data->task = task;
  task->refresh_source = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) MIN (interval, G_MAXUINT), refresh_cb, data,
                                             g_free);
}

void
ecsl_task_stop_refresh (EcslContext *ctx, EcslTask *task)
{
  if (task->refresh_source != 0)
    g_source_remove (task->refresh_source);
  task->refresh_source = 0;
}

/* ------------------------------------------------------------------------------------------- */
/* sessions */

static void
handle_ack (EcslContext *ctx, AcsConn *conn, EcslInstance *inst, const char *type, JsonObject *message)
{
  const char *id = ecsl_json_object_string (message, "messageId");
  gboolean is_ack = strcmp (type, "AckRequest") == 0;

  if (!is_ack)
    {
      /* IAMRoleCredentialsAckRequest: for a credentials message, or (v1.16.2) for the credentials
       * that came inside a payload, with the payload's messageId. */
      inst->credential_acks++;
      g_message ("%s acknowledged the credentials of message %s (credentialsId %s)", inst->arn,
                 id != NULL ? id : "(none)", ecsl_json_object_string (message, "credentialsId"));
    }
  for (guint i = 0; id != NULL && i < inst->outbox->len; i++)
    {
      EcslOutboxEntry *e = g_ptr_array_index (inst->outbox, i);
      if (strcmp (e->message_id, id) != 0)
        continue;
      if (is_ack && e->kind == ECSL_OUTBOX_PAYLOAD)
        {
          inst->acks++;
          g_message ("%s acknowledged payload %s (seqNum %" G_GINT64_FORMAT ")", inst->arn, id, e->seq_num);
        }
      else if (is_ack || e->kind != ECSL_OUTBOX_CREDENTIALS)
        return; /* the ack of the other kind of message: the entry waits for its own */
      g_ptr_array_remove_index (inst->outbox, i);
      ecsl_state_changed (ctx->state);
      if (conn != NULL)
        schedule_resend (conn);
      return;
    }
  if (is_ack)
    g_message ("%s acknowledged %s, which is not pending (a duplicate)", inst->arn, id != NULL ? id : "(no messageId)");
}

static void
message_cb (SoupWebsocketConnection *ws, gint kind, GBytes *data, gpointer user_data)
{
  AcsConn *conn = user_data;
  EcslInstance *inst = conn_instance (conn);

  if (inst != NULL)
    ecsl_acs_handle_frame (conn->ctx, inst, conn, data);
}

void
ecsl_acs_handle_frame (EcslContext *ctx, EcslInstance *inst, gpointer conn_or_null, GBytes *data)
{
  AcsConn *conn = conn_or_null;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *frame, *message;
  const char *type;

  root = ecsl_json_parse (g_bytes_get_data (data, NULL), (gssize) g_bytes_get_size (data), "ACS frame", &error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_warning ("%s sent an ACS frame that is not a JSON object: ignored (%s)", inst->arn,
                 error != NULL ? error->message : "not an object");
      return;
    }
  frame = json_node_get_object (root);
  type = ecsl_json_object_string (frame, "type");
  message = ecsl_json_object_object (frame, "message");
  if (type == NULL || message == NULL)
    {
      g_warning ("%s sent an ACS frame without type or message: ignored", inst->arn);
      return;
    }
  if (strcmp (type, "AckRequest") == 0 || strcmp (type, "IAMRoleCredentialsAckRequest") == 0)
    handle_ack (ctx, conn, inst, type, message);
  else if (strcmp (type, "HeartbeatAckRequest") == 0)
    inst->heartbeat_acks++;
  else if (strcmp (type, "NackRequest") == 0)
    g_warning ("%s refused message %s: %s", inst->arn,
               ecsl_json_object_string (message, "messageId") != NULL ? ecsl_json_object_string (message, "messageId")
                                                                       : "(no messageId)",
               ecsl_json_object_string (message, "reason") != NULL ? ecsl_json_object_string (message, "reason")
                                                                    : "(no reason)");
  else
    g_message ("%s sent an ACS message of type %s: ignored", inst->arn, type);
}

static void
detach (AcsConn *conn)
{
  EcslInstance *inst = conn_instance (conn);

  if (inst != NULL)
    {
      inst->acs_conn = NULL;
      inst->agent_connected = FALSE;
      inst->last_disconnect_ms = ecsl_now_ms ();
    }
  if (conn->heartbeat_source != 0)
    g_source_remove (conn->heartbeat_source);
  conn->heartbeat_source = 0;
  if (conn->resend_source != 0)
    g_source_remove (conn->resend_source);
  conn->resend_source = 0;
}

static void
closed_cb (SoupWebsocketConnection *ws, gpointer user_data)
{
  AcsConn *conn = user_data;
  EcslAcs *acs = conn->ctx->acs;

  g_message ("ACS session of %s closed (code %u)", conn->instance_arn, soup_websocket_connection_get_close_code (ws));
  detach (conn);
  g_ptr_array_remove (acs->conns, conn);
}

static gboolean
heartbeat_cb (gpointer user_data)
{
  AcsConn *conn = user_data;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *id = ecsl_random_uuid ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "healthy");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "messageId");
  json_builder_add_string_value (b, id);
  json_builder_end_object (b);
  send_frame (conn, "HeartbeatMessage", json_builder_get_root (b));
  return G_SOURCE_CONTINUE;
}

gboolean
ecsl_acs_check_handshake (EcslContext *ctx, SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);
  g_autoptr(GHashTable) params = query != NULL ? soup_form_decode (query) : NULL;
  const char *cluster_ref = params != NULL ? g_hash_table_lookup (params, "clusterArn") : NULL;
  const char *instance_ref = params != NULL ? g_hash_table_lookup (params, "containerInstanceArn") : NULL;
  const char *send_credentials = params != NULL ? g_hash_table_lookup (params, "sendCredentials") : NULL;
  EcslCluster *cluster;
  EcslInstance *inst;

  if (!ecsl_http_verify_handshake (ctx, msg, "ACS"))
    return FALSE;
  if (cluster_ref == NULL || instance_ref == NULL)
    {
      g_message ("ACS handshake refused: no clusterArn or containerInstanceArn in the query");
      ecsl_http_refuse_handshake (msg, 400, "BadRequestException",
                                  "The query must carry clusterArn and containerInstanceArn.");
      return FALSE;
    }
  cluster = ecsl_state_find_cluster (ctx->state, cluster_ref);
  if (cluster == NULL || strcmp (cluster->status, "ACTIVE") != 0)
    {
      g_message ("ACS handshake refused: cluster %s not found", cluster_ref);
      ecsl_http_refuse_handshake (msg, 400, "InvalidClusterException", "Cluster not found.");
      return FALSE;
    }
  inst = ecsl_state_find_instance (ctx->state, cluster, instance_ref);
  if (inst == NULL)
    {
      g_message ("ACS handshake refused: container instance %s not found in %s", instance_ref, cluster->name);
      ecsl_http_refuse_handshake (msg, 400, "InvalidInstanceException", "Container instance not found.");
      return FALSE;
    }
  if (strcmp (inst->status, "INACTIVE") == 0)
    {
      g_message ("ACS handshake refused: container instance %s is inactive", inst->arn);
      ecsl_http_refuse_handshake (msg, 400, "InactiveInstanceException", "Container instance is inactive.");
      return FALSE;
    }
  g_object_set_data_full (G_OBJECT (msg), "ecsl-acs-instance", g_strdup (inst->arn), g_free);
  g_object_set_data (G_OBJECT (msg), "ecsl-acs-send-credentials",
                     GINT_TO_POINTER (g_strcmp0 (send_credentials, "true") == 0));
  g_message ("ACS handshake from %s: agentVersion %s, agentHash %s, %s, sendCredentials %s, seqNum %s", inst->arn,
             params != NULL && g_hash_table_lookup (params, "agentVersion") ? (char *) g_hash_table_lookup (params, "agentVersion") : "?",
             params != NULL && g_hash_table_lookup (params, "agentHash") ? (char *) g_hash_table_lookup (params, "agentHash") : "?",
             params != NULL && g_hash_table_lookup (params, "dockerVersion") ? (char *) g_hash_table_lookup (params, "dockerVersion") : "DockerVersion: ?",
             send_credentials != NULL ? send_credentials : "?",
             params != NULL && g_hash_table_lookup (params, "seqNum") ? (char *) g_hash_table_lookup (params, "seqNum") : "?");
  return TRUE;
}

void
ecsl_acs_connected (EcslContext *ctx, SoupServerMessage *msg, SoupWebsocketConnection *ws)
{
  const char *arn = g_object_get_data (G_OBJECT (msg), "ecsl-acs-instance");
  gboolean send_credentials = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (msg), "ecsl-acs-send-credentials"));
  EcslInstance *inst = arn != NULL ? ecsl_state_instance_by_arn (ctx->state, arn) : NULL;
  AcsConn *conn;

  if (inst == NULL)
    {
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "unknown container instance");
      return;
    }
  if (inst->acs_conn != NULL)
    {
      AcsConn *old = inst->acs_conn;
      g_message ("%s opened a new ACS session: closing the previous one", inst->arn);
      detach (old);
      send_close (old, "superseded by a new connection");
    }
  conn = g_new0 (AcsConn, 1);
  conn->ctx = ctx;
  conn->ws = g_object_ref (ws);
  conn->instance_arn = g_strdup (inst->arn);
  conn->message_handler = g_signal_connect (ws, "message", G_CALLBACK (message_cb), conn);
  conn->closed_handler = g_signal_connect (ws, "closed", G_CALLBACK (closed_cb), conn);
  g_ptr_array_add (ctx->acs->conns, conn);
  inst->acs_conn = conn;
  inst->agent_connected = TRUE;
  inst->connects++;
  conn->heartbeat_source = g_timeout_add ((guint) ctx->config.heartbeat_ms, heartbeat_cb, conn);
  g_message ("ACS session of %s open (%u unacknowledged messages to send)", inst->arn, inst->outbox->len);

  if (send_credentials)
    {
      /* A new agent process: hand it the credentials of the tasks it runs. */
      GHashTableIter iter;
      EcslTask *t;
      g_hash_table_iter_init (&iter, ctx->state->tasks);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
        {
          if (g_strcmp0 (t->instance_arn, inst->arn) != 0 || strcmp (t->last_status, "STOPPED") == 0)
            continue;
          for (int k = 0; k < 2; k++)
            {
              const EcslCredEntry *cred = ensure_credentials (ctx, t, k == 0 ? ECSL_CRED_TASK_ROLE
                                                                              : ECSL_CRED_EXECUTION_ROLE, FALSE);
              if (cred != NULL)
                queue_credentials (ctx, inst, t, cred);
            }
        }
    }
  send_due (conn, TRUE);
}

void
ecsl_acs_instance_deregistered (EcslContext *ctx, EcslInstance *inst)
{
  AcsConn *conn = inst->acs_conn;

  if (conn == NULL)
    return;
  detach (conn);
  send_close (conn, "The container instance was deregistered.");
}

void
ecsl_acs_close_all (EcslAcs *self, const char *reason)
{
  for (guint i = 0; i < self->conns->len; i++)
    {
      AcsConn *conn = g_ptr_array_index (self->conns, i);
      detach (conn);
      send_close (conn, reason);
    }
}
