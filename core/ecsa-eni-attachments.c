/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-eni-attachments.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ecsa-log.h"
#include "ecsa-plugin.h"

#define RECONCILE_INTERVAL_MS 30000 /* v1.16.2's defaultReconciliationInterval */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define MAX_ATTACHMENTS 1024 /* bound: ECS attaches a handful per instance */

typedef struct
{
  char *task_arn;
  char *attachment_arn;
  char *mac; /* lower case */
  gboolean sent;
  gboolean submitting;
  gint64 expires_at; /* unix microseconds */
  GSource *expiry;
  GSource *retry;
  guint retry_ms;
} Attachment;

struct _EcsaEniAttachments
{
  EcsaStateStore *store;
  EcsaEniAttachmentSubmitter submitter;
  gpointer submitter_data;
  gboolean has_submitter;
  GHashTable *by_mac; /* mac -> Attachment* */
  int netlink_fd;
  GSource *netlink_source;
  GSource *reconcile_timer;
  guint reconcile_ms;
  gboolean reconciling;
  gboolean reconcile_again;
  GCancellable *cancellable; /* cancelled by free */
};

static void
drop_source(GSource **source)
{
  if (*source != NULL)
    g_source_destroy(*source);
  g_clear_pointer(source, g_source_unref);
}

static void
attachment_free(Attachment *a)
{
  drop_source(&a->expiry);
  drop_source(&a->retry);
  g_free(a->task_arn);
  g_free(a->attachment_arn);
  g_free(a->mac);
  g_free(a);
}

static char *
attachment_describe(const Attachment *a)
{
  g_autoptr(GDateTime) expires = g_date_time_new_from_unix_utc(a->expires_at / G_USEC_PER_SEC);
  g_autofree char *when = expires != NULL ? g_date_time_format_iso8601(expires) : g_strdup("?");

  return g_strdup_printf("ENI Attachment: task=%s;attachment=%s;attachmentSent=%s;mac=%s;expiresAt=%s", a->task_arn,
                         a->attachment_arn, a->sent ? "true" : "false", a->mac, when);
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoint
 * ------------------------------------------------------------------------------------------- */

static JsonNode *
serialize_cb(gpointer user_data)
{
  EcsaEniAttachments *self = user_data;
  g_autoptr(JsonBuilder) b = json_builder_new();
  GHashTableIter iter;
  Attachment *a;

  json_builder_begin_array(b);
  g_hash_table_iter_init(&iter, self->by_mac);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    {
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "taskArn");
      json_builder_add_string_value(b, a->task_arn);
      json_builder_set_member_name(b, "attachmentArn");
      json_builder_add_string_value(b, a->attachment_arn);
      json_builder_set_member_name(b, "macAddress");
      json_builder_add_string_value(b, a->mac);
      json_builder_set_member_name(b, "attachSent");
      json_builder_add_boolean_value(b, a->sent);
      json_builder_set_member_name(b, "status");
      json_builder_add_string_value(b, a->sent ? "ATTACHED" : "NONE");
      json_builder_set_member_name(b, "expiresAtMs");
      json_builder_add_int_value(b, a->expires_at / 1000);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  return json_builder_get_root(b);
}

static void
save_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!ecsa_state_store_save_finish(ECSA_STATE_STORE(source), result, &error))
    ecsa_log_gerror(ECSA_LOG_WARN, error, "ENI attachments: saving the checkpoint failed");
}

static void
save(EcsaEniAttachments *self)
{
  if (self->store != NULL)
    ecsa_state_store_save_async(self->store, NULL, save_ready_cb, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------------- */

static void report(EcsaEniAttachments *self, Attachment *a);

typedef struct
{
  EcsaEniAttachments *self; /* valid unless `stop` was cancelled (free) */
  GCancellable *stop;
  char *mac;
} SubmitData;

static void
submit_data_free(SubmitData *d)
{
  g_object_unref(d->stop);
  g_free(d->mac);
  g_free(d);
}

static gboolean
retry_cb(gpointer user_data)
{
  EcsaEniAttachments *self = user_data;
  GHashTableIter iter;
  Attachment *a;

  /* the one whose timer fired: retry sources are per attachment, find it by its source */
  g_hash_table_iter_init(&iter, self->by_mac);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    if (a->retry != NULL && a->retry == g_main_current_source())
      {
        g_clear_pointer(&a->retry, g_source_unref);
        report(self, a);
        break;
      }
  return G_SOURCE_REMOVE;
}

static void
submit_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  SubmitData *d = user_data;
  EcsaEniAttachments *self = d->self;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  Attachment *a;

  if (g_cancellable_is_cancelled(d->stop))
    {
      submit_data_free(d);
      return;
    }
  ok = self->submitter.submit_finish(self->submitter_data, result, &error);
  a = g_hash_table_lookup(self->by_mac, d->mac);
  submit_data_free(d);
  if (a == NULL) /* expired or forgotten meanwhile */
    return;
  a->submitting = FALSE;
  if (ok)
    {
      g_autofree char *text = NULL;

      a->sent = TRUE;
      drop_source(&a->expiry);
      text = attachment_describe(a);
      ecsa_log_info("Sent ENI attachment state change: %s", text);
      save(self);
      return;
    }
  if (g_get_real_time() >= a->expires_at)
    return; /* the expiry timer drops it */
  a->retry_ms = a->retry_ms == 0 ? RETRY_MIN_MS : MIN(a->retry_ms * 2, RETRY_MAX_MS);
  ecsa_log_gerror(ECSA_LOG_WARN, error, "ENI attachment '%s' of task '%s': reporting it failed, retrying in %u ms",
                  a->attachment_arn, a->task_arn, a->retry_ms);
  a->retry = g_timeout_source_new(a->retry_ms);
  g_source_set_callback(a->retry, retry_cb, self, NULL);
  g_source_attach(a->retry, g_main_context_get_thread_default());
}

/* The interface is on the host: report ATTACHED (v1.16.2's sendENIStateChange). */
static void
report(EcsaEniAttachments *self, Attachment *a)
{
  g_autofree char *text = NULL;
  SubmitData *d;

  if (a->sent || a->submitting || a->retry != NULL)
    return;
  if (g_get_real_time() >= a->expires_at)
    return;
  text = attachment_describe(a);
  if (!self->has_submitter)
    {
      ecsa_log_warn("ENI attachment is on the host but nothing can report it yet: %s", text);
      return;
    }
  ecsa_log_info("Emitting ENI change event for: %s", text);
  a->submitting = TRUE;
  d = g_new0(SubmitData, 1);
  d->self = self;
  d->stop = g_object_ref(self->cancellable);
  d->mac = g_strdup(a->mac);
  self->submitter.submit_async(self->submitter_data, a->task_arn, a->attachment_arn, "ATTACHED", self->cancellable,
                               submit_ready_cb, d);
}

static void
interface_seen(EcsaEniAttachments *self, const char *mac, const char *name)
{
  Attachment *a = g_hash_table_lookup(self->by_mac, mac);

  if (a == NULL)
    return;
  ecsa_log_debug("Interface '%s' (%s) of an expected ENI attachment is on the host", name != NULL ? name : "?", mac);
  report(self, a);
}

/* ---------------------------------------------------------------------------------------------
 * Watching interfaces: rtnetlink events, and a periodic listing in a worker thread
 * ------------------------------------------------------------------------------------------- */

static void reconcile(EcsaEniAttachments *self);

static gboolean
netlink_cb(int fd, GIOCondition condition, gpointer user_data)
{
  EcsaEniAttachments *self = user_data;
  guint8 buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));

  for (;;)
    {
      ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      struct nlmsghdr *nh;

      if (len < 0)
        {
          if (errno == ENOBUFS) /* events were lost: look at everything again */
            {
              reconcile(self);
              continue;
            }
          if (errno != EAGAIN && errno != EINTR)
            ecsa_log_warn("ENI attachments: reading rtnetlink: %s, ignoring", g_strerror(errno));
          break;
        }
      for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (guint)len); nh = NLMSG_NEXT(nh, len))
        {
          struct ifinfomsg *ifi;
          struct rtattr *rta;
          int rtalen;
          char mac[18] = "";
          char name[IFNAMSIZ + 1] = "";

          if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof *ifi))
            continue;
          ifi = NLMSG_DATA(nh);
          rtalen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof *ifi));
          for (rta = IFLA_RTA(ifi); RTA_OK(rta, rtalen); rta = RTA_NEXT(rta, rtalen))
            {
              if (rta->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(rta) == 6)
                {
                  const guint8 *m = RTA_DATA(rta);
                  g_snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
                }
              else if (rta->rta_type == IFLA_IFNAME)
                g_strlcpy(name, RTA_DATA(rta), MIN(sizeof name, RTA_PAYLOAD(rta) + 1));
            }
          if (mac[0] != '\0')
            interface_seen(self, mac, name);
        }
    }
  return G_SOURCE_CONTINUE;
}

typedef struct
{
  EcsaEniAttachments *self; /* valid unless `stop` was cancelled */
  GCancellable *stop;
} ReconcileData;

/* MAC -> interface name of every interface in /sys/class/net */
static void
list_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GHashTable *found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GDir) dir = g_dir_open("/sys/class/net", 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL)
    {
      g_autofree char *path = g_build_filename("/sys/class/net", name, "address", NULL);
      g_autofree char *text = NULL;

      if (g_file_get_contents(path, &text, NULL, NULL))
        g_hash_table_replace(found, g_ascii_strdown(g_strstrip(text), -1), g_strdup(name));
    }
  g_task_return_pointer(task, found, (GDestroyNotify)g_hash_table_unref);
}

static void
list_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReconcileData *d = user_data;
  g_autoptr(GHashTable) found = g_task_propagate_pointer(G_TASK(result), NULL);
  EcsaEniAttachments *self = d->self;
  g_autoptr(GPtrArray) seen = NULL;
  GHashTableIter iter;
  Attachment *a;

  if (g_cancellable_is_cancelled(d->stop))
    {
      g_object_unref(d->stop);
      g_free(d);
      return;
    }
  g_object_unref(d->stop);
  g_free(d);
  self->reconciling = FALSE;
  seen = g_ptr_array_new_with_free_func(g_free);
  g_hash_table_iter_init(&iter, self->by_mac);
  while (found != NULL && g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    if (!a->sent && g_hash_table_contains(found, a->mac))
      g_ptr_array_add(seen, g_strdup(a->mac));
  for (guint i = 0; i < seen->len; i++)
    interface_seen(self, g_ptr_array_index(seen, i), g_hash_table_lookup(found, g_ptr_array_index(seen, i)));
  if (self->reconcile_again)
    {
      self->reconcile_again = FALSE;
      reconcile(self);
    }
}

static void
reconcile(EcsaEniAttachments *self)
{
  g_autoptr(GTask) task = NULL;
  ReconcileData *d;
  GHashTableIter iter;
  Attachment *a;
  gboolean waiting = FALSE;

  g_hash_table_iter_init(&iter, self->by_mac);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    waiting = waiting || !a->sent;
  if (!waiting)
    return; /* nothing to look for */
  if (self->reconciling)
    {
      self->reconcile_again = TRUE;
      return;
    }
  self->reconciling = TRUE;
  d = g_new0(ReconcileData, 1);
  d->self = self;
  d->stop = g_object_ref(self->cancellable);
  task = g_task_new(NULL, NULL, list_ready_cb, d);
  g_task_run_in_thread(task, list_thread);
}

static gboolean
reconcile_timer_cb(gpointer user_data)
{
  reconcile(user_data);
  return G_SOURCE_CONTINUE;
}

static void
arm_reconcile_timer(EcsaEniAttachments *self)
{
  drop_source(&self->reconcile_timer);
  self->reconcile_timer = g_timeout_source_new(self->reconcile_ms > 0 ? self->reconcile_ms : RECONCILE_INTERVAL_MS);
  g_source_set_name(self->reconcile_timer, "ecsa eni reconcile");
  g_source_set_callback(self->reconcile_timer, reconcile_timer_cb, self, NULL);
  g_source_attach(self->reconcile_timer, g_main_context_get_thread_default());
}

gboolean
ecsa_eni_attachments_start(EcsaEniAttachments *self, GError **error)
{
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
  int fd;

  g_return_val_if_fail(self != NULL, FALSE);
  if (self->netlink_fd >= 0)
    return TRUE;
  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close(fd);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "unable to follow network interfaces (rtnetlink): %s",
                  g_strerror(saved));
      return FALSE;
    }
  self->netlink_fd = fd;
  self->netlink_source = g_unix_fd_source_new(fd, G_IO_IN);
  g_source_set_name(self->netlink_source, "ecsa eni netlink");
  g_source_set_callback(self->netlink_source, G_SOURCE_FUNC(netlink_cb), self, NULL);
  g_source_attach(self->netlink_source, g_main_context_get_thread_default());
  arm_reconcile_timer(self);
  reconcile(self);
  return TRUE;
}

void
ecsa_eni_attachments_set_reconcile_interval(EcsaEniAttachments *self, guint interval_ms)
{
  g_return_if_fail(self != NULL);
  self->reconcile_ms = interval_ms;
  if (self->reconcile_timer != NULL)
    arm_reconcile_timer(self);
}

/* ---------------------------------------------------------------------------------------------
 * Attachments
 * ------------------------------------------------------------------------------------------- */

static gboolean
expiry_cb(gpointer user_data)
{
  EcsaEniAttachments *self = user_data;
  GHashTableIter iter;
  Attachment *a;

  g_hash_table_iter_init(&iter, self->by_mac);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    if (a->expiry != NULL && a->expiry == g_main_current_source())
      {
        g_clear_pointer(&a->expiry, g_source_unref);
        if (!a->sent)
          {
            ecsa_log_info("Timed out waiting for ENI ack; removing ENI attachment record with MAC address: %s", a->mac);
            g_hash_table_iter_remove(&iter);
            save(self);
          }
        break;
      }
  return G_SOURCE_REMOVE;
}

static void
arm_expiry(EcsaEniAttachments *self, Attachment *a)
{
  gint64 left_ms = (a->expires_at - g_get_real_time()) / 1000;

  drop_source(&a->expiry);
  a->expiry = g_timeout_source_new((guint)CLAMP(left_ms, 0, G_MAXUINT));
  g_source_set_callback(a->expiry, expiry_cb, self, NULL);
  g_source_attach(a->expiry, g_main_context_get_thread_default());
}

static const char *
string_member(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string(n);
}

static gboolean
valid_mac(const char *mac)
{
  if (mac == NULL || strlen(mac) != 17)
    return FALSE;
  for (guint i = 0; i < 17; i++)
    if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
      return FALSE;
  return TRUE;
}

gboolean
ecsa_eni_attachments_handle_acs_message(EcsaEniAttachments *self, JsonObject *message, char **out_message_id,
                                        GError **error)
{
  const char *message_id = string_member(message, "messageId");
  const char *task_arn = string_member(message, "taskArn");
  JsonNode *enis_node = message != NULL ? json_object_get_member(message, "elasticNetworkInterfaces") : NULL;
  JsonNode *timeout_node = message != NULL ? json_object_get_member(message, "waitTimeoutMs") : NULL;
  JsonArray *enis;
  JsonObject *eni;
  const char *mac;
  const char *attachment_arn;
  gint64 timeout_ms;
  g_autofree char *lower = NULL;
  Attachment *a;

  g_return_val_if_fail(self != NULL, FALSE);
#define REFUSE(...)                                                                                                    \
  do                                                                                                                   \
    {                                                                                                                  \
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "AttachTaskNetworkInterfacesMessage: " __VA_ARGS__);     \
      return FALSE;                                                                                                    \
    }                                                                                                                  \
  while (0)
  /* v1.16.2's validateAttachTaskNetworkInterfacesMessage, in its order */
  if (message_id == NULL || message_id[0] == '\0')
    REFUSE("'messageId' not set");
  if (string_member(message, "clusterArn") == NULL || string_member(message, "clusterArn")[0] == '\0')
    REFUSE("'clusterArn' not set");
  if (string_member(message, "containerInstanceArn") == NULL
      || string_member(message, "containerInstanceArn")[0] == '\0')
    REFUSE("'containerInstanceArn' not set");
  if (enis_node == NULL || !JSON_NODE_HOLDS_ARRAY(enis_node))
    REFUSE("'elasticNetworkInterfaces' is not a list");
  enis = json_node_get_array(enis_node);
  if (json_array_get_length(enis) != 1)
    REFUSE("incorrect number of ENIs in 'elasticNetworkInterfaces': %u (want 1)", json_array_get_length(enis));
  eni = JSON_NODE_HOLDS_OBJECT(json_array_get_element(enis, 0)) ? json_array_get_object_element(enis, 0) : NULL;
  mac = string_member(eni, "macAddress");
  if (mac == NULL || mac[0] == '\0')
    REFUSE("'macAddress' not listed");
  if (!valid_mac(mac))
    REFUSE("'macAddress' '%s' is not a MAC address", mac);
  if (task_arn == NULL || task_arn[0] == '\0')
    REFUSE("'taskArn' not set");
  if (timeout_node == NULL || !JSON_NODE_HOLDS_VALUE(timeout_node)
      || json_node_get_value_type(timeout_node) != G_TYPE_INT64 || (timeout_ms = json_node_get_int(timeout_node)) <= 0)
    REFUSE("invalid 'waitTimeoutMs'");
#undef REFUSE
  attachment_arn = string_member(eni, "attachmentArn");
  lower = g_ascii_strdown(mac, -1);
  if (out_message_id != NULL)
    *out_message_id = g_strdup(message_id);

  if (g_hash_table_contains(self->by_mac, lower))
    {
      ecsa_log_info("Duplicate ENI attachment message for ENI with MAC address: %s", lower);
      return TRUE;
    }
  if (g_hash_table_size(self->by_mac) >= MAX_ATTACHMENTS)
    {
      ecsa_log_warn("Already tracking %u ENI attachments; ignoring the one of task '%s'", MAX_ATTACHMENTS, task_arn);
      return TRUE;
    }
  a = g_new0(Attachment, 1);
  a->task_arn = g_strdup(task_arn);
  a->attachment_arn = g_strdup(attachment_arn != NULL ? attachment_arn : "");
  a->mac = g_steal_pointer(&lower);
  a->expires_at = g_get_real_time() + timeout_ms * 1000;
  g_hash_table_insert(self->by_mac, a->mac, a);
  arm_expiry(self, a);
  ecsa_log_info("Adding eni info for task '%s' to state, attachment=%s mac=%s", a->task_arn, a->attachment_arn, a->mac);
  save(self);
  if (self->netlink_fd >= 0) /* it may be on the host already */
    reconcile(self);
  return TRUE;
}

void
ecsa_eni_attachments_forget_task(EcsaEniAttachments *self, const char *task_arn)
{
  GHashTableIter iter;
  Attachment *a;
  gboolean changed = FALSE;

  g_return_if_fail(self != NULL);
  g_hash_table_iter_init(&iter, self->by_mac);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&a))
    if (g_strcmp0(a->task_arn, task_arn) == 0)
      {
        g_hash_table_iter_remove(&iter);
        changed = TRUE;
      }
  if (changed)
    save(self);
}

void
ecsa_eni_attachments_forget_all(EcsaEniAttachments *self)
{
  g_return_if_fail(self != NULL);
  if (g_hash_table_size(self->by_mac) == 0)
    return;
  g_hash_table_remove_all(self->by_mac);
  save(self);
}

guint
ecsa_eni_attachments_count(EcsaEniAttachments *self)
{
  g_return_val_if_fail(self != NULL, 0);
  return g_hash_table_size(self->by_mac);
}

gboolean
ecsa_eni_attachments_is_sent(EcsaEniAttachments *self, const char *mac)
{
  g_autofree char *lower = NULL;
  Attachment *a;

  g_return_val_if_fail(self != NULL && mac != NULL, FALSE);
  lower = g_ascii_strdown(mac, -1);
  a = g_hash_table_lookup(self->by_mac, lower);
  return a != NULL && a->sent;
}

void
ecsa_eni_attachments_set_submitter(EcsaEniAttachments *self, const EcsaEniAttachmentSubmitter *submitter,
                                   gpointer user_data)
{
  g_return_if_fail(self != NULL);
  self->has_submitter = submitter != NULL;
  if (submitter != NULL)
    self->submitter = *submitter;
  self->submitter_data = user_data;
}

static void
restore(EcsaEniAttachments *self, JsonNode *section)
{
  JsonArray *array;
  gint64 now = g_get_real_time();

  if (section == NULL || !JSON_NODE_HOLDS_ARRAY(section))
    return;
  array = json_node_get_array(section);
  for (guint i = 0; i < json_array_get_length(array); i++)
    {
      JsonObject *o
        = JSON_NODE_HOLDS_OBJECT(json_array_get_element(array, i)) ? json_array_get_object_element(array, i) : NULL;
      const char *mac = string_member(o, "macAddress");
      const char *task_arn = string_member(o, "taskArn");
      Attachment *a;

      if (o == NULL || !valid_mac(mac) || task_arn == NULL)
        {
          ecsa_log_warn("ENI attachments: checkpoint entry %u is malformed, ignoring", i);
          continue;
        }
      a = g_new0(Attachment, 1);
      a->task_arn = g_strdup(task_arn);
      a->attachment_arn = g_strdup(string_member(o, "attachmentArn") != NULL ? string_member(o, "attachmentArn") : "");
      a->mac = g_ascii_strdown(mac, -1);
      a->sent = json_object_get_boolean_member_with_default(o, "attachSent", FALSE);
      a->expires_at = json_object_get_int_member_with_default(o, "expiresAtMs", 0) * 1000;
      if (!a->sent && a->expires_at <= now)
        {
          ecsa_log_info("ENI attachment of task '%s' (%s) expired while the agent was down, forgetting it", a->task_arn,
                        a->mac);
          attachment_free(a);
          continue;
        }
      g_hash_table_replace(self->by_mac, a->mac, a);
      if (!a->sent)
        arm_expiry(self, a);
    }
}

EcsaEniAttachments *
ecsa_eni_attachments_new(EcsaStateStore *store)
{
  EcsaEniAttachments *self = g_new0(EcsaEniAttachments, 1);

  self->store = store != NULL ? g_object_ref(store) : NULL;
  self->by_mac = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)attachment_free);
  self->netlink_fd = -1;
  self->cancellable = g_cancellable_new();
  if (store != NULL)
    {
      restore(self, ecsa_state_store_get_section(store, ECSA_ENI_ATTACHMENTS_SECTION));
      ecsa_state_store_register_section(store, ECSA_ENI_ATTACHMENTS_SECTION, serialize_cb, self);
    }
  return self;
}

void
ecsa_eni_attachments_free(EcsaEniAttachments *self)
{
  if (self == NULL)
    return;
  g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  if (self->store != NULL)
    ecsa_state_store_unregister_section(self->store, ECSA_ENI_ATTACHMENTS_SECTION);
  g_clear_object(&self->store);
  drop_source(&self->netlink_source);
  drop_source(&self->reconcile_timer);
  if (self->netlink_fd >= 0)
    close(self->netlink_fd);
  g_hash_table_unref(self->by_mac);
  g_free(self);
}
