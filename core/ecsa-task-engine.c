/* ecsa-task-engine.c: the task engine (see the header for the contract).
 *
 * Everything here runs on the main context. There is no thread per task: each task is a set of
 * flags and at most one Docker call in flight per container; progress() looks at a task and starts
 * whatever may start, and every completion (a Docker call, an event, a timer, an ACS update) calls
 * it again. Callbacks find their task by ARN and serial number, never by pointer, and a task is
 * forgotten only once nothing is in flight for it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-task-engine.h"

#include "ecsa-cgroup.h"
#include "ecsa-container-metadata.h"
#include "ecsa-log.h"
#include "ecsa-memory.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-task-view.h"
#include "ecsa-task.h"

#include <string.h>

#define SECTION_TASKS "tasks"
#define SECTION_IMAGES "images"
#define SAVE_DEBOUNCE_MS 5000 /* v1.16.2 saved at most every 10 s; what must be durable is saved at once */
#define PULL_MAX_ATTEMPTS 10  /* v1.16.2: maximumPullRetries */
#define PULL_RETRY_MIN_MS 250
#define PULL_RETRY_MAX_MS 1000
#define STOP_RETRY_MIN_US (1 * G_USEC_PER_SEC)
#define STOP_RETRY_MAX_US (30 * G_USEC_PER_SEC)
#define STOPPED_SENT_WAIT_LIMIT (72 * G_TIME_SPAN_HOUR) /* v1.16.2 waits 72 h for ECS to hear STOPPED */
#define EVENTS_CONNECT_WAIT_MS 10000
#define REASON_VANISHED "ContainerVanishedError: No container matching saved ID found"
#define REASON_OOM "OutOfMemoryError: Container killed due to memory usage"
#define REASON_CANNOT_STOP_TASK "TaskStateError: Agent could not progress task's state to stopped"
#define REASON_PLATFORM "TaskStateError: Agent could not create task's platform resources"
#define ZERO_TIME "0001-01-01T00:00:00Z"
#define EXECUTION_CREDENTIALS_WAIT_US (60 * G_USEC_PER_SEC) /* v1.16.2: waitForPullCredentialsTimeout */
#define EXECUTION_CREDENTIALS_RECHECK_US (2 * G_USEC_PER_SEC)
#define ABANDONED_CREATE_KEEP_S 3600 /* a saturated dockerd was seen finishing a create 5 min late */

typedef struct
{
  EcsaTaskEngine *engine; /* borrowed: the engine owns its tasks */
  EcsaTask *task;         /* the task this belongs to */
  guint64 serial;
  gboolean durable; /* in a durable checkpoint (or none is kept): containers may be created */
  gboolean cgroup_ready;
  gboolean cgroup_busy;
  GSource *progress_source;
  GSource *timer;
  gint64 timer_at; /* monotonic */
  guint inflight;  /* Docker and file calls in flight for this task */
  gint64 hold_started;
  gboolean stopped_handled;
  gboolean cleaning;
  guint cleanup_pending;
  gboolean net_torn_down;   /* awsvpc: teardown done (this run) */
  gboolean net_released;    /* awsvpc: release started (this run) */
  gboolean checkpoint_kept; /* the store holds the task's current checkpoint form */
} TaskRun;

typedef struct
{
  char *image_id;
  GPtrArray *names; /* char* */
  gint64 size;
  gint64 pulled_at;    /* unix seconds */
  gint64 last_used_at; /* unix seconds */
  GHashTable *users;   /* "<task arn>/<container>" -> NULL */
  gboolean inspecting;
} ImageState;

struct _EcsaTaskEngine
{
  GObject parent_instance;

  EcsaConfig *config;
  EcsaDockerClient *docker;
  EcsaStateStore *store;
  EcsaPluginRegistry *plugins;
  EcsaCredentialsManager *credentials;
  EcsaTaskNetwork *network; /* NULL: no awsvpc */
  EcsaImagePullBehavior pull_behavior;
  EcsaCgroup *cgroup;              /* NULL when task cgroups are off */
  EcsaContainerMetadata *metadata; /* NULL when container metadata is off */
  char *container_instance_arn;
  GMainContext *context;

  GHashTable *tasks;        /* arn -> EcsaTask* */
  GHashTable *by_docker_id; /* docker id -> EcsaContainer* (borrowed) */
  GHashTable *images;       /* image id -> ImageState* */
  GHashTable *disowned;     /* task ARN -> NULL: another EC2 instance's tasks, never recovered */
  gboolean disown_unlisted; /* after a reset: every labelled container found at start is disowned */
  GHashTable *unclaimed;    /* docker name -> docker id: created (its event came) while our create was pending */
  GHashTable *abandoned;    /* docker name -> expiry (monotonic s): a create that failed, Docker may still do it */
  guint64 next_serial;

  GCancellable *cancellable;
  GCancellable *parent_cancellable;
  gulong parent_handler;
  gboolean restored;
  gboolean started;
  gboolean stopping;
  gulong event_handler;
  gulong connected_handler;
  GSource *save_timer;
  GTask *start_task;
  GSource *start_wait;
  gboolean reconciling;
  guint reconcile_pending;
};

G_DEFINE_TYPE(EcsaTaskEngine, ecsa_task_engine, G_TYPE_OBJECT)

enum
{
  SIGNAL_STATE_CHANGE,
  SIGNAL_TASK_REMOVED,
  SIGNAL_RESET,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void schedule_progress(EcsaTaskEngine *self, EcsaTask *task);
static void progress(EcsaTaskEngine *self, EcsaTask *task);
static void request_save(EcsaTaskEngine *self, gboolean urgent);
static void container_change(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, EcsaContainerStatus status,
                             JsonObject *inspect);
static void start_stop(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c);
static void continue_cleanup(EcsaTaskEngine *self, EcsaTask *task);
static void reconcile_done(EcsaTaskEngine *self);
static void remove_orphan(EcsaTaskEngine *self, const char *id, const char *name, const char *why);

/* ------------------------------------------------------------------------------------------- */
/* small helpers */

static TaskRun *
run_of(EcsaTask *task)
{
  return task->engine_data;
}

static void
clear_source(GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy(*source);
      g_source_unref(*source);
      *source = NULL;
    }
}

static void
run_free(TaskRun *run)
{
  clear_source(&run->progress_source);
  clear_source(&run->timer);
  g_free(run);
}

static void
task_destroy(EcsaTask *task)
{
  if (task->engine_data != NULL)
    run_free(task->engine_data);
  task->engine_data = NULL;
  ecsa_task_free(task);
}

static void
image_state_free(ImageState *s)
{
  g_free(s->image_id);
  g_ptr_array_unref(s->names);
  g_hash_table_unref(s->users);
  g_free(s);
}

static ImageState *
image_state_get(EcsaTaskEngine *self, const char *image_id)
{
  ImageState *s = g_hash_table_lookup(self->images, image_id);

  if (s == NULL)
    {
      s = g_new0(ImageState, 1);
      s->image_id = g_strdup(image_id);
      s->names = g_ptr_array_new_with_free_func(g_free);
      s->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
      s->pulled_at = s->last_used_at = g_get_real_time() / G_USEC_PER_SEC;
      g_hash_table_insert(self->images, s->image_id, s);
    }
  return s;
}

static void
image_state_add_name(ImageState *s, const char *name)
{
  for (guint i = 0; i < s->names->len; i++)
    if (strcmp(s->names->pdata[i], name) == 0)
      return;
  g_ptr_array_add(s->names, g_strdup(name));
}

static ImageState *
image_state_by_name(EcsaTaskEngine *self, const char *name)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init(&it, self->images);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      ImageState *s = v;
      for (guint i = 0; i < s->names->len; i++)
        if (strcmp(s->names->pdata[i], name) == 0)
          return s;
    }
  return NULL;
}

static char *
user_key(EcsaTask *task, EcsaContainer *c)
{
  return g_strdup_printf("%s/%s", task->arn, c->name);
}

/* The task changed: its checkpoint form is stale, and a save is due. */
static void
touch(EcsaTaskEngine *self, EcsaTask *task)
{
  if (task != NULL)
    run_of(task)->checkpoint_kept = FALSE;
  request_save(self, FALSE);
}

static char *
reason_from_error(const char *name, const GError *error)
{
  return g_strdup_printf("%s: %s", name, error->message);
}

/* The first error stays, as v1.16.2 keeps the first ApplyingError. */
static void
set_reason(EcsaContainer *c, char *reason)
{
  if (c->reason == NULL)
    c->reason = reason;
  else
    g_free(reason);
  /* the awsvpc sandbox is never reported: its task says why it stopped */
  if (c->internal && c->task != NULL && c->task->reason == NULL && c->reason != NULL)
    c->task->reason = g_strdup(c->reason);
}

static gboolean
is_cancelled(const GError *error)
{
  return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static gboolean
wakeup_cb(gpointer user_data)
{
  TaskRun *run = user_data;

  g_clear_pointer(&run->timer, g_source_unref);
  run->timer_at = 0;
  progress(run->engine, run->task);
  return G_SOURCE_REMOVE;
}

/* Wake the task's progress at `when` (monotonic), keeping the earliest wake-up. */
static void
schedule_wakeup(EcsaTaskEngine *self, EcsaTask *task, gint64 when)
{
  TaskRun *run = run_of(task);
  gint64 delay_ms;

  if (run->timer != NULL && run->timer_at <= when)
    return;
  clear_source(&run->timer);
  delay_ms = MAX(0, (when - g_get_monotonic_time() + 999) / 1000);
  run->timer_at = when;
  run->timer = g_timeout_source_new((guint)MIN(delay_ms, (gint64)G_MAXUINT32));
  g_source_set_callback(run->timer, wakeup_cb, run, NULL);
  g_source_set_name(run->timer, "ecsa-task-wakeup");
  g_source_attach(run->timer, self->context);
}

static gboolean
progress_idle_cb(gpointer user_data)
{
  TaskRun *run = user_data;

  g_clear_pointer(&run->progress_source, g_source_unref);
  progress(run->engine, run->task);
  return G_SOURCE_REMOVE;
}

static void
schedule_progress(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);

  if (run->progress_source != NULL)
    return;
  run->progress_source = g_timeout_source_new(0);
  g_source_set_callback(run->progress_source, progress_idle_cb, run, NULL);
  g_source_set_name(run->progress_source, "ecsa-task-progress");
  g_source_attach(run->progress_source, self->context);
}

static void
add_task(EcsaTaskEngine *self, EcsaTask *task, gboolean durable)
{
  TaskRun *run = g_new0(TaskRun, 1);

  run->engine = self;
  run->task = task;
  run->serial = ++self->next_serial;
  run->durable = durable;
  task->engine_data = run;
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      c->task = task;
      if (c->docker_id != NULL)
        g_hash_table_replace(self->by_docker_id, c->docker_id, c);
    }
  g_hash_table_replace(self->tasks, task->arn, task);
}

static void
index_docker_id(EcsaTaskEngine *self, EcsaContainer *c, const char *id)
{
  if (c->docker_id != NULL && g_strcmp0(c->docker_id, id) == 0)
    return;
  if (c->docker_id != NULL)
    g_hash_table_remove(self->by_docker_id, c->docker_id);
  g_free(c->docker_id);
  c->docker_id = g_strdup(id);
  g_hash_table_replace(self->by_docker_id, c->docker_id, c);
}

/* ------------------------------------------------------------------------------------------- */
/* operations in flight: found again by ARN and serial */

typedef struct
{
  EcsaTaskEngine *engine; /* a reference */
  char *arn;
  guint64 serial;
  char *container; /* or NULL for task-level work */
  guint attempt;
  char *registry_auth; /* X-Registry-Auth (secret) */
  GSource *retry;
  gboolean counted; /* holds one unit of the task's inflight */
} Op;

static Op *
op_new(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  Op *op = g_new0(Op, 1);

  op->engine = g_object_ref(self);
  op->arn = g_strdup(task->arn);
  op->serial = run_of(task)->serial;
  op->container = c != NULL ? g_strdup(c->name) : NULL;
  op->counted = TRUE;
  run_of(task)->inflight++;
  return op;
}

static gboolean
op_resolve(Op *op, EcsaTask **out_task, EcsaContainer **out_c)
{
  EcsaTask *task = g_hash_table_lookup(op->engine->tasks, op->arn);

  if (task == NULL || run_of(task)->serial != op->serial)
    return FALSE;
  *out_task = task;
  if (out_c != NULL)
    *out_c = op->container != NULL ? ecsa_task_get_container(task, op->container) : NULL;
  return TRUE;
}

/* Release the op's hold on its task; the task may then be cleaned up. */
static void
op_free(Op *op)
{
  EcsaTask *task = NULL;

  if (op->counted && op_resolve(op, &task, NULL))
    {
      TaskRun *run = run_of(task);
      run->inflight--;
      if (run->inflight == 0 && run->cleaning)
        continue_cleanup(op->engine, task);
    }
  clear_source(&op->retry);
  if (op->registry_auth != NULL)
    {
      /* registered for redaction while the pull used it: the list must not grow with every pull */
      ecsa_log_remove_secret(op->registry_auth);
      memset(op->registry_auth, 0, strlen(op->registry_auth));
      g_free(op->registry_auth);
    }
  g_free(op->arn);
  g_free(op->container);
  g_object_unref(op->engine);
  g_free(op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Op, op_free)

/* ------------------------------------------------------------------------------------------- */
/* state changes for the reporter */

static EcsaStateChange *
container_state_change(EcsaTask *task, EcsaContainer *c, EcsaContainerStatus status)
{
  EcsaStateChange *sc = g_new0(EcsaStateChange, 1);

  sc->kind = ECSA_STATE_CHANGE_CONTAINER;
  sc->task_arn = g_strdup(task->arn);
  sc->container_name = g_strdup(c->name);
  sc->status = g_strdup(status == ECSA_CONTAINER_STOPPED ? "STOPPED" : "RUNNING");
  sc->reason = g_strdup(c->reason);
  sc->has_exit_code = status == ECSA_CONTAINER_STOPPED && c->has_exit_code;
  sc->exit_code = c->exit_code;
  sc->network_bindings = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_network_binding_free);
  for (guint i = 0; status != ECSA_CONTAINER_STOPPED && i < c->known_port_bindings->len; i++)
    {
      EcsaNetworkBinding *b = c->known_port_bindings->pdata[i];
      EcsaNetworkBinding *copy = g_new0(EcsaNetworkBinding, 1);
      copy->bind_ip = g_strdup(b->bind_ip);
      copy->container_port = b->container_port;
      copy->host_port = b->host_port;
      copy->protocol = g_strdup(b->protocol);
      g_ptr_array_add(sc->network_bindings, copy);
    }
  sc->timestamp = g_get_real_time();
  return sc;
}

static void
emit(EcsaTaskEngine *self, EcsaStateChange *change)
{
  g_signal_emit(self, signals[SIGNAL_STATE_CHANGE], 0, change);
  ecsa_state_change_free(change);
}

/* Emit what happened and was not emitted yet: containers first, then the task (v1.16.2's order). */
static void
emit_changes(EcsaTaskEngine *self, EcsaTask *task)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];

      if (c->known_status <= c->emitted_status || !ecsa_container_status_reportable(c, c->known_status))
        continue;
      c->emitted_status = c->known_status;
      ecsa_log_info("container '%s' of task '%s' is %s%s%s", c->name, task->arn,
                    c->known_status == ECSA_CONTAINER_STOPPED ? "STOPPED" : "RUNNING", c->reason != NULL ? ": " : "",
                    c->reason != NULL ? c->reason : "");
      emit(self, container_state_change(task, c, c->known_status));
    }
  if (task->known_status > task->emitted_status
      && (task->known_status == ECSA_TASK_RUNNING || task->known_status == ECSA_TASK_STOPPED))
    {
      EcsaStateChange *sc = g_new0(EcsaStateChange, 1);

      task->emitted_status = task->known_status;
      sc->kind = ECSA_STATE_CHANGE_TASK;
      sc->task_arn = g_strdup(task->arn);
      sc->status = g_strdup(ecsa_task_status_to_string(task->known_status));
      sc->reason = g_strdup(task->reason);
      sc->timestamp = g_get_real_time();
      /* as v1.16.2's SetTaskTimestamps: the task's own, each when known */
      sc->pull_started_at = task->pull_started_at;
      sc->pull_stopped_at = task->pull_stopped_at;
      sc->execution_stopped_at = task->execution_stopped_at;
      sc->containers = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_state_change_free);
      for (guint i = 0; i < task->containers->len; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          if (c->known_status > c->sent_status && ecsa_container_status_reportable(c, c->known_status))
            g_ptr_array_add(sc->containers, container_state_change(task, c, c->known_status));
        }
      ecsa_log_info("task '%s' is %s%s%s", task->arn, sc->status, task->reason != NULL ? ": " : "",
                    task->reason != NULL ? task->reason : "");
      emit(self, sc);
      /* a launch or a stop of many tasks freed its transient memory (documents, requests) */
      ecsa_memory_release_soon();
    }
}

static gboolean
status_from_backend(const EcsaContainer *c, const char *status, EcsaContainerStatus *out)
{
  if (g_strcmp0(status, "RUNNING") == 0)
    *out = c->steady_state;
  else if (g_strcmp0(status, "STOPPED") == 0)
    *out = ECSA_CONTAINER_STOPPED;
  else
    return FALSE;
  return TRUE;
}

static void
mark_container_sent(EcsaTask *task, const EcsaStateChange *change)
{
  EcsaContainer *c = change->container_name != NULL ? ecsa_task_get_container(task, change->container_name) : NULL;
  EcsaContainerStatus status;

  if (c == NULL || !status_from_backend(c, change->status, &status))
    return;
  if (status > c->sent_status)
    c->sent_status = status;
  if (status > c->emitted_status)
    c->emitted_status = status;
}

void
ecsa_task_engine_mark_sent(EcsaTaskEngine *self, const EcsaStateChange *change)
{
  EcsaTask *task;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  g_return_if_fail(change != NULL && change->task_arn != NULL);

  task = g_hash_table_lookup(self->tasks, change->task_arn);
  if (task == NULL)
    {
      ecsa_log_debug("state change of task '%s' acknowledged, but the task is not known, ignoring", change->task_arn);
      return;
    }
  if (change->kind == ECSA_STATE_CHANGE_CONTAINER)
    mark_container_sent(task, change);
  else
    {
      EcsaTaskStatus status = ECSA_TASK_NONE;
      if (ecsa_task_status_from_string(change->status, &status) && status > task->sent_status)
        task->sent_status = status;
      for (guint i = 0; change->containers != NULL && i < change->containers->len; i++)
        mark_container_sent(task, change->containers->pdata[i]);
      if (task->sent_status == ECSA_TASK_STOPPED)
        schedule_progress(self, task); /* cleanup may be waiting for this */
    }
  touch(self, task);
}

/* ------------------------------------------------------------------------------------------- */
/* checkpoint */

static void
append_json_string(EcsaStateStoreComposer *c, const char *s)
{
  g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s);
  g_autofree char *quoted = json_to_string(n, FALSE);

  ecsa_state_store_composer_append(c, quoted, -1);
}

/* The section, composed: each task's checkpoint form is a fragment, serialized only when the task
 * changed. The store keeps it in the checkpoint file, not in memory, once it is durable there. */
static void
tasks_section(EcsaStateStoreComposer *c, gpointer user_data)
{
  EcsaTaskEngine *self = user_data;
  GHashTableIter it;
  gpointer v;
  gboolean first = TRUE;

  ecsa_state_store_composer_append(c, "{\"tasks\":[", -1);
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      EcsaTask *task = v;
      TaskRun *run = run_of(task);

      if (!first)
        ecsa_state_store_composer_append(c, ",", 1);
      first = FALSE;
      if (!run->checkpoint_kept || !ecsa_state_store_composer_append_kept(c, task->arn))
        {
          g_autoptr(JsonNode) node = ecsa_task_to_checkpoint(task);
          char *text = json_to_string(node, FALSE);
          gsize text_len = strlen(text);
          /* the generator's buffer is up to twice the text: keep only the text until it is written */
          g_autoptr(GBytes) bytes = g_bytes_new_take(g_realloc(text, text_len + 1), text_len);

          ecsa_state_store_composer_append_fragment(c, task->arn, bytes);
          run->checkpoint_kept = TRUE;
        }
    }
  ecsa_state_store_composer_append(c, "]", 1);
  if (g_hash_table_size(self->disowned) > 0)
    {
      first = TRUE;
      ecsa_state_store_composer_append(c, ",\"disowned\":[", -1);
      g_hash_table_iter_init(&it, self->disowned);
      while (g_hash_table_iter_next(&it, &v, NULL))
        {
          if (!first)
            ecsa_state_store_composer_append(c, ",", 1);
          first = FALSE;
          append_json_string(c, v);
        }
      ecsa_state_store_composer_append(c, "]", 1);
    }
  if (self->disown_unlisted)
    ecsa_state_store_composer_append(c, ",\"disownUnlisted\":true", -1);
  ecsa_state_store_composer_append(c, "}", 1);
}

static JsonNode *
images_section(gpointer user_data)
{
  EcsaTaskEngine *self = user_data;
  g_autoptr(JsonBuilder) b = json_builder_new();
  GHashTableIter it;
  gpointer v;

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "images");
  json_builder_begin_array(b);
  g_hash_table_iter_init(&it, self->images);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      ImageState *s = v;
      GHashTableIter uit;
      gpointer u;

      json_builder_begin_object(b);
      json_builder_set_member_name(b, "imageId");
      json_builder_add_string_value(b, s->image_id);
      json_builder_set_member_name(b, "names");
      json_builder_begin_array(b);
      for (guint i = 0; i < s->names->len; i++)
        json_builder_add_string_value(b, s->names->pdata[i]);
      json_builder_end_array(b);
      json_builder_set_member_name(b, "size");
      json_builder_add_int_value(b, s->size);
      json_builder_set_member_name(b, "pulledAt");
      json_builder_add_int_value(b, s->pulled_at);
      json_builder_set_member_name(b, "lastUsedAt");
      json_builder_add_int_value(b, s->last_used_at);
      json_builder_set_member_name(b, "containers");
      json_builder_begin_array(b);
      g_hash_table_iter_init(&uit, s->users);
      while (g_hash_table_iter_next(&uit, &u, NULL))
        json_builder_add_string_value(b, u);
      json_builder_end_array(b);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

static void
save_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!ecsa_state_store_save_finish(ECSA_STATE_STORE(source), result, &error))
    ecsa_log_warn("%s", error->message);
}

static gboolean
save_timer_cb(gpointer user_data)
{
  EcsaTaskEngine *self = user_data;

  g_clear_pointer(&self->save_timer, g_source_unref);
  request_save(self, TRUE);
  return G_SOURCE_REMOVE;
}

/* urgent: now (the store still coalesces); otherwise within SAVE_DEBOUNCE_MS, batching bursts. */
static void
request_save(EcsaTaskEngine *self, gboolean urgent)
{
  if (self->store == NULL || !self->restored)
    return;
  if (!urgent)
    {
      if (self->save_timer == NULL)
        {
          self->save_timer = g_timeout_source_new(SAVE_DEBOUNCE_MS);
          g_source_set_callback(self->save_timer, save_timer_cb, self, NULL);
          g_source_set_name(self->save_timer, "ecsa-engine-save");
          g_source_attach(self->save_timer, self->context);
        }
      return;
    }
  clear_source(&self->save_timer);
  ecsa_state_store_save_async(self->store, NULL, save_done_cb, NULL);
}

static void
restore_images(EcsaTaskEngine *self, JsonNode *node)
{
  JsonObject *o;
  JsonArray *a;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    return;
  o = json_node_get_object(node);
  if (!json_object_has_member(o, "images") || !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "images")))
    return;
  a = json_object_get_array_member(o, "images");
  for (guint i = 0; i < json_array_get_length(a); i++)
    {
      JsonNode *e = json_array_get_element(a, i);
      JsonObject *io;
      const char *id;
      ImageState *s;

      if (!JSON_NODE_HOLDS_OBJECT(e))
        continue;
      io = json_node_get_object(e);
      id = json_object_get_string_member_with_default(io, "imageId", NULL);
      if (id == NULL || *id == '\0')
        continue;
      s = image_state_get(self, id);
      s->size = json_object_get_int_member_with_default(io, "size", 0);
      s->pulled_at = json_object_get_int_member_with_default(io, "pulledAt", s->pulled_at);
      s->last_used_at = json_object_get_int_member_with_default(io, "lastUsedAt", s->last_used_at);
      if (json_object_has_member(io, "names") && JSON_NODE_HOLDS_ARRAY(json_object_get_member(io, "names")))
        {
          JsonArray *names = json_object_get_array_member(io, "names");
          for (guint j = 0; j < json_array_get_length(names); j++)
            {
              JsonNode *n = json_array_get_element(names, j);
              if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
                image_state_add_name(s, json_node_get_string(n));
            }
        }
      if (json_object_has_member(io, "containers") && JSON_NODE_HOLDS_ARRAY(json_object_get_member(io, "containers")))
        {
          JsonArray *users = json_object_get_array_member(io, "containers");
          for (guint j = 0; j < json_array_get_length(users); j++)
            {
              JsonNode *n = json_array_get_element(users, j);
              if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
                g_hash_table_add(s->users, g_strdup(json_node_get_string(n)));
            }
        }
    }
}

/* The ARNs of another EC2 instance's tasks whose containers Docker still had (ecsa_task_engine_reset) */
static void
restore_disowned(EcsaTaskEngine *self, JsonNode *section)
{
  JsonObject *o = section != NULL && JSON_NODE_HOLDS_OBJECT(section) ? json_node_get_object(section) : NULL;
  JsonNode *list = o != NULL ? json_object_get_member(o, "disowned") : NULL;

  if (o == NULL)
    return;
  self->disown_unlisted = json_object_get_boolean_member_with_default(o, "disownUnlisted", FALSE);
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list))
    return;
  for (guint i = 0; i < json_array_get_length(json_node_get_array(list)); i++)
    {
      JsonNode *n = json_array_get_element(json_node_get_array(list), i);
      if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        g_hash_table_add(self->disowned, g_strdup(json_node_get_string(n)));
    }
}

void
ecsa_task_engine_reset(EcsaTaskEngine *self)
{
  g_autoptr(GPtrArray) arns = g_ptr_array_new_with_free_func(g_free);
  GHashTableIter it;
  gpointer k;
  guint n_images;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  g_return_if_fail(!self->started && self->start_task == NULL);

  ecsa_task_engine_restore(self);
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, &k, NULL))
    g_ptr_array_add(arns, g_strdup(k));
  n_images = g_hash_table_size(self->images);
  g_hash_table_remove_all(self->by_docker_id);
  g_hash_table_remove_all(self->tasks);
  g_hash_table_remove_all(self->images);
  /* whatever Docker has now with ECS labels was started for the other instance */
  self->disown_unlisted = TRUE;
  ecsa_log_warn("forgetting the %u tasks and %u images of the previous EC2 instance; their containers are left "
                "alone",
                arns->len, n_images);
  for (guint i = 0; i < arns->len; i++)
    g_signal_emit(self, signals[SIGNAL_TASK_REMOVED], 0, arns->pdata[i]);
  g_signal_emit(self, signals[SIGNAL_RESET], 0);
}

void
ecsa_task_engine_restore(EcsaTaskEngine *self)
{
  JsonNode *section;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));

  if (self->restored)
    return;
  self->restored = TRUE;
  if (self->store == NULL)
    return;
  section = ecsa_state_store_get_section(self->store, SECTION_TASKS);
  if (section != NULL && JSON_NODE_HOLDS_OBJECT(section)
      && json_object_has_member(json_node_get_object(section), "tasks")
      && JSON_NODE_HOLDS_ARRAY(json_object_get_member(json_node_get_object(section), "tasks")))
    {
      JsonArray *a = json_object_get_array_member(json_node_get_object(section), "tasks");
      for (guint i = 0; i < json_array_get_length(a); i++)
        {
          g_autoptr(GError) error = NULL;
          EcsaTask *task = ecsa_task_from_checkpoint(json_array_get_element(a, i), &error);

          if (task == NULL)
            {
              ecsa_log_warn("checkpoint: task #%u cannot be read (%s); its containers will be recovered from "
                            "their Docker labels",
                            i, error->message);
              continue;
            }
          if (g_hash_table_contains(self->tasks, task->arn))
            {
              ecsa_log_warn("checkpoint: task '%s' appears twice, ignoring the second", task->arn);
              ecsa_task_free(task);
              continue;
            }
          add_task(self, task, TRUE);
        }
    }
  else if (section != NULL)
    ecsa_log_warn("checkpoint: the '%s' section is not readable; tasks will be recovered from Docker labels",
                  SECTION_TASKS);
  restore_disowned(self, section);
  restore_images(self, ecsa_state_store_get_section(self->store, SECTION_IMAGES));
  ecsa_state_store_register_composed_section(self->store, SECTION_TASKS, tasks_section, self);
  ecsa_state_store_register_section(self->store, SECTION_IMAGES, images_section, self);
  if (g_hash_table_size(self->tasks) > 0)
    ecsa_log_info("restored %u tasks from the checkpoint", g_hash_table_size(self->tasks));
}

/* ------------------------------------------------------------------------------------------- */
/* what Docker says about a container */

static EcsaContainerStatus
status_from_inspect(JsonObject *inspect)
{
  JsonObject *state
    = json_object_has_member(inspect, "State") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(inspect, "State"))
        ? json_object_get_object_member(inspect, "State")
        : NULL;
  const char *started, *error;

  if (state == NULL)
    return ECSA_CONTAINER_NONE;
  if (json_object_get_boolean_member_with_default(state, "Running", FALSE))
    return ECSA_CONTAINER_RUNNING;
  if (json_object_get_boolean_member_with_default(state, "Dead", FALSE))
    return ECSA_CONTAINER_STOPPED;
  started = json_object_get_string_member_with_default(state, "StartedAt", ZERO_TIME);
  error = json_object_get_string_member_with_default(state, "Error", "");
  if (g_str_has_prefix(started, "0001-01-01") && *error == '\0')
    return ECSA_CONTAINER_CREATED;
  return ECSA_CONTAINER_STOPPED;
}

/* Exit code, OOM, Docker's error, bindings and pid from an inspect document. */
static void
apply_inspect(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, JsonObject *inspect)
{
  JsonObject *state
    = json_object_has_member(inspect, "State") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(inspect, "State"))
        ? json_object_get_object_member(inspect, "State")
        : NULL;
  gboolean running = state != NULL && json_object_get_boolean_member_with_default(state, "Running", FALSE);
  const char *id = json_object_get_string_member_with_default(inspect, "Id", NULL);
  const char *image_id = json_object_get_string_member_with_default(inspect, "Image", NULL);

  if (id != NULL && c->docker_id == NULL)
    index_docker_id(self, c, id);
  if (image_id != NULL && g_strcmp0(c->image_id, image_id) != 0)
    {
      g_free(c->image_id);
      c->image_id = g_strdup(image_id);
    }
  g_clear_pointer(&c->known_port_bindings, g_ptr_array_unref);
  c->known_port_bindings = ecsa_network_bindings_from_inspect(inspect);
  c->pid = running ? (int)json_object_get_int_member_with_default(state, "Pid", 0) : 0;
  if (state == NULL || running)
    return;
  if (!g_str_has_prefix(json_object_get_string_member_with_default(state, "FinishedAt", ZERO_TIME), "0001-01-01"))
    {
      c->has_exit_code = TRUE;
      c->exit_code = (int)json_object_get_int_member_with_default(state, "ExitCode", 0);
    }
  if (json_object_get_boolean_member_with_default(state, "OOMKilled", FALSE))
    set_reason(c, g_strdup(REASON_OOM));
  else if (*json_object_get_string_member_with_default(state, "Error", "") != '\0')
    set_reason(c, g_strdup_printf("DockerStateError: %s", json_object_get_string_member(state, "Error")));
}

static void record_image_use(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, gboolean add);

/* v1.16.2's handleContainerChange: move the container's known status forward (never back), with
 * what Docker said about it, then let the task react. */
static void
container_change(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, EcsaContainerStatus status,
                 JsonObject *inspect)
{
  EcsaContainerStatus old = c->known_status;

  if (status <= old)
    {
      if (old == ECSA_CONTAINER_STOPPED && status == ECSA_CONTAINER_RUNNING && !c->unexpected_restart_handled)
        {
          /* it came back after it stopped: stop it again, once */
          c->unexpected_restart_handled = TRUE;
          ecsa_log_warn("container '%s' of task '%s' runs again after it stopped; stopping it once more", c->name,
                        task->arn);
          if (c->applying == ECSA_CONTAINER_NONE)
            start_stop(self, task, c);
        }
      return;
    }
  if (inspect != NULL)
    apply_inspect(self, task, c, inspect);
  c->known_status = status;
  ecsa_log_debug("container '%s' of task '%s': %s -> %s", c->name, task->arn, ecsa_container_status_to_string(old),
                 ecsa_container_status_to_string(status));
  if (status == ECSA_CONTAINER_STOPPED)
    {
      if (c->essential && task->execution_stopped_at == 0)
        task->execution_stopped_at = g_get_real_time();
      if (self->plugins != NULL && c->docker_id != NULL && old >= ECSA_CONTAINER_RUNNING && !c->internal)
        ecsa_plugin_registry_metrics_container_stopped(self->plugins, c->docker_id);
    }
  if (status == ECSA_CONTAINER_RUNNING && !c->internal)
    {
      record_image_use(self, task, c, TRUE);
      if (self->plugins != NULL)
        {
          g_autoptr(EcsaTaskView) view = ecsa_task_view_new(task);
          const EcsaContainerView *cv = ecsa_task_view_get_container(view, c->name);
          ecsa_plugin_registry_metrics_container_started(self->plugins, view, cv);
        }
    }
  touch(self, task);
  schedule_progress(self, task);
}

/* ------------------------------------------------------------------------------------------- */
/* images */

static void
image_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_image_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTaskEngine *self = op->engine;
  ImageState *s;
  const char *id;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    return;
  id = json_object_get_string_member_with_default(json_node_get_object(node), "Id", NULL);
  if (id == NULL)
    return;
  s = image_state_get(self, id);
  s->inspecting = FALSE;
  s->size = json_object_get_int_member_with_default(json_node_get_object(node), "Size", s->size);
  request_save(self, FALSE);
}

static void
record_image_use(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, gboolean add)
{
  ImageState *s;
  g_autofree char *key = NULL;

  if (c->image_id == NULL)
    return;
  key = user_key(task, c);
  if (!add)
    {
      s = g_hash_table_lookup(self->images, c->image_id);
      if (s != NULL && g_hash_table_remove(s->users, key))
        s->last_used_at = g_get_real_time() / G_USEC_PER_SEC;
      return;
    }
  s = image_state_get(self, c->image_id);
  image_state_add_name(s, c->image);
  if (!g_hash_table_contains(s->users, key))
    {
      g_hash_table_add(s->users, g_steal_pointer(&key));
      s->last_used_at = g_get_real_time() / G_USEC_PER_SEC;
    }
  if (s->size == 0 && !s->inspecting && !self->stopping)
    {
      s->inspecting = TRUE;
      ecsa_docker_client_inspect_image_async(self->docker, s->image_id, self->cancellable, image_inspect_ready_cb,
                                             op_new(self, task, NULL));
    }
}

/* ------------------------------------------------------------------------------------------- */
/* pull */

static void pull_send(Op *op);

static gboolean
pull_retry_cb(gpointer user_data)
{
  Op *op = user_data;

  g_clear_pointer(&op->retry, g_source_unref);
  pull_send(op);
  return G_SOURCE_REMOVE;
}

static gboolean
pull_error_retriable(const GError *error)
{
  if (error->domain != ECSA_ERROR)
    return FALSE;
  if (error->code == ECSA_ERROR_NOT_FOUND || error->code == ECSA_ERROR_INVALID_DATA || error->code == ECSA_ERROR_TIMEOUT
      || error->code == ECSA_ERROR_AUTH)
    return FALSE;
  /* registries refuse credentials with a 500 whose text says so */
  if (strstr(error->message, "unauthorized") != NULL || strstr(error->message, "authentication required") != NULL
      || strstr(error->message, "no basic auth credentials") != NULL)
    return FALSE;
  return TRUE;
}

static void
pull_finished(Op *op, const GError *error)
{
  EcsaTaskEngine *self = op->engine;
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    return;
  c->applying = ECSA_CONTAINER_NONE;
  if (task->pull_started_at != 0) /* a pull was made (not only a look for a cached image) */
    task->pull_stopped_at = g_get_real_time();
  if (error != NULL && is_cancelled(error))
    return;
  if (error != NULL)
    {
      gboolean ecr = c->registry_auth != NULL && g_strcmp0(c->registry_auth->type, "ecr") == 0;
      set_reason(c, reason_from_error(ecr ? "CannotPullECRContainerError" : "CannotPullContainerError", error));
      if (self->pull_behavior != ECSA_IMAGE_PULL_DEFAULT)
        {
          ecsa_log_warn("pulling '%s' for container '%s' of task '%s' failed: %s", c->image, c->name, task->arn,
                        error->message);
          c->desired_status = ECSA_CONTAINER_STOPPED;
          touch(self, task);
          schedule_progress(self, task);
          return;
        }
      ecsa_log_warn("pulling '%s' for container '%s' of task '%s' failed, trying the cached image: %s", c->image,
                    c->name, task->arn, error->message);
    }
  else
    {
      ImageState *s = image_state_by_name(self, c->image);
      if (s != NULL)
        s->pulled_at = g_get_real_time() / G_USEC_PER_SEC;
    }
  container_change(self, task, c, ECSA_CONTAINER_PULLED, NULL);
}

static void
pull_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (!ecsa_docker_client_pull_image_finish(ECSA_DOCKER_CLIENT(source), result, &error) && !is_cancelled(error)
      && op_resolve(op, &task, &c) && c != NULL && pull_error_retriable(error) && op->attempt < PULL_MAX_ATTEMPTS
      && !op->engine->stopping)
    {
      /* v1.16.2 retries a pull up to 10 times, 250 ms to 1 s apart */
      guint delay = PULL_RETRY_MIN_MS;
      for (guint i = 1; i < op->attempt; i++)
        delay = MIN((guint)(delay * 1.5), PULL_RETRY_MAX_MS);
      delay = (guint)(delay * (0.8 + g_random_double() * 0.4));
      ecsa_log_info("pulling '%s' (attempt %u of %u) failed, retrying in %u ms: %s", c->image, op->attempt,
                    PULL_MAX_ATTEMPTS, delay, error->message);
      op->retry = g_timeout_source_new(delay);
      g_source_set_callback(op->retry, pull_retry_cb, op, NULL);
      g_source_attach(op->retry, op->engine->context);
      return;
    }
  if (error != NULL && op->registry_auth != NULL && !pull_error_retriable(error) && op->engine->plugins != NULL
      && op_resolve(op, &task, &c) && c != NULL
      && (strstr(error->message, "unauthorized") != NULL || strstr(error->message, "authentication required") != NULL))
    {
      /* the registry refused what the plugin gave: let it forget any cached copy */
      g_autoptr(EcsaTaskView) view = ecsa_task_view_new(task);
      g_autofree char *registry = ecsa_docker_image_registry(c->image);
      EcsaAuthRequest req
        = { .struct_size = sizeof(EcsaAuthRequest),
            .image = c->image,
            .registry = registry,
            .auth_type = c->registry_auth != NULL ? c->registry_auth->type : op->engine->config->engine_auth_type,
            .task = view };
      ecsa_plugin_registry_auth_invalidate(op->engine->plugins, &req);
    }
  pull_finished(op, error);
  op_free(op);
}

static void
pull_send(Op *op)
{
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL || op->engine->stopping)
    {
      g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      pull_finished(op, cancelled);
      op_free(op);
      return;
    }
  op->attempt++;
  ecsa_docker_client_pull_image_async(op->engine->docker, c->image, op->registry_auth, op->engine->cancellable,
                                      pull_ready_cb, op);
}

static void
auth_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) creds = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  creds = ecsa_plugin_registry_auth_get_credentials_finish(op->engine->plugins, result, &error);
  if (error != NULL)
    {
      gboolean ecr = FALSE;
      if (op_resolve(op, &task, &c) && c != NULL)
        ecr = c->registry_auth != NULL && g_strcmp0(c->registry_auth->type, "ecr") == 0;
      /* v1.16.2 pulls anonymously for an unknown ECS_ENGINE_AUTH_TYPE; an ECR pull needs its plugin */
      if (!g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED) || ecr)
        {
          pull_finished(op, error);
          op_free(op);
          return;
        }
      ecsa_log_debug("%s; pulling anonymously", error->message);
    }
  if (creds != NULL)
    {
      op->registry_auth = ecsa_docker_client_encode_registry_auth(creds);
      ecsa_log_add_secret(op->registry_auth);
    }
  pull_send(op);
}

static void
pull_with_auth(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, Op *op)
{
  const char *auth_type = c->registry_auth != NULL && c->registry_auth->type != NULL ? c->registry_auth->type
                                                                                     : self->config->engine_auth_type;
  g_autoptr(EcsaTaskView) view = NULL;
  g_autofree char *registry = NULL;
  EcsaAuthRequest req = { 0 };
  EcsaAwsCredentials exec = { 0 };

  /* the task's first pull, its registry authentication included (v1.16.2: PullStartedAt) */
  if (task->pull_started_at == 0)
    task->pull_started_at = g_get_real_time();
  if (self->plugins == NULL || auth_type == NULL || *auth_type == '\0')
    {
      pull_send(op);
      return;
    }
  view = ecsa_task_view_new(task);
  registry = ecsa_docker_image_registry(c->image);
  req.struct_size = sizeof(EcsaAuthRequest);
  req.use_execution_role = c->registry_auth != NULL && c->registry_auth->ecr_use_execution_role;
  req.image = c->image;
  req.registry = registry;
  req.auth_type = auth_type;
  if (c->registry_auth != NULL)
    {
      req.ecr_registry_id = c->registry_auth->ecr_registry_id;
      req.ecr_region = c->registry_auth->ecr_region;
      req.ecr_endpoint_override = c->registry_auth->ecr_endpoint_override;
    }
  if (req.use_execution_role && self->credentials != NULL && task->execution_credentials_id != NULL)
    {
      const EcsaTaskCredentials *tc = ecsa_credentials_manager_get(self->credentials, task->execution_credentials_id);
      if (tc != NULL && !tc->pending)
        {
          exec.struct_size = sizeof(EcsaAwsCredentials);
          exec.access_key_id = tc->access_key_id;
          exec.secret_access_key = tc->secret_access_key;
          exec.session_token = tc->session_token != NULL ? tc->session_token : "";
          exec.role_arn = tc->role_arn != NULL ? tc->role_arn : "";
          req.execution_credentials = &exec;
        }
    }
  req.task = view;
  ecsa_plugin_registry_auth_get_credentials_async(self->plugins, &req, self->cancellable, auth_ready_cb, op);
}

/* ECS_IMAGE_PULL_BEHAVIOR=prefer-cached: inspections of the image before a pull is decided */
#define CACHED_INSPECT_ATTEMPTS 4

static gboolean cached_image_retry_cb(gpointer user_data);

static void
cached_image_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_image_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    {
      op_free(op);
      return;
    }
  if (node != NULL)
    {
      ecsa_log_debug("image '%s' is cached; not pulling it", c->image);
      c->applying = ECSA_CONTAINER_NONE;
      container_change(op->engine, task, c, ECSA_CONTAINER_PULLED, NULL);
      op_free(op);
      return;
    }
  if (is_cancelled(error))
    {
      pull_finished(op, error);
      op_free(op);
      return;
    }
  /* only Docker's "no such image" means not cached: a busy daemon that did not answer in time is
   * asked again, not taken as a reason to pull (a pull from a registry that may not even be
   * reachable) */
  if (!g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND) && ++op->attempt < CACHED_INSPECT_ATTEMPTS)
    {
      ecsa_log_info("pulling '%s' only if not cached, but %s; asking again", c->image, error->message);
      op->retry = g_timeout_source_new(1000u << op->attempt);
      g_source_set_callback(op->retry, cached_image_retry_cb, op, NULL);
      g_source_attach(op->retry, op->engine->context);
      return;
    }
  op->attempt = 0;
  pull_with_auth(op->engine, task, c, op);
}

static gboolean
cached_image_retry_cb(gpointer user_data)
{
  Op *op = user_data;
  EcsaTask *task;
  EcsaContainer *c;

  g_clear_pointer(&op->retry, g_source_unref);
  if (!op_resolve(op, &task, &c) || c == NULL)
    op_free(op);
  else
    ecsa_docker_client_inspect_image_async(op->engine->docker, c->image, op->engine->cancellable, cached_image_ready_cb,
                                           op);
  return G_SOURCE_REMOVE;
}

static void
start_pull(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  Op *op = op_new(self, task, c);

  c->applying = ECSA_CONTAINER_PULLED;
  if (self->pull_behavior == ECSA_IMAGE_PULL_ONCE && image_state_by_name(self, c->image) != NULL)
    {
      c->applying = ECSA_CONTAINER_NONE;
      container_change(self, task, c, ECSA_CONTAINER_PULLED, NULL);
      op_free(op);
      return;
    }
  if (self->pull_behavior == ECSA_IMAGE_PULL_PREFER_CACHED)
    {
      ecsa_docker_client_inspect_image_async(self->docker, c->image, self->cancellable, cached_image_ready_cb, op);
      return;
    }
  pull_with_auth(self, task, c, op);
}

/* ------------------------------------------------------------------------------------------- */
/* create */

typedef struct
{
  Op *op;
  guint volumes_pending;
  char *metadata_bind;
  char *metadata_env;
  GError *error;
} CreateData;

static void create_send(CreateData *cd);

static void
create_data_free(CreateData *cd)
{
  if (cd->op != NULL)
    op_free(cd->op);
  g_free(cd->metadata_bind);
  g_free(cd->metadata_env);
  g_clear_error(&cd->error);
  g_free(cd);
}

/* Docker may still make a container whose create failed on our side (a timeout, a lost
 * connection): its name is kept for a while, and a container made under it is removed. */
static void
abandon_create(EcsaTaskEngine *self, const char *docker_name)
{
  gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init(&it, self->abandoned);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (GPOINTER_TO_SIZE(v) < (gsize)now)
      g_hash_table_iter_remove(&it);
  g_hash_table_replace(self->abandoned, g_strdup(docker_name),
                       GSIZE_TO_POINTER((gsize)(now + ABANDONED_CREATE_KEEP_S)));
}

/* The create failed: v1.16.2 stops the container (its essential flag then decides for the task). */
static void
create_failed(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, const GError *error)
{
  const char *unclaimed = g_hash_table_lookup(self->unclaimed, c->docker_name);

  c->applying = ECSA_CONTAINER_NONE;
  if (unclaimed != NULL)
    {
      /* Docker made it after all, after our create gave up and our look found nothing */
      remove_orphan(self, unclaimed, c->docker_name, "its create had failed");
      g_hash_table_remove(self->unclaimed, c->docker_name);
    }
  if (is_cancelled(error))
    return;
  abandon_create(self, c->docker_name);
  ecsa_log_warn("creating container '%s' of task '%s' as '%s' failed: %s", c->name, task->arn, c->docker_name,
                error->message);
  set_reason(c, error->domain == ECSA_ERROR && g_str_has_prefix(error->message, "HostConfigError")
                  ? g_strdup(error->message)
                  : reason_from_error("CannotCreateContainerError", error));
  c->desired_status = ECSA_CONTAINER_STOPPED;
  touch(self, task);
  schedule_progress(self, task);
}

static void
create_adopt_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *cd = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task;
  EcsaContainer *c;
  JsonObject *labels = NULL;

  if (!op_resolve(cd->op, &task, &c) || c == NULL)
    {
      create_data_free(cd);
      return;
    }
  if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
    {
      JsonObject *config = json_object_get_object_member(json_node_get_object(node), "Config");
      if (config != NULL && json_object_has_member(config, "Labels")
          && JSON_NODE_HOLDS_OBJECT(json_object_get_member(config, "Labels")))
        labels = json_object_get_object_member(config, "Labels");
    }
  if (labels != NULL
      && g_strcmp0(json_object_get_string_member_with_default(labels, ECSA_LABEL_TASK_ARN, NULL), task->arn) == 0
      && g_strcmp0(json_object_get_string_member_with_default(labels, ECSA_LABEL_CONTAINER_NAME, NULL), c->name) == 0)
    {
      /* Docker did create it (a timeout, or a crash before the ID was saved): adopt it */
      JsonObject *inspect = json_node_get_object(node);
      ecsa_log_info("container '%s' of task '%s' exists already as '%s'; adopting it", c->name, task->arn,
                    c->docker_name);
      c->applying = ECSA_CONTAINER_NONE;
      g_hash_table_remove(cd->op->engine->unclaimed, c->docker_name);
      index_docker_id(cd->op->engine, c, json_object_get_string_member(inspect, "Id"));
      container_change(cd->op->engine, task, c, ECSA_CONTAINER_CREATED, NULL);
      container_change(cd->op->engine, task, c, status_from_inspect(inspect), inspect);
      create_data_free(cd);
      return;
    }
  create_failed(cd->op->engine, task, c, cd->error);
  create_data_free(cd);
}

static void
create_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *cd = user_data;
  EcsaTaskEngine *self = cd->op->engine;
  g_autofree char *id = ecsa_docker_client_create_container_finish(ECSA_DOCKER_CLIENT(source), result, &cd->error);
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(cd->op, &task, &c) || c == NULL)
    {
      create_data_free(cd);
      return;
    }
  if (id == NULL)
    {
      if (is_cancelled(cd->error))
        {
          c->applying = ECSA_CONTAINER_NONE;
          create_data_free(cd);
          return;
        }
      /* the container may exist anyway (a timeout after Docker created it, a name taken by an
       * earlier run): look before giving up */
      ecsa_docker_client_inspect_container_async(self->docker, c->docker_name, self->cancellable, create_adopt_ready_cb,
                                                 cd);
      return;
    }
  c->applying = ECSA_CONTAINER_NONE;
  g_hash_table_remove(self->unclaimed, c->docker_name);
  index_docker_id(self, c, id);
  ecsa_log_info("created container '%s' of task '%s': %s (%.12s)", c->name, task->arn, c->docker_name, id);
  container_change(self, task, c, ECSA_CONTAINER_CREATED, NULL);
  create_data_free(cd);
}

/* awsvpc: the sandbox is created from the network's document; the task's containers join its
 * namespace. */
static gboolean
sandbox_create_context(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, const char *cgroup_parent,
                       EcsaCreateContext *ctx, char **out_network_mode, JsonNode **out_body, GError **error)
{
  EcsaContainer *sandbox = ecsa_task_get_sandbox(task);

  if (self->network == NULL)
    {
      g_set_error_literal(
        error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
        "the task uses awsvpc networking, which is not enabled on this instance (ECS_ENABLE_TASK_ENI)");
      return FALSE;
    }
  if (c->internal)
    {
      *out_body = ecsa_task_network_sandbox_create_body(self->network, task, cgroup_parent);
      return TRUE;
    }
  if (sandbox == NULL || sandbox->docker_id == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_FAILED, "the task's network sandbox does not exist");
      return FALSE;
    }
  *out_network_mode = ecsa_task_network_container_network_mode(sandbox->docker_id);
  ctx->network_mode = *out_network_mode;
  return TRUE;
}

static void
create_send(CreateData *cd)
{
  EcsaTaskEngine *self = cd->op->engine;
  EcsaTask *task;
  EcsaContainer *c;
  g_autofree char *cgroup_parent = NULL;
  g_autoptr(GHashTable) log_options = NULL;
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(GError) error = NULL;
  const char *binds[2] = { cd->metadata_bind, NULL };
  const char *env[2] = { cd->metadata_env, NULL };
  EcsaCreateContext ctx = { 0 };
  g_autofree char *network_mode = NULL;

  if (!op_resolve(cd->op, &task, &c) || c == NULL || self->stopping)
    {
      if (op_resolve(cd->op, &task, &c) && c != NULL)
        c->applying = ECSA_CONTAINER_NONE;
      create_data_free(cd);
      return;
    }
  if (cd->error != NULL)
    {
      create_failed(self, task, c, cd->error);
      create_data_free(cd);
      return;
    }
  if (task->cgroup_enabled && self->cgroup != NULL)
    cgroup_parent = ecsa_cgroup_task_path(ecsa_task_get_id(task));
  if (self->plugins != NULL && c->log_driver != NULL)
    {
      g_autoptr(EcsaTaskView) view = ecsa_task_view_new(task);
      const EcsaContainerView *cv = ecsa_task_view_get_container(view, c->name);
      GHashTableIter it;
      gpointer k, v;

      log_options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_iter_init(&it, c->log_options);
      while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(log_options, g_strdup(k), g_strdup(v));
      if (!ecsa_plugin_registry_log_driver_prepare(self->plugins, view, cv, log_options, &error))
        {
          create_failed(self, task, c, error);
          create_data_free(cd);
          return;
        }
    }
  if (task->eni != NULL && !sandbox_create_context(self, task, c, cgroup_parent, &ctx, &network_mode, &body, &error))
    {
      create_failed(self, task, c, error);
      create_data_free(cd);
      return;
    }
  if (body != NULL)
    {
      ecsa_docker_client_create_container_async(self->docker, c->docker_name, body, NULL, self->cancellable,
                                                create_ready_cb, cd);
      return;
    }
  ctx.api_version = c->docker_version != NULL ? c->docker_version : ecsa_docker_client_get_api_version(self->docker);
  ctx.cluster = self->config->cluster;
  ctx.cgroup_parent = cgroup_parent;
  ctx.log_options = log_options;
  ctx.extra_binds = cd->metadata_bind != NULL ? binds : NULL;
  ctx.extra_env = cd->metadata_env != NULL ? env : NULL;
  body = ecsa_task_build_create_body(task, c, &ctx, &error);
  if (body == NULL)
    {
      create_failed(self, task, c, error);
      create_data_free(cd);
      return;
    }
  ecsa_docker_client_create_container_async(self->docker, c->docker_name, body, c->docker_version, self->cancellable,
                                            create_ready_cb, cd);
}

static void
create_after_prep(CreateData *cd)
{
  if (cd->volumes_pending > 0)
    return;
  create_send(cd);
}

static void
metadata_create_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *cd = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_container_metadata_create_finish(cd->op->engine->metadata, result, &cd->metadata_bind, &cd->metadata_env,
                                             &error))
    ecsa_log_warn("%s; creating the container without it", error->message);
  cd->volumes_pending--;
  create_after_prep(cd);
}

static void
volume_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *cd = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_docker_client_create_volume_finish(ECSA_DOCKER_CLIENT(source), result, &error) && cd->error == NULL)
    {
      cd->error = g_error_new(ECSA_ERROR, ECSA_ERROR_FAILED, "CreateEmptyVolumeError: %s", error->message);
      if (is_cancelled(error))
        g_set_error_literal(&cd->error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
    }
  cd->volumes_pending--;
  create_after_prep(cd);
}

static void
start_create(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  CreateData *cd = g_new0(CreateData, 1);
  g_autoptr(GHashTable) labels = g_hash_table_new(g_str_hash, g_str_equal);

  cd->op = op_new(self, task, c);
  c->applying = ECSA_CONTAINER_CREATED;
  /* count the preparations so the create starts after the last one */
  cd->volumes_pending = 1;
  g_hash_table_insert(labels, (gpointer)ECSA_LABEL_TASK_ARN, task->arn);
  for (guint i = 0; i < c->mount_points->len; i++)
    {
      EcsaMountPoint *m = c->mount_points->pdata[i];
      EcsaVolume *v = ecsa_task_get_volume(task, m->source_volume);
      if (v == NULL || v->source_path != NULL || v->docker_volume == NULL)
        continue;
      cd->volumes_pending++;
      ecsa_docker_client_create_volume_async(self->docker, v->docker_volume, labels, self->cancellable, volume_ready_cb,
                                             cd);
    }
  if (self->metadata != NULL && !c->internal)
    {
      cd->volumes_pending++;
      ecsa_container_metadata_create_async(self->metadata, task->arn, ecsa_task_get_id(task), c->name,
                                           self->cancellable, metadata_create_ready_cb, cd);
    }
  cd->volumes_pending--;
  create_after_prep(cd);
}

/* ------------------------------------------------------------------------------------------- */
/* start */

static void
metadata_update_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (!ecsa_container_metadata_update_finish(op->engine->metadata, result, &error))
    {
      ecsa_log_warn("%s", error->message);
      return;
    }
  if (op_resolve(op, &task, &c) && c != NULL && !c->metadata_file_updated)
    {
      c->metadata_file_updated = TRUE;
      touch(op->engine, task);
    }
}

static void
update_metadata(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, JsonObject *inspect)
{
  if (self->metadata == NULL || c->internal || c->metadata_file_updated
      || status_from_inspect(inspect) != ECSA_CONTAINER_RUNNING)
    return;
  ecsa_container_metadata_update_async(self->metadata, task->arn, ecsa_task_get_id(task), c->name, inspect,
                                       self->cancellable, metadata_update_ready_cb, op_new(self, task, c));
}

#define START_INSPECT_ATTEMPTS 4

static void start_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static gboolean
start_inspect_retry_cb(gpointer user_data)
{
  Op *op = user_data;
  EcsaTask *task;
  EcsaContainer *c;

  g_clear_pointer(&op->retry, g_source_unref);
  if (!op_resolve(op, &task, &c) || c == NULL || op->engine->stopping)
    {
      if (op_resolve(op, &task, &c) && c != NULL)
        c->applying = ECSA_CONTAINER_NONE;
      op_free(op);
      return G_SOURCE_REMOVE;
    }
  ecsa_docker_client_inspect_container_async(op->engine->docker, c->docker_id, op->engine->cancellable,
                                             start_inspect_ready_cb, op);
  return G_SOURCE_REMOVE;
}

/* After a start, what Docker says about the container (its network bindings above all) is
 * reported with RUNNING; a failed inspect is tried again before RUNNING goes out without it. */
static void
start_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task;
  EcsaContainer *c;
  JsonObject *inspect;
  gboolean exited;

  if (!op_resolve(op, &task, &c) || c == NULL)
    {
      op_free(op);
      return;
    }
  if ((node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) && !is_cancelled(error)
      && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND) && ++op->attempt < START_INSPECT_ATTEMPTS)
    {
      ecsa_log_info("started container '%s' of task '%s', but %s; asking again", c->name, task->arn, error->message);
      op->retry = g_timeout_source_new(1000u << op->attempt);
      g_source_set_callback(op->retry, start_inspect_retry_cb, op, NULL);
      g_source_attach(op->retry, op->engine->context);
      return;
    }
  c->applying = ECSA_CONTAINER_NONE;
  schedule_progress(op->engine, task); /* an event may have moved it already */
  /* Its exit may be known already: under load, the die event's inspection can answer before the
   * start's own. It did not run again then: no RUNNING after STOPPED (which stops it once more). */
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    {
      if (!is_cancelled(error))
        {
          ecsa_log_warn("started container '%s' of task '%s', but %s", c->name, task->arn, error->message);
          if (c->known_status < ECSA_CONTAINER_STOPPED)
            container_change(op->engine, task, c, ECSA_CONTAINER_RUNNING, NULL);
        }
      op_free(op);
      return;
    }
  inspect = json_node_get_object(node);
  exited = status_from_inspect(inspect) == ECSA_CONTAINER_STOPPED;
  if (!exited || c->known_status < ECSA_CONTAINER_STOPPED)
    container_change(op->engine, task, c, ECSA_CONTAINER_RUNNING, inspect);
  if (exited)
    container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, inspect);
  else
    update_metadata(op->engine, task, c, inspect);
  op_free(op);
}

static void
start_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    {
      op_free(op);
      return;
    }
  if (!ecsa_docker_client_start_container_finish(ECSA_DOCKER_CLIENT(source), result, &error))
    {
      c->applying = ECSA_CONTAINER_NONE;
      if (!is_cancelled(error))
        {
          ecsa_log_warn("starting container '%s' of task '%s' failed: %s", c->name, task->arn, error->message);
          /* a timed-out start may still happen: dockerd works through its queue after we gave up */
          c->start_unsure = g_error_matches(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
          set_reason(c, reason_from_error("CannotStartContainerError", error));
          c->desired_status = ECSA_CONTAINER_STOPPED;
          touch(op->engine, task);
          schedule_progress(op->engine, task);
        }
      op_free(op);
      return;
    }
  ecsa_docker_client_inspect_container_async(op->engine->docker, c->docker_id, op->engine->cancellable,
                                             start_inspect_ready_cb, op);
}

static void
start_start(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  c->applying = ECSA_CONTAINER_RUNNING;
  ecsa_docker_client_start_container_async(self->docker, c->docker_id, c->docker_version, self->cancellable,
                                           start_ready_cb, op_new(self, task, c));
}

/* ------------------------------------------------------------------------------------------- */
/* stop */

static void
stop_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    return;
  c->applying = ECSA_CONTAINER_NONE;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    {
      if (is_cancelled(error))
        return;
      if (g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        set_reason(c, g_strdup(REASON_VANISHED));
      container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, NULL);
      return;
    }
  container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, json_node_get_object(node));
}

static void
stop_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    {
      op_free(op);
      return;
    }
  if (!ecsa_docker_client_stop_container_finish(ECSA_DOCKER_CLIENT(source), result, &error))
    {
      c->applying = ECSA_CONTAINER_NONE;
      if (is_cancelled(error))
        {
          op_free(op);
          return;
        }
      if (g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        {
          /* v1.16.2: "no such container" is not retried; the container is gone */
          set_reason(c, reason_from_error("CannotStopContainerError", error));
          container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, NULL);
          op_free(op);
          return;
        }
      /* a timeout or a daemon error: keep the status and try again, with backoff */
      c->stop_failures++;
      {
        gint64 delay = STOP_RETRY_MIN_US;
        for (guint i = 1; i < c->stop_failures && delay < STOP_RETRY_MAX_US; i++)
          delay *= 2;
        delay = MIN(delay, STOP_RETRY_MAX_US);
        c->retry_at = g_get_monotonic_time() + delay;
        ecsa_log_warn("stopping container '%s' of task '%s' failed, retrying in %" G_GINT64_FORMAT " s: %s", c->name,
                      task->arn, delay / G_USEC_PER_SEC, error->message);
        schedule_wakeup(op->engine, task, c->retry_at);
      }
      op_free(op);
      return;
    }
  c->stop_failures = 0;
  ecsa_docker_client_inspect_container_async(op->engine->docker, c->docker_id, op->engine->cancellable,
                                             stop_inspect_ready_cb, op);
}

static void
start_stop(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  guint timeout_s = (guint)MAX(1, self->config->docker_stop_timeout / G_USEC_PER_SEC);

  if (c->docker_id == NULL)
    {
      container_change(self, task, c, ECSA_CONTAINER_STOPPED, NULL);
      return;
    }
  c->applying = ECSA_CONTAINER_STOPPED;
  ecsa_log_info("stopping container '%s' of task '%s' (stop timeout %u s)", c->name, task->arn, timeout_s);
  ecsa_docker_client_stop_container_async(self->docker, c->docker_id, timeout_s, self->cancellable, stop_ready_cb,
                                          op_new(self, task, c));
}

/* ------------------------------------------------------------------------------------------- */
/* awsvpc: the sandbox's network (v1.16.2's provisionContainerResources and
 * cleanupPauseContainerNetwork), the ENI released when the task is STOPPED */

static void
setup_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (op->engine->network == NULL) /* shut down */
    return;
  res = ecsa_task_network_setup_finish(op->engine->network, result, &error);
  if (!op_resolve(op, &task, &c) || c == NULL)
    return;
  c->applying = ECSA_CONTAINER_NONE;
  if (res == NULL)
    {
      if (is_cancelled(error))
        return;
      ecsa_log_warn("setting up the network of task '%s' failed: %s", task->arn, error->message);
      set_reason(c, reason_from_error("ContainerNetworkingError", error));
      if (task->reason == NULL)
        task->reason = g_strdup(c->reason); /* the sandbox is not reported: the task says why */
      c->desired_status = ECSA_CONTAINER_STOPPED;
      touch(op->engine, task);
      schedule_progress(op->engine, task);
      return;
    }
  ecsa_log_info("task '%s' has its network: ENI '%s' (%s%s%s)", task->arn, task->eni->id != NULL ? task->eni->id : "",
                res->ipv4_address != NULL ? res->ipv4_address : "no IPv4 address",
                res->ipv6_address != NULL ? ", " : "", res->ipv6_address != NULL ? res->ipv6_address : "");
  container_change(op->engine, task, c, ECSA_CONTAINER_RESOURCES_PROVISIONED, NULL);
}

static void
setup_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  g_autoptr(EcsaTaskView) view = NULL;
  EcsaTask *task;
  EcsaContainer *c;

  if (!op_resolve(op, &task, &c) || c == NULL)
    {
      op_free(op);
      return;
    }
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)
      || status_from_inspect(json_node_get_object(node)) != ECSA_CONTAINER_RUNNING)
    {
      c->applying = ECSA_CONTAINER_NONE;
      if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
        {
          /* it stopped already: the task stops */
          container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, json_node_get_object(node));
        }
      else if (!is_cancelled(error))
        {
          ecsa_log_warn("setting up the network of task '%s': %s", task->arn, error->message);
          set_reason(c, reason_from_error("ContainerNetworkingError", error));
          if (task->reason == NULL)
            task->reason = g_strdup(c->reason);
          c->desired_status = ECSA_CONTAINER_STOPPED;
          touch(op->engine, task);
          schedule_progress(op->engine, task);
        }
      op_free(op);
      return;
    }
  apply_inspect(op->engine, task, c, json_node_get_object(node));
  view = ecsa_task_view_new(task);
  ecsa_task_network_setup_async(op->engine->network, view, task->eni, c->docker_id, c->pid, op->engine->cancellable,
                                setup_ready_cb, op);
}

/* The sandbox runs: the plugin configures its namespace (v1.16.2 inspects it for its PID first). */
static void
start_setup(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  if (self->network == NULL || task->eni == NULL)
    {
      /* a task recovered from Docker labels has no ENI definition: its sandbox is what it is */
      ecsa_log_warn("the network of task '%s' cannot be set up here (%s); taking its sandbox as it is", task->arn,
                    self->network == NULL ? "task ENIs are not enabled" : "its ENI is not known");
      container_change(self, task, c, ECSA_CONTAINER_RESOURCES_PROVISIONED, NULL);
      return;
    }
  c->applying = ECSA_CONTAINER_RESOURCES_PROVISIONED;
  ecsa_docker_client_inspect_container_async(self->docker, c->docker_id, self->cancellable, setup_inspect_ready_cb,
                                             op_new(self, task, c));
}

static void
teardown_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  EcsaTask *task;
  EcsaContainer *c;

  if (op->engine->network == NULL) /* shut down */
    return;
  ok = ecsa_task_network_teardown_finish(op->engine->network, result, &error);
  if (!op_resolve(op, &task, &c) || c == NULL)
    return;
  if (!ok && is_cancelled(error))
    {
      c->applying = ECSA_CONTAINER_NONE;
      return;
    }
  /* v1.16.2 logs a failed cleanup and stops the pause container anyway */
  if (!ok)
    ecsa_log_crit("tearing down the network of task '%s' failed: %s", task->arn, error->message);
  else
    ecsa_log_info("task '%s': network torn down", task->arn);
  run_of(task)->net_torn_down = TRUE;
  start_stop(op->engine, task, c);
}

static void
teardown_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  g_autoptr(EcsaTaskView) view = NULL;
  EcsaTask *task;
  EcsaContainer *c;
  gint pid = 0;

  if (!op_resolve(op, &task, &c) || c == NULL || op->engine->network == NULL || is_cancelled(error))
    {
      if (c != NULL && is_cancelled(error))
        c->applying = ECSA_CONTAINER_NONE;
      op_free(op);
      return;
    }
  if (node != NULL && JSON_NODE_HOLDS_OBJECT(node)
      && status_from_inspect(json_node_get_object(node)) == ECSA_CONTAINER_RUNNING)
    {
      apply_inspect(op->engine, task, c, json_node_get_object(node));
      pid = c->pid;
    }
  view = ecsa_task_view_new(task);
  ecsa_task_network_teardown_async(op->engine->network, view, task->eni, c->docker_id, pid, op->engine->cancellable,
                                   teardown_ready_cb, op);
}

/* The task's other containers stopped: the namespace is emptied before the sandbox stops (v1.16.2
 * inspects the sandbox for its PID first, as for the setup). */
static void
start_sandbox_stop(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  if (self->network == NULL || task->eni == NULL || run_of(task)->net_torn_down || c->docker_id == NULL)
    {
      start_stop(self, task, c);
      return;
    }
  c->applying = ECSA_CONTAINER_STOPPED;
  ecsa_docker_client_inspect_container_async(self->docker, c->docker_id, self->cancellable, teardown_inspect_ready_cb,
                                             op_new(self, task, c));
}

static void
release_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;

  if (op->engine->network == NULL) /* shut down */
    return;
  if (!ecsa_task_network_release_finish(op->engine->network, result, &error))
    {
      if (!is_cancelled(error))
        ecsa_log_warn("releasing the ENI of task '%s': %s", op->arn, error->message);
      return;
    }
  ecsa_log_info("task '%s': ENI released", op->arn);
}

static void
release_network(Op *op)
{
  EcsaTask *task;
  g_autoptr(EcsaTaskView) view = NULL;
  EcsaContainer *sandbox;

  if (!op_resolve(op, &task, NULL))
    {
      op_free(op);
      return;
    }
  sandbox = ecsa_task_get_sandbox(task);
  view = ecsa_task_view_new(task);
  ecsa_task_network_release_async(op->engine->network, view, task->eni, sandbox != NULL ? sandbox->docker_id : NULL,
                                  op->engine->cancellable, release_ready_cb, op);
}

static void
final_teardown_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;

  if (op->engine->network == NULL) /* shut down */
    {
      op_free(op);
      return;
    }
  if (!ecsa_task_network_teardown_finish(op->engine->network, result, &error))
    {
      if (is_cancelled(error))
        {
          op_free(op);
          return;
        }
      ecsa_log_warn("tearing down the network of task '%s': %s", op->arn, error->message);
    }
  if (op_resolve(op, &task, NULL))
    run_of(task)->net_torn_down = TRUE;
  release_network(op);
}

/* The task is STOPPED: its ENI is released (after a teardown, with no PID, when the sandbox
 * stopped without one: it died, or vanished while the agent was down). Cleanup waits for it. */
static void
finish_network(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);
  EcsaContainer *sandbox = ecsa_task_get_sandbox(task);
  Op *op;

  /* a sandbox never created had no namespace set up, nor an address to give back */
  if (self->network == NULL || task->eni == NULL || sandbox == NULL || sandbox->docker_id == NULL || run->net_released)
    return;
  run->net_released = TRUE;
  op = op_new(self, task, NULL);
  if (run->net_torn_down)
    {
      release_network(op);
      return;
    }
  {
    g_autoptr(EcsaTaskView) view = ecsa_task_view_new(task);
    ecsa_task_network_teardown_async(self->network, view, task->eni, sandbox->docker_id, 0, self->cancellable,
                                     final_teardown_ready_cb, op);
  }
}

/* ------------------------------------------------------------------------------------------- */
/* task cgroup */

static void
cgroup_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_cgroup_setup_task_finish(op->engine->cgroup, result, &error);
  EcsaTask *task;

  if (!op_resolve(op, &task, NULL))
    return;
  run_of(task)->cgroup_busy = FALSE;
  if (ok)
    {
      run_of(task)->cgroup_ready = TRUE;
      schedule_progress(op->engine, task);
      return;
    }
  /* v1.16.2: a task whose platform resources cannot be made is stopped */
  ecsa_log_crit("%s", error->message);
  if (task->reason == NULL)
    task->reason = g_strdup(REASON_PLATFORM);
  task->desired_status = ECSA_TASK_STOPPED;
  ecsa_task_update_desired_status(task);
  touch(op->engine, task);
  schedule_progress(op->engine, task);
}

static void
start_cgroup(EcsaTaskEngine *self, EcsaTask *task)
{
  EcsaCgroupSpec spec;
  g_autoptr(GError) error = NULL;

  run_of(task)->cgroup_busy = TRUE;
  if (!ecsa_cgroup_spec_for_task(task, &spec, &error))
    {
      /* refused at acceptance already; a restored task may still get here */
      ecsa_log_crit("task '%s': %s", task->arn, error->message);
      run_of(task)->cgroup_busy = FALSE;
      if (task->reason == NULL)
        task->reason = g_strdup(REASON_PLATFORM);
      task->desired_status = ECSA_TASK_STOPPED;
      ecsa_task_update_desired_status(task);
      touch(self, task);
      schedule_progress(self, task);
      return;
    }
  ecsa_cgroup_setup_task_async(self->cgroup, ecsa_task_get_id(task), &spec, self->cancellable, cgroup_ready_cb,
                               op_new(self, task, NULL));
}

/* ------------------------------------------------------------------------------------------- */
/* cleanup */

static void
cleanup_step_done(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);
  g_autofree char *arn = NULL;

  if (--run->cleanup_pending > 0)
    return;
  /* forget the task */
  arn = g_strdup(task->arn);
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->docker_id != NULL && g_hash_table_lookup(self->by_docker_id, c->docker_id) == c)
        g_hash_table_remove(self->by_docker_id, c->docker_id);
      if (c->docker_name != NULL)
        g_hash_table_remove(self->unclaimed, c->docker_name);
      record_image_use(self, task, c, FALSE);
    }
  g_hash_table_remove(self->tasks, arn); /* frees the task */
  ecsa_log_info("task '%s' cleaned up and forgotten", arn);
  ecsa_memory_release_soon();
  g_signal_emit(self, signals[SIGNAL_TASK_REMOVED], 0, arn);
  request_save(self, FALSE);
}

typedef struct
{
  EcsaTaskEngine *engine;
  char *arn;
  guint64 serial;
  char *what;
} CleanupStep;

static void
cleanup_step_free(CleanupStep *s)
{
  g_object_unref(s->engine);
  g_free(s->arn);
  g_free(s->what);
  g_free(s);
}

static CleanupStep *
cleanup_step_new(EcsaTaskEngine *self, EcsaTask *task, char *what)
{
  CleanupStep *s = g_new0(CleanupStep, 1);

  s->engine = g_object_ref(self);
  s->arn = g_strdup(task->arn);
  s->serial = run_of(task)->serial;
  s->what = what;
  run_of(task)->cleanup_pending++;
  return s;
}

static void
cleanup_step_finish(CleanupStep *s, gboolean ok, GError *error)
{
  EcsaTask *task = g_hash_table_lookup(s->engine->tasks, s->arn);

  if (!ok && error != NULL && !is_cancelled(error) && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
    ecsa_log_warn("cleaning up task '%s': %s: %s", s->arn, s->what, error->message);
  if (task != NULL && run_of(task)->serial == s->serial)
    cleanup_step_done(s->engine, task);
  cleanup_step_free(s);
}

static void
remove_volume_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_docker_client_remove_volume_finish(ECSA_DOCKER_CLIENT(source), result, &error);

  cleanup_step_finish(user_data, ok, error);
}

static void
remove_cgroup_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CleanupStep *s = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_cgroup_remove_task_finish(s->engine->cgroup, result, &error);

  cleanup_step_finish(s, ok, error);
}

static void
clean_metadata_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CleanupStep *s = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_container_metadata_clean_finish(s->engine->metadata, result, &error);

  cleanup_step_finish(s, ok, error);
}

/* Containers go first (a volume in use cannot be removed), then volumes, the cgroup and metadata. */
static void remove_task_resources(EcsaTaskEngine *self, EcsaTask *task);

static void
container_removal_done(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);

  if (run->cleanup_pending == 1)
    remove_task_resources(self, task);
}

static void
remove_container_step_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CleanupStep *s = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_docker_client_remove_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task = g_hash_table_lookup(s->engine->tasks, s->arn);

  if (!ok && !is_cancelled(error) && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
    ecsa_log_warn("cleaning up task '%s': %s: %s", s->arn, s->what, error->message);
  if (task != NULL && run_of(task)->serial == s->serial)
    {
      run_of(task)->cleanup_pending--;
      container_removal_done(s->engine, task);
    }
  cleanup_step_free(s);
}

static void
remove_task_resources(EcsaTaskEngine *self, EcsaTask *task)
{
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      if (v->source_path != NULL || v->docker_volume == NULL)
        continue;
      ecsa_docker_client_remove_volume_async(
        self->docker, v->docker_volume, NULL, remove_volume_ready_cb,
        cleanup_step_new(self, task, g_strdup_printf("removing volume '%s'", v->docker_volume)));
    }
  if (task->cgroup_enabled && self->cgroup != NULL)
    ecsa_cgroup_remove_task_async(self->cgroup, ecsa_task_get_id(task), NULL, remove_cgroup_ready_cb,
                                  cleanup_step_new(self, task, g_strdup("removing its cgroup")));
  if (self->metadata != NULL)
    ecsa_container_metadata_clean_async(self->metadata, ecsa_task_get_id(task), NULL, clean_metadata_ready_cb,
                                        cleanup_step_new(self, task, g_strdup("removing its metadata files")));
  /* the guard unit taken in continue_cleanup */
  cleanup_step_done(self, task);
}

static void
continue_cleanup(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);

  if (run->inflight > 0 || run->cleanup_pending > 0)
    return;
  ecsa_log_info("cleaning up task '%s'", task->arn);
  /* one guard unit until every container removal is done */
  run->cleanup_pending = 1;
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      const char *target = c->docker_id != NULL ? c->docker_id : NULL;
      CleanupStep *s;

      if (target == NULL)
        continue;
      s = cleanup_step_new(self, task, g_strdup_printf("removing container '%s'", c->docker_name));
      /* forced: a container Docker started after the agent gave up on it (a start that timed
       * out, then its event lost in a saturated daemon) would refuse a plain removal and stay
       * behind, running, once the task is forgotten. v1.16.2 removed without force. */
      ecsa_docker_client_remove_container_async(self->docker, target, TRUE, TRUE, NULL, remove_container_step_ready_cb,
                                                s);
    }
  container_removal_done(self, task);
}

static void
start_cleanup(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);

  if (run->cleaning)
    return;
  run->cleaning = TRUE;
  clear_source(&run->timer);
  continue_cleanup(self, task);
}

/* ------------------------------------------------------------------------------------------- */
/* progress */

/* v1.16.2's taskStopGroup: a task waits for the tasks ECS told to stop before it was started. */
static gboolean
held_by_earlier_stops(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);
  GHashTableIter it;
  gpointer v;
  EcsaTask *blocker = NULL;
  gint64 limit = self->config->docker_stop_timeout + 90 * G_USEC_PER_SEC;

  if (task->start_sequence_number == 0)
    return FALSE;
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      EcsaTask *u = v;
      if (u != task && u->stop_sequence_number != 0 && u->stop_sequence_number < task->start_sequence_number
          && u->known_status != ECSA_TASK_STOPPED)
        {
          blocker = u;
          break;
        }
    }
  if (blocker == NULL)
    {
      run->hold_started = 0;
      return FALSE;
    }
  if (run->hold_started == 0)
    {
      run->hold_started = g_get_monotonic_time();
      ecsa_log_info("task '%s' waits for task '%s' to stop first (ECS sequence numbers %" G_GINT64_FORMAT
                    " and %" G_GINT64_FORMAT ")",
                    task->arn, blocker->arn, task->start_sequence_number, blocker->stop_sequence_number);
    }
  if (g_get_monotonic_time() - run->hold_started > limit)
    {
      if (run->hold_started > 0)
        ecsa_log_warn("task '%s' waited %" G_GINT64_FORMAT " s for task '%s' to stop; starting anyway", task->arn,
                      limit / G_USEC_PER_SEC, blocker->arn);
      run->hold_started = -1; /* decided: do not wait again */
      return FALSE;
    }
  if (run->hold_started < 0)
    return FALSE;
  schedule_wakeup(self, task, run->hold_started + limit + 1);
  return TRUE;
}

/* An ECR pull with the execution role needs the role's credentials from ACS (v1.16.2's
 * executionCredentialsResolved). */
static gboolean
execution_credentials_ready(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c, gint64 now)
{
  const EcsaTaskCredentials *tc;

  if (c->registry_auth == NULL || g_strcmp0(c->registry_auth->type, "ecr") != 0
      || !c->registry_auth->ecr_use_execution_role)
    return TRUE;
  tc = self->credentials != NULL && task->execution_credentials_id != NULL
         ? ecsa_credentials_manager_get(self->credentials, task->execution_credentials_id)
         : NULL;
  if (tc != NULL && !tc->pending)
    return TRUE;
  if (c->creds_wait_started == 0)
    {
      c->creds_wait_started = now;
      ecsa_log_info("container '%s' of task '%s' waits for the execution role's credentials to pull '%s'", c->name,
                    task->arn, c->image);
    }
  return FALSE;
}

static void
on_task_stopped(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);
  gint64 now = g_get_real_time();
  gint64 cleanup_at;

  if (!run->stopped_handled)
    {
      GHashTableIter it;
      gpointer v;

      run->stopped_handled = TRUE;
      finish_network(self, task);
      /* tasks waiting for this stop may go */
      g_hash_table_iter_init(&it, self->tasks);
      while (g_hash_table_iter_next(&it, NULL, &v))
        if (run_of(v)->hold_started > 0)
          schedule_progress(self, v);
    }
  if (run->cleaning)
    return;
  cleanup_at = task->known_status_time + self->config->task_cleanup_wait_duration;
  if (now < cleanup_at)
    {
      schedule_wakeup(self, task, g_get_monotonic_time() + (cleanup_at - now));
      return;
    }
  if (task->sent_status < ECSA_TASK_STOPPED && now < task->known_status_time + STOPPED_SENT_WAIT_LIMIT)
    {
      /* mark_sent wakes us up; v1.16.2 waits up to 72 h, then gives up */
      ecsa_log_debug("task '%s' is due for cleanup, waiting until ECS has heard it STOPPED", task->arn);
      schedule_wakeup(self, task, g_get_monotonic_time() + (task->known_status_time + STOPPED_SENT_WAIT_LIMIT - now));
      return;
    }
  if (task->sent_status < ECSA_TASK_STOPPED)
    ecsa_log_warn("task '%s' was never reported STOPPED in 72 h; cleaning it up anyway", task->arn);
  start_cleanup(self, task);
}

/* The known and desired statuses as v1.16.2 derives them, until they settle. */
static void
settle(EcsaTaskEngine *self, EcsaTask *task)
{
  gboolean changed = FALSE;

  for (int i = 0; i < 4; i++)
    {
      gboolean d = ecsa_task_update_desired_status(task);
      gboolean k = ecsa_task_update_known_status(task);
      if (!d && !k)
        break;
      changed = TRUE;
    }
  if (changed)
    touch(self, task);
}

static void
progress(EcsaTaskEngine *self, EcsaTask *task)
{
  TaskRun *run = run_of(task);
  gboolean acted = FALSE;
  gboolean waiting = FALSE;
  gint64 now = g_get_monotonic_time();

  clear_source(&run->progress_source);
  if (!self->started || self->stopping || run->cleaning)
    return;
  settle(self, task);
  emit_changes(self, task);
  if (task->known_status == ECSA_TASK_STOPPED)
    {
      on_task_stopped(self, task);
      return;
    }
  if (task->known_status == ECSA_TASK_RUNNING && task->known_status >= task->desired_status)
    return; /* steady */
  if (task->desired_status != ECSA_TASK_STOPPED && held_by_earlier_stops(self, task))
    return;
  if (task->desired_status != ECSA_TASK_STOPPED && task->cgroup_enabled && self->cgroup != NULL && !run->cgroup_ready
      && !run->cgroup_busy)
    start_cgroup(self, task);

  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      const char *why = NULL;
      EcsaContainerStatus next;

      if (c->applying != ECSA_CONTAINER_NONE)
        {
          /* a stop does not wait for a pull or a create to finish: the container never ran */
          if (c->desired_status == ECSA_CONTAINER_STOPPED && c->known_status < ECSA_CONTAINER_STOPPED
              && (c->applying == ECSA_CONTAINER_PULLED || c->applying == ECSA_CONTAINER_CREATED))
            {
              c->known_status = ECSA_CONTAINER_STOPPED;
              touch(self, task);
              acted = TRUE;
            }
          else
            waiting = TRUE;
          continue;
        }
      if (c->known_status >= c->desired_status)
        continue;
      if (!ecsa_container_dependencies_resolved(task, c, &why))
        {
          ecsa_log_debug("container '%s' of task '%s' waits: %s", c->name, task->arn, why);
          continue;
        }
      if (c->desired_status == ECSA_CONTAINER_STOPPED)
        {
          if (c->known_status == ECSA_CONTAINER_RUNNING || c->known_status == ECSA_CONTAINER_RESOURCES_PROVISIONED)
            {
              if (c->retry_at > now)
                {
                  schedule_wakeup(self, task, c->retry_at);
                  waiting = TRUE;
                  continue;
                }
              if (c->internal)
                start_sandbox_stop(self, task, c);
              else
                start_stop(self, task, c);
            }
          else if (c->start_unsure && c->docker_id != NULL)
            {
              /* its start timed out: Docker may run it yet, so it is stopped for sure (a container
               * that never started answers 304 at once, and its inspect has no exit code) */
              c->start_unsure = FALSE;
              start_stop(self, task, c);
            }
          else
            {
              /* it never ran: nothing to stop */
              c->known_status = ECSA_CONTAINER_STOPPED;
              touch(self, task);
            }
          acted = TRUE;
          continue;
        }
      next = c->known_status + 1;
      switch (next)
        {
        case ECSA_CONTAINER_PULLED:
          if (c->internal)
            {
              /* the pause image was made available at start-up (v1.16.2 never pulls it) */
              c->known_status = ECSA_CONTAINER_PULLED;
              touch(self, task);
              acted = TRUE;
              break;
            }
          if (!execution_credentials_ready(self, task, c, now))
            {
              if (now - c->creds_wait_started > EXECUTION_CREDENTIALS_WAIT_US)
                {
                  set_reason(c,
                             g_strdup("CannotPullECRContainerError: engine ecr credentials acquisition: not found in "
                                      "credential manager"));
                  c->desired_status = ECSA_CONTAINER_STOPPED;
                  touch(self, task);
                  acted = TRUE;
                  break;
                }
              schedule_wakeup(self, task, now + EXECUTION_CREDENTIALS_RECHECK_US);
              waiting = TRUE;
              break;
            }
          start_pull(self, task, c);
          acted = TRUE;
          break;
        case ECSA_CONTAINER_CREATED:
          if (!run->durable || (task->cgroup_enabled && self->cgroup != NULL && !run->cgroup_ready))
            {
              waiting = TRUE; /* the checkpoint or the task cgroup comes first */
              break;
            }
          start_create(self, task, c);
          acted = TRUE;
          break;
        case ECSA_CONTAINER_RUNNING:
          start_start(self, task, c);
          acted = TRUE;
          break;
        case ECSA_CONTAINER_RESOURCES_PROVISIONED:
          start_setup(self, task, c);
          acted = TRUE;
          break;
        default:
          c->known_status = next;
          touch(self, task);
          acted = TRUE;
          break;
        }
    }
  if (acted)
    {
      schedule_progress(self, task);
      return;
    }
  if (waiting || run->inflight > 0 || run->cgroup_busy)
    return;
  /* v1.16.2's onContainersUnableToTransitionState: nothing can move */
  if (task->desired_status == ECSA_TASK_STOPPED)
    {
      ecsa_log_crit("task '%s' cannot reach STOPPED; giving up on it", task->arn);
      task->known_status = ECSA_TASK_STOPPED;
      task->known_status_time = g_get_real_time();
      if (task->reason == NULL)
        task->reason = g_strdup(REASON_CANNOT_STOP_TASK);
    }
  else
    {
      ecsa_log_crit("task '%s' is in a state where no container can move; stopping it", task->arn);
      task->desired_status = ECSA_TASK_STOPPED;
      ecsa_task_update_desired_status(task);
    }
  touch(self, task);
  schedule_progress(self, task);
}

/* ------------------------------------------------------------------------------------------- */
/* Docker events */

static void
event_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task;
  EcsaContainer *c;
  JsonObject *inspect;
  EcsaContainerStatus status;

  if (!op_resolve(op, &task, &c) || c == NULL)
    return;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    {
      if (g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND) && c->known_status < ECSA_CONTAINER_STOPPED
          && c->applying == ECSA_CONTAINER_NONE)
        {
          /* removed behind our back */
          set_reason(c, g_strdup(REASON_VANISHED));
          container_change(op->engine, task, c, ECSA_CONTAINER_STOPPED, NULL);
        }
      else if (error != NULL && !is_cancelled(error) && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        ecsa_log_warn("after a Docker event: %s", error->message);
      return;
    }
  inspect = json_node_get_object(node);
  status = status_from_inspect(inspect);
  if (status == ECSA_CONTAINER_RUNNING && c->known_status < ECSA_CONTAINER_RUNNING)
    {
      /* started by someone else: record it, the start of ours is then a no-op */
      container_change(op->engine, task, c, ECSA_CONTAINER_RUNNING, inspect);
      return;
    }
  container_change(op->engine, task, c, status, inspect);
}

static void
inspect_container(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  ecsa_docker_client_inspect_container_async(self->docker, c->docker_id, self->cancellable, event_inspect_ready_cb,
                                             op_new(self, task, c));
}

static void
remove_orphan_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree char *name = user_data;
  g_autoptr(GError) error = NULL;

  if (ecsa_docker_client_remove_container_finish(ECSA_DOCKER_CLIENT(source), result, &error))
    ecsa_log_info("removed container '%s', which no task owns", name);
  else if (!is_cancelled(error) && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
    ecsa_log_warn("removing container '%s', which no task owns: %s", name, error->message);
}

/* Remove a container Docker made for a create the agent had given up on. */
static void
remove_orphan(EcsaTaskEngine *self, const char *id, const char *name, const char *why)
{
  ecsa_log_warn("Docker created container '%s' (%.12s) after the agent gave up on it (%s); removing it", name, id, why);
  ecsa_docker_client_remove_container_async(self->docker, id, TRUE, TRUE, self->cancellable, remove_orphan_ready_cb,
                                            g_strdup(name));
}

/* A container of ours that Docker reports created under an ID we do not know. Docker finishes a
 * create even when the agent's call timed out (a saturated daemon): when our look by name found
 * nothing, the task went on without it, and once the task was forgotten nothing would remove it.
 * Only names of our own creates are touched: another agent's containers are not ours to judge. */
static void
unknown_container_created(EcsaTaskEngine *self, const char *id, JsonObject *attributes)
{
  const char *arn = json_object_get_string_member_with_default(attributes, ECSA_LABEL_TASK_ARN, NULL);
  const char *cname = json_object_get_string_member_with_default(attributes, ECSA_LABEL_CONTAINER_NAME, NULL);
  const char *name = json_object_get_string_member_with_default(attributes, "name", NULL);
  EcsaTask *task;
  EcsaContainer *c;

  if (name == NULL)
    return;
  if (g_hash_table_contains(self->abandoned, name))
    {
      /* kept until it expires: a name is used by one container of one task only */
      remove_orphan(self, id, name, "its create had failed");
      return;
    }
  if (arn == NULL || cname == NULL || (task = g_hash_table_lookup(self->tasks, arn)) == NULL)
    return;
  c = ecsa_task_get_container(task, cname);
  if (c != NULL && c->docker_id == NULL && c->applying == ECSA_CONTAINER_CREATED
      && g_strcmp0(c->docker_name, name) == 0)
    /* our create (or its look by name) is pending: its answer claims it, or its failure removes it */
    g_hash_table_replace(self->unclaimed, g_strdup(name), g_strdup(id));
}

static void
container_event_cb(EcsaDockerClient *docker, const char *id, const char *action, JsonObject *attributes,
                   gint64 time_nano, gpointer user_data)
{
  EcsaTaskEngine *self = user_data;
  EcsaContainer *c = g_hash_table_lookup(self->by_docker_id, id);
  EcsaTask *task;

  if (self->stopping)
    return;
  if (c == NULL)
    {
      if (strcmp(action, "create") == 0)
        unknown_container_created(self, id, attributes);
      return;
    }
  task = c->task;
  if (run_of(task)->cleaning)
    return;
  if (strcmp(action, "oom") == 0)
    {
      ecsa_log_info("a process of container '%s' of task '%s' was killed for using too much memory", c->name,
                    task->arn);
      return;
    }
  if (strcmp(action, "die") == 0 || strcmp(action, "destroy") == 0)
    {
      if (c->applying == ECSA_CONTAINER_STOPPED || c->known_status == ECSA_CONTAINER_STOPPED)
        return; /* our stop inspects it */
      inspect_container(self, task, c);
      return;
    }
  if (strcmp(action, "start") == 0 || strcmp(action, "restart") == 0)
    {
      if (c->applying == ECSA_CONTAINER_RUNNING
          || (c->known_status >= ECSA_CONTAINER_RUNNING && c->known_status != ECSA_CONTAINER_STOPPED))
        return;
      inspect_container(self, task, c);
    }
}

/* After the event stream was down, what changed meanwhile is checked on every live container. */
static void
events_connected_cb(EcsaDockerClient *docker, gboolean reconnected, gpointer user_data)
{
  EcsaTaskEngine *self = user_data;
  GHashTableIter it;
  gpointer v;

  if (self->start_wait != NULL)
    {
      /* the start was waiting for the stream */
      clear_source(&self->start_wait);
      reconcile_done(self);
      return;
    }
  if (!reconnected || !self->started || self->stopping)
    return;
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      EcsaTask *task = v;
      if (run_of(task)->cleaning)
        continue;
      for (guint i = 0; i < task->containers->len; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          if (c->docker_id != NULL && c->applying == ECSA_CONTAINER_NONE && c->known_status >= ECSA_CONTAINER_CREATED
              && c->known_status < ECSA_CONTAINER_STOPPED)
            inspect_container(self, task, c);
        }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* payloads */

typedef struct
{
  GPtrArray *rejected; /* char* */
  GPtrArray *arns;     /* new tasks waiting for the checkpoint */
} PayloadData;

static void
payload_data_free(PayloadData *pd)
{
  g_ptr_array_unref(pd->rejected);
  g_ptr_array_unref(pd->arns);
  g_free(pd);
}

static void
assign_names(EcsaTask *task)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->docker_name == NULL)
        c->docker_name = ecsa_container_make_docker_name(task, c);
    }
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      if (v->source_path == NULL && v->docker_volume == NULL)
        {
          EcsaContainer fake = { .name = v->name };
          g_autofree char *base = ecsa_container_make_docker_name(task, &fake);
          v->docker_volume = g_strdup_printf("%s-vol", base);
        }
    }
}

/* A recovered task (rebuilt from labels) gets its definition back from ACS: the new task takes
 * over what Docker told us. */
static void
merge_recovered(EcsaTaskEngine *self, EcsaTask *old, EcsaTask *task)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      EcsaContainer *oc = ecsa_task_get_container(old, c->name);
      if (oc == NULL)
        continue;
      g_free(c->docker_name);
      c->docker_name = g_strdup(oc->docker_name);
      c->docker_id = g_steal_pointer(&oc->docker_id);
      c->known_status = oc->known_status;
      c->sent_status = oc->sent_status;
      c->emitted_status = oc->emitted_status;
      c->has_exit_code = oc->has_exit_code;
      c->exit_code = oc->exit_code;
      c->reason = g_steal_pointer(&oc->reason);
      c->image_id = g_steal_pointer(&oc->image_id);
      c->pid = oc->pid;
      g_ptr_array_unref(c->known_port_bindings);
      c->known_port_bindings = g_ptr_array_ref(oc->known_port_bindings);
    }
  task->known_status = old->known_status;
  task->known_status_time = old->known_status_time;
  task->sent_status = old->sent_status;
  task->emitted_status = old->emitted_status;
  task->cgroup_enabled = FALSE; /* its containers exist with whatever parent they had */
  for (guint i = 0; i < old->containers->len; i++)
    {
      EcsaContainer *oc = old->containers->pdata[i];
      if (oc->docker_id != NULL)
        g_hash_table_remove(self->by_docker_id, oc->docker_id);
    }
  g_hash_table_steal(self->tasks, old->arn);
  task_destroy(old);
  assign_names(task);
  add_task(self, task, FALSE);
  ecsa_log_info("task '%s', recovered from Docker labels, has its definition again", task->arn);
}

static gboolean
validate_for_engine(EcsaTaskEngine *self, EcsaTask *task, GError **error)
{
  if (!ecsa_task_check_policy(task, self->config->privileged_disabled, self->config->selinux_capable,
                              self->config->apparmor_capable, error))
    return FALSE;
  if (task->eni != NULL)
    {
      if (self->network == NULL)
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                              "the task uses awsvpc networking (elasticNetworkInterfaces), which is not enabled on "
                              "this instance (ECS_ENABLE_TASK_ENI)");
          return FALSE;
        }
      if (!ecsa_task_network_check_task(self->network, task, error))
        return FALSE;
    }
  if (self->cgroup != NULL)
    {
      EcsaCgroupSpec spec;
      if (!ecsa_cgroup_spec_for_task(task, &spec, error))
        return FALSE;
    }
  if (self->plugins != NULL)
    {
      g_autoptr(EcsaTaskView) view = ecsa_task_view_new(task);
      for (guint i = 0; i < task->containers->len; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          g_autoptr(GHashTable) options = NULL;
          GHashTableIter it;
          gpointer k, v;

          if (c->log_driver == NULL)
            continue;
          options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
          g_hash_table_iter_init(&it, c->log_options);
          while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_insert(options, g_strdup(k), g_strdup(v));
          if (!ecsa_plugin_registry_log_driver_prepare(self->plugins, view, ecsa_task_view_get_container(view, c->name),
                                                       options, error))
            {
              g_prefix_error(error, "container '%s': ", c->name);
              return FALSE;
            }
        }
    }
  /* v1.16.2's addNetworkResourceProvisioningDependency */
  if (task->eni != NULL)
    ecsa_task_add_sandbox(task, ECSA_TASK_NETWORK_SANDBOX_NAME, ecsa_task_network_get_pause_image(self->network));
  return TRUE;
}

static void
payload_saved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) gtask = user_data;
  EcsaTaskEngine *self = g_task_get_source_object(gtask);
  PayloadData *pd = g_task_get_task_data(gtask);
  g_autoptr(GError) error = NULL;
  gboolean ok = self->store == NULL || ecsa_state_store_save_finish(ECSA_STATE_STORE(source), result, &error);

  /* the tasks run even when the checkpoint failed; the payload is just not acked */
  for (guint i = 0; i < pd->arns->len; i++)
    {
      EcsaTask *task = g_hash_table_lookup(self->tasks, pd->arns->pdata[i]);
      if (task != NULL && !run_of(task)->durable)
        {
          run_of(task)->durable = TRUE;
          schedule_progress(self, task);
        }
    }
  if (!ok)
    {
      g_prefix_error(&error, "the payload's tasks are not durable: ");
      g_task_return_error(gtask, g_steal_pointer(&error));
      return;
    }
  g_task_return_boolean(gtask, TRUE);
}

static gint
compare_stopped_first(gconstpointer a, gconstpointer b)
{
  const EcsaTask *ta = *(EcsaTask *const *)a;
  const EcsaTask *tb = *(EcsaTask *const *)b;
  int sa = ta->desired_status == ECSA_TASK_STOPPED ? 0 : 1;
  int sb = tb->desired_status == ECSA_TASK_STOPPED ? 0 : 1;

  return sa - sb;
}

void
ecsa_task_engine_apply_payload_async(EcsaTaskEngine *self, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) gtask = NULL;
  g_autoptr(GPtrArray) accepted = g_ptr_array_new();
  PayloadData *pd;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  g_return_if_fail(tasks != NULL);

  gtask = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(gtask, ecsa_task_engine_apply_payload_async);
  pd = g_new0(PayloadData, 1);
  pd->rejected = g_ptr_array_new_with_free_func(g_free);
  pd->arns = g_ptr_array_new_with_free_func(g_free);
  g_task_set_task_data(gtask, pd, (GDestroyNotify)payload_data_free);
  ecsa_task_engine_restore(self);

  for (guint i = 0; i < json_array_get_length(tasks); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *arn = NULL;
      EcsaTask *task = ecsa_task_from_acs(json_array_get_element(tasks, i), seq_num, &arn, &error);

      if (task != NULL && !validate_for_engine(self, task, &error))
        {
          arn = g_strdup(task->arn);
          g_clear_pointer(&task, ecsa_task_free);
        }
      if (task == NULL)
        {
          char *line = arn != NULL ? g_strdup_printf("task '%s': %s", arn, error->message)
                                   : g_strdup_printf("task #%u of the payload: %s", i, error->message);
          ecsa_log_warn("refusing %s", line);
          g_ptr_array_add(pd->rejected, line);
          continue;
        }
      g_ptr_array_add(accepted, task);
    }
  /* v1.16.2 handles the payload's STOPPED tasks before the new ones */
  g_ptr_array_sort(accepted, compare_stopped_first);
  for (guint i = 0; i < accepted->len; i++)
    {
      EcsaTask *task = accepted->pdata[i];
      EcsaTask *existing = g_hash_table_lookup(self->tasks, task->arn);

      if (existing != NULL && existing->recovered && !run_of(existing)->cleaning)
        {
          merge_recovered(self, existing, task);
          g_ptr_array_add(pd->arns, g_strdup(task->arn));
          schedule_progress(self, task);
          continue;
        }
      if (existing != NULL)
        {
          /* ACS may only move a task forward (v1.16.2's handleDesiredStatusChange) */
          if (task->desired_status > existing->desired_status)
            {
              ecsa_log_info("task '%s' is to be %s", existing->arn, ecsa_task_status_to_string(task->desired_status));
              if (task->desired_status == ECSA_TASK_STOPPED && task->stop_sequence_number != 0
                  && existing->stop_sequence_number == 0)
                existing->stop_sequence_number = task->stop_sequence_number;
              existing->desired_status = task->desired_status;
              ecsa_task_update_desired_status(existing);
              touch(self, existing);
              schedule_progress(self, existing);
            }
          ecsa_task_free(task);
          continue;
        }
      assign_names(task);
      task->cgroup_enabled = self->cgroup != NULL;
      add_task(self, task, self->store == NULL || !ecsa_state_store_get_enabled(self->store));
      g_ptr_array_add(pd->arns, g_strdup(task->arn));
      ecsa_log_info("task '%s' (%s:%s) accepted, desired %s", task->arn, task->family, task->version,
                    ecsa_task_status_to_string(task->desired_status));
      touch(self, task);
      schedule_progress(self, task);
    }
  if (self->store == NULL)
    {
      g_task_return_boolean(gtask, TRUE);
      return;
    }
  clear_source(&self->save_timer);
  ecsa_state_store_save_async(self->store, NULL, payload_saved_cb, g_steal_pointer(&gtask));
}

gboolean
ecsa_task_engine_apply_payload_finish(EcsaTaskEngine *self, GAsyncResult *result, GPtrArray **out_rejected,
                                      GError **error)
{
  PayloadData *pd;

  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_task_engine_apply_payload_async), FALSE);
  pd = g_task_get_task_data(G_TASK(result));
  if (out_rejected != NULL)
    *out_rejected = g_ptr_array_ref(pd->rejected);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* start-up: cgroups, reconcile */

static void
cgroup_init_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) gtask = user_data;
  EcsaTaskEngine *self = g_task_get_source_object(gtask);
  g_autoptr(GError) error = NULL;

  if (ecsa_cgroup_init_finish(self->cgroup, result, &error))
    {
      ecsa_log_info("task CPU and memory limits enabled (cgroup %s, %s)", ECSA_CGROUP_ROOT,
                    ecsa_cgroup_is_v2(self->cgroup) ? "v2" : "v1");
      g_task_return_boolean(gtask, TRUE);
      return;
    }
  g_clear_pointer(&self->cgroup, ecsa_cgroup_free);
  if (self->config->task_cpu_mem_limit == ECSA_CONDITIONAL_ENABLED)
    {
      g_prefix_error(&error, "ECS_ENABLE_TASK_CPU_MEM_LIMIT=true, but ");
      g_task_return_error(gtask, g_steal_pointer(&error));
      return;
    }
  ecsa_log_warn("disabling task CPU and memory limits: %s", error->message);
  g_task_return_boolean(gtask, TRUE);
}

void
ecsa_task_engine_init_cgroups_async(EcsaTaskEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_autoptr(GTask) gtask = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));

  gtask = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(gtask, ecsa_task_engine_init_cgroups_async);
  if (self->config->task_cpu_mem_limit == ECSA_CONDITIONAL_DISABLED)
    {
      g_task_return_boolean(gtask, TRUE);
      return;
    }
  g_clear_pointer(&self->cgroup, ecsa_cgroup_free);
  self->cgroup = ecsa_cgroup_new(NULL, &error);
  if (self->cgroup == NULL)
    {
      if (self->config->task_cpu_mem_limit == ECSA_CONDITIONAL_ENABLED)
        {
          g_prefix_error(&error, "ECS_ENABLE_TASK_CPU_MEM_LIMIT=true, but ");
          g_task_return_error(gtask, g_steal_pointer(&error));
          return;
        }
      ecsa_log_warn("disabling task CPU and memory limits: %s", error->message);
      g_task_return_boolean(gtask, TRUE);
      return;
    }
  ecsa_cgroup_init_async(self->cgroup, cancellable, cgroup_init_ready_cb, g_steal_pointer(&gtask));
}

gboolean
ecsa_task_engine_init_cgroups_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean
ecsa_task_engine_get_cgroups_enabled(EcsaTaskEngine *self)
{
  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), FALSE);
  return self->cgroup != NULL;
}

typedef struct
{
  EcsaTaskEngine *engine;
  char *arn;
  guint64 serial;
  char *container;
  gboolean by_name;
} ReconcileItem;

static void
reconcile_item_free(ReconcileItem *r)
{
  g_object_unref(r->engine);
  g_free(r->arn);
  g_free(r->container);
  g_free(r);
}

static gboolean start_wait_cb(gpointer user_data);

static void
reconcile_step_done(EcsaTaskEngine *self)
{
  if (--self->reconcile_pending > 0)
    return;
  self->reconciling = FALSE;
  /* wait (bounded) for the event stream before running, so nothing that happens now is missed */
  if (!ecsa_docker_client_events_connected(self->docker) && self->start_task != NULL)
    {
      self->start_wait = g_timeout_source_new(EVENTS_CONNECT_WAIT_MS);
      g_source_set_callback(self->start_wait, start_wait_cb, self, NULL);
      g_source_set_name(self->start_wait, "ecsa-engine-events-wait");
      g_source_attach(self->start_wait, self->context);
      return;
    }
  reconcile_done(self);
}

static void
reconcile_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReconcileItem *r = user_data;
  EcsaTaskEngine *self = r->engine;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = ecsa_docker_client_inspect_container_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  EcsaTask *task = g_hash_table_lookup(self->tasks, r->arn);
  EcsaContainer *c
    = task != NULL && run_of(task)->serial == r->serial ? ecsa_task_get_container(task, r->container) : NULL;

  if (c != NULL)
    {
      if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
        {
          JsonObject *inspect = json_node_get_object(node);
          EcsaContainerStatus status = status_from_inspect(inspect);

          if (r->by_name)
            ecsa_log_info("container '%s' of task '%s' was created before the agent stopped; adopting it", c->name,
                          task->arn);
          if (c->docker_id == NULL)
            index_docker_id(self, c, json_object_get_string_member(inspect, "Id"));
          if (status > c->known_status)
            {
              apply_inspect(self, task, c, inspect);
              c->known_status = status;
            }
          else if (status == c->known_status
                   || (status == ECSA_CONTAINER_RUNNING && c->known_status == ECSA_CONTAINER_RESOURCES_PROVISIONED))
            apply_inspect(self, task, c, inspect);
          update_metadata(self, task, c, inspect);
          touch(self, task);
        }
      else if (g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        {
          if (!r->by_name && c->known_status < ECSA_CONTAINER_STOPPED)
            {
              ecsa_log_warn("container '%s' of task '%s' (%s) is gone from Docker; it is STOPPED", c->name, task->arn,
                            c->docker_id);
              set_reason(c, g_strdup(REASON_VANISHED));
              c->known_status = ECSA_CONTAINER_STOPPED;
              touch(self, task);
            }
        }
      else if (error != NULL && !is_cancelled(error))
        ecsa_log_warn("reconciling container '%s' of task '%s': %s", c->name, task->arn, error->message);
    }
  reconcile_item_free(r);
  reconcile_step_done(self);
}

static void
reconcile_inspect(EcsaTaskEngine *self, EcsaTask *task, EcsaContainer *c)
{
  ReconcileItem *r = g_new0(ReconcileItem, 1);

  r->engine = g_object_ref(self);
  r->arn = g_strdup(task->arn);
  r->serial = run_of(task)->serial;
  r->container = g_strdup(c->name);
  r->by_name = c->docker_id == NULL;
  self->reconcile_pending++;
  ecsa_docker_client_inspect_container_async(self->docker, c->docker_id != NULL ? c->docker_id : c->docker_name,
                                             self->cancellable, reconcile_inspect_ready_cb, r);
}

static const char *
label_of(JsonObject *entry, const char *name)
{
  JsonNode *labels = json_object_get_member(entry, "Labels");

  if (labels == NULL || !JSON_NODE_HOLDS_OBJECT(labels))
    return NULL;
  return json_object_get_string_member_with_default(json_node_get_object(labels), name, NULL);
}

static const char *
first_name(JsonObject *entry)
{
  JsonNode *names = json_object_get_member(entry, "Names");
  const char *n;

  if (names == NULL || !JSON_NODE_HOLDS_ARRAY(names) || json_array_get_length(json_node_get_array(names)) == 0)
    return NULL;
  n = json_array_get_string_element(json_node_get_array(names), 0);
  return n != NULL && n[0] == '/' ? n + 1 : n;
}

/* Containers of a task the checkpoint does not know: rebuild a task from their labels. */
static void
recover_task(EcsaTaskEngine *self, const char *arn, GPtrArray *entries)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) def = NULL;
  g_autoptr(GError) error = NULL;
  EcsaTask *task;
  JsonObject *first = entries->pdata[0];

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "arn");
  json_builder_add_string_value(b, arn);
  json_builder_set_member_name(b, "family");
  json_builder_add_string_value(b, label_of(first, ECSA_LABEL_FAMILY));
  json_builder_set_member_name(b, "version");
  json_builder_add_string_value(b, label_of(first, ECSA_LABEL_VERSION));
  json_builder_set_member_name(b, "desiredStatus");
  json_builder_add_string_value(b, "RUNNING");
  json_builder_set_member_name(b, "containers");
  json_builder_begin_array(b);
  for (guint i = 0; i < entries->len; i++)
    {
      JsonObject *e = entries->pdata[i];
      if (g_strcmp0(label_of(e, ECSA_LABEL_CONTAINER_NAME), ECSA_TASK_NETWORK_SANDBOX_NAME) == 0)
        continue; /* the awsvpc sandbox: the agent's, added below */
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "name");
      json_builder_add_string_value(b, label_of(e, ECSA_LABEL_CONTAINER_NAME));
      json_builder_set_member_name(b, "image");
      json_builder_add_string_value(b, json_object_get_string_member_with_default(e, "Image", "unknown"));
      /* the definition is lost: no container may stop the others */
      json_builder_set_member_name(b, "essential");
      json_builder_add_boolean_value(b, FALSE);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  json_builder_end_object(b);
  def = json_builder_get_root(b);
  task = ecsa_task_from_acs(def, 0, NULL, &error);
  if (task == NULL)
    {
      ecsa_log_warn("containers labelled with task '%s' cannot be recovered (%s); leaving them alone", arn,
                    error->message);
      return;
    }
  task->recovered = TRUE;
  for (guint i = 0; i < entries->len; i++)
    {
      JsonObject *e = entries->pdata[i];
      if (g_strcmp0(label_of(e, ECSA_LABEL_CONTAINER_NAME), ECSA_TASK_NETWORK_SANDBOX_NAME) == 0
          && ecsa_task_get_sandbox(task) == NULL)
        {
          EcsaContainer *sandbox = ecsa_task_add_sandbox(
            task, ECSA_TASK_NETWORK_SANDBOX_NAME, json_object_get_string_member_with_default(e, "Image", "unknown"));
          sandbox->essential = FALSE; /* as the others: the definition is lost */
        }
    }
  for (guint i = 0; i < entries->len; i++)
    {
      JsonObject *e = entries->pdata[i];
      EcsaContainer *c = ecsa_task_get_container(task, label_of(e, ECSA_LABEL_CONTAINER_NAME));
      if (c == NULL || c->docker_id != NULL)
        continue;
      c->docker_id = g_strdup(json_object_get_string_member_with_default(e, "Id", NULL));
      c->docker_name = g_strdup(first_name(e));
    }
  add_task(self, task, TRUE);
  ecsa_log_warn("task '%s' was not in the checkpoint; recovered %u containers from their Docker labels", arn,
                entries->len);
}

static void
list_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaTaskEngine *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) list = ecsa_docker_client_list_containers_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  g_autoptr(GHashTable) orphans
    = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  g_autoptr(GHashTable) still_disowned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter it;
  gpointer k, v;

  if (list == NULL)
    {
      if (!is_cancelled(error))
        ecsa_log_warn("reconciling with Docker: %s; checking known containers one by one", error->message);
    }
  else
    {
      JsonArray *a = json_node_get_array(list);
      for (guint i = 0; i < json_array_get_length(a); i++)
        {
          JsonNode *en = json_array_get_element(a, i);
          JsonObject *e;
          const char *arn, *name, *id, *cluster;
          EcsaTask *task;
          EcsaContainer *c;

          if (!JSON_NODE_HOLDS_OBJECT(en))
            continue;
          e = json_node_get_object(en);
          arn = label_of(e, ECSA_LABEL_TASK_ARN);
          name = label_of(e, ECSA_LABEL_CONTAINER_NAME);
          cluster = label_of(e, ECSA_LABEL_CLUSTER);
          id = json_object_get_string_member_with_default(e, "Id", NULL);
          if (arn == NULL || name == NULL || id == NULL)
            continue;
          if (g_hash_table_contains(self->by_docker_id, id))
            continue;
          task = g_hash_table_lookup(self->tasks, arn);
          if (task == NULL)
            {
              GPtrArray *entries;
              if (g_strcmp0(cluster, self->config->cluster) != 0)
                continue; /* another cluster's: not ours to manage */
              if (self->disown_unlisted || g_hash_table_contains(self->disowned, arn))
                {
                  if (g_hash_table_add(still_disowned, g_strdup(arn)))
                    ecsa_log_info("containers of task '%s' belong to the previous EC2 instance; leaving them alone",
                                  arn);
                  continue;
                }
              entries = g_hash_table_lookup(orphans, arn);
              if (entries == NULL)
                {
                  entries = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
                  g_hash_table_insert(orphans, g_strdup(arn), entries);
                }
              g_ptr_array_add(entries, json_object_ref(e));
              continue;
            }
          c = ecsa_task_get_container(task, name);
          if (c == NULL)
            continue;
          if (c->docker_id == NULL && g_strcmp0(c->docker_name, first_name(e)) == 0)
            continue; /* found by its name below */
          if (c->docker_id == NULL)
            {
              ecsa_log_info("adopting container '%s' (%s) of task '%s' found by its labels", first_name(e), id, arn);
              g_free(c->docker_name);
              c->docker_name = g_strdup(first_name(e));
              index_docker_id(self, c, id);
            }
          else
            ecsa_log_warn("container '%s' (%s) claims to be '%s' of task '%s', which is already %s; leaving it alone",
                          first_name(e), id, name, arn, c->docker_id);
        }
    }
  g_hash_table_iter_init(&it, orphans);
  while (g_hash_table_iter_next(&it, &k, &v))
    recover_task(self, k, v);
  /* disowned tasks whose containers are gone are forgotten (saved when the reconciliation is) */
  if (list != NULL)
    {
      g_hash_table_unref(self->disowned);
      self->disowned = g_steal_pointer(&still_disowned);
      self->disown_unlisted = FALSE;
    }

  /* inspect every container we know of, by ID, or by name when its create may have happened */
  self->reconcile_pending = 1; /* guard */
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      EcsaTask *task = v;
      for (guint i = 0; i < task->containers->len; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          if (c->docker_id != NULL || (c->docker_name != NULL && c->known_status < ECSA_CONTAINER_STOPPED))
            reconcile_inspect(self, task, c);
        }
    }
  reconcile_step_done(self);
  g_object_unref(self);
}

/* Recovered tasks: what ECS already heard is unknown; assume it heard them running, so only what
 * changes from now (or a container found stopped) is reported. */
static void
settle_recovered(EcsaTaskEngine *self, EcsaTask *task)
{
  settle(self, task);
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      c->sent_status = c->emitted_status = MIN(c->known_status, c->steady_state);
    }
  task->sent_status = task->emitted_status = MIN(task->known_status, ECSA_TASK_RUNNING);
}

/* Containers found running after a restart are followed by the metrics plugins again (v1.16.2's
 * stats engine re-adds the running containers of the saved state when it starts). */
static void
metrics_follow_running(EcsaTaskEngine *self, EcsaTask *task)
{
  g_autoptr(EcsaTaskView) view = NULL;

  if (self->plugins == NULL)
    return;
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];

      if (c->known_status != ECSA_CONTAINER_RUNNING || c->docker_id == NULL)
        continue;
      if (view == NULL)
        view = ecsa_task_view_new(task);
      ecsa_plugin_registry_metrics_container_started(self->plugins, view, ecsa_task_view_get_container(view, c->name));
    }
}

static void
reconcile_done(EcsaTaskEngine *self)
{
  g_autoptr(GTask) gtask = g_steal_pointer(&self->start_task);
  GHashTableIter it;
  gpointer v;

  if (gtask == NULL)
    return;
  self->started = TRUE;
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      EcsaTask *task = v;
      if (task->recovered && task->sent_status == ECSA_TASK_NONE && task->emitted_status == ECSA_TASK_NONE)
        settle_recovered(self, task);
      metrics_follow_running(self, task);
      schedule_progress(self, task);
    }
  request_save(self, TRUE);
  ecsa_log_info("task engine running: %u tasks after reconciling with Docker", g_hash_table_size(self->tasks));
  g_task_return_boolean(gtask, TRUE);
}

static gboolean
start_wait_cb(gpointer user_data)
{
  EcsaTaskEngine *self = user_data;

  g_clear_pointer(&self->start_wait, g_source_unref);
  ecsa_log_warn("Docker's event stream is not up after %d s; running without it until it is",
                EVENTS_CONNECT_WAIT_MS / 1000);
  reconcile_done(self);
  return G_SOURCE_REMOVE;
}

static void
parent_cancelled_cb(GCancellable *parent, gpointer user_data)
{
  g_cancellable_cancel(G_CANCELLABLE(user_data));
}

void
ecsa_task_engine_start_async(EcsaTaskEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr(GTask) gtask = NULL;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  g_return_if_fail(self->start_task == NULL && !self->started);

  gtask = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(gtask, ecsa_task_engine_start_async);
  ecsa_task_engine_restore(self);
  if (cancellable != NULL && self->parent_cancellable == NULL)
    {
      self->parent_cancellable = g_object_ref(cancellable);
      self->parent_handler
        = g_cancellable_connect(cancellable, G_CALLBACK(parent_cancelled_cb), self->cancellable, NULL);
    }
  if (self->config->container_metadata_enabled && self->metadata == NULL)
    {
      self->metadata
        = ecsa_container_metadata_new(self->config->data_dir, self->config->data_dir_on_host, self->config->cluster);
      if (self->container_instance_arn != NULL)
        ecsa_container_metadata_set_container_instance_arn(self->metadata, self->container_instance_arn);
    }
  self->start_task = g_steal_pointer(&gtask);
  self->event_handler = g_signal_connect(self->docker, "container-event", G_CALLBACK(container_event_cb), self);
  self->connected_handler = g_signal_connect(self->docker, "events-connected", G_CALLBACK(events_connected_cb), self);
  /* only the ECS containers: a busy host's other events cost nothing */
  ecsa_docker_client_watch_events(self->docker, ECSA_LABEL_TASK_ARN);
  self->reconciling = TRUE;
  ecsa_docker_client_list_containers_async(self->docker, ECSA_LABEL_TASK_ARN, self->cancellable, list_ready_cb,
                                           g_object_ref(self));
}

gboolean
ecsa_task_engine_start_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
shutdown_saved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) gtask = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_state_store_save_finish(ECSA_STATE_STORE(source), result, &error))
    g_task_return_error(gtask, g_steal_pointer(&error));
  else
    g_task_return_boolean(gtask, TRUE);
}

void
ecsa_task_engine_shutdown_async(EcsaTaskEngine *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) gtask = NULL;

  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));

  gtask = g_task_new(self, NULL, callback, user_data);
  g_task_set_source_tag(gtask, ecsa_task_engine_shutdown_async);
  self->stopping = TRUE;
  ecsa_docker_client_unwatch_events(self->docker);
  g_cancellable_cancel(self->cancellable);
  clear_source(&self->save_timer);
  if (self->store == NULL || !self->restored)
    {
      g_task_return_boolean(gtask, TRUE);
      return;
    }
  ecsa_state_store_save_async(self->store, NULL, shutdown_saved_cb, g_steal_pointer(&gtask));
}

gboolean
ecsa_task_engine_shutdown_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* views */

GPtrArray *
ecsa_task_engine_list_task_views(EcsaTaskEngine *self)
{
  GPtrArray *views;
  GHashTableIter it;
  gpointer v;

  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), NULL);

  views = g_ptr_array_new_full(g_hash_table_size(self->tasks), (GDestroyNotify)ecsa_task_view_free);
  g_hash_table_iter_init(&it, self->tasks);
  while (g_hash_table_iter_next(&it, NULL, &v))
    g_ptr_array_add(views, ecsa_task_view_new(v));
  return views;
}

EcsaTaskView *
ecsa_task_engine_get_task_view(EcsaTaskEngine *self, const char *task_arn)
{
  EcsaTask *task;

  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), NULL);
  g_return_val_if_fail(task_arn != NULL, NULL);

  task = g_hash_table_lookup(self->tasks, task_arn);
  return task != NULL ? ecsa_task_view_new(task) : NULL;
}

EcsaTaskView *
ecsa_task_engine_get_task_view_by_docker_id(EcsaTaskEngine *self, const char *docker_id)
{
  EcsaContainer *c;
  GHashTableIter it;
  gpointer k, v;

  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), NULL);
  g_return_val_if_fail(docker_id != NULL, NULL);

  c = g_hash_table_lookup(self->by_docker_id, docker_id);
  if (c != NULL)
    return ecsa_task_view_new(c->task);
  /* v1.16.2's introspection also answers for an ID prefix */
  if (strlen(docker_id) >= 12)
    {
      g_hash_table_iter_init(&it, self->by_docker_id);
      while (g_hash_table_iter_next(&it, &k, &v))
        if (g_str_has_prefix(k, docker_id))
          return ecsa_task_view_new(((EcsaContainer *)v)->task);
    }
  return NULL;
}

guint
ecsa_task_engine_get_n_tasks(EcsaTaskEngine *self)
{
  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), 0);
  return g_hash_table_size(self->tasks);
}

static void
image_view_free(EcsaImageView *view)
{
  g_free((char *)view->image_id);
  g_strfreev((char **)view->names);
  g_free(view);
}

GPtrArray *
ecsa_task_engine_list_images(EcsaTaskEngine *self)
{
  GPtrArray *out;
  GHashTableIter it;
  gpointer v;

  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), NULL);

  out = g_ptr_array_new_with_free_func((GDestroyNotify)image_view_free);
  g_hash_table_iter_init(&it, self->images);
  while (g_hash_table_iter_next(&it, NULL, &v))
    {
      ImageState *s = v;
      EcsaImageView *view = g_new0(EcsaImageView, 1);
      char **names = g_new0(char *, s->names->len + 1);

      for (guint i = 0; i < s->names->len; i++)
        names[i] = g_strdup(s->names->pdata[i]);
      view->struct_size = sizeof(EcsaImageView);
      view->n_containers = g_hash_table_size(s->users);
      view->image_id = g_strdup(s->image_id);
      view->names = (const char *const *)names;
      view->size = (guint64)s->size;
      view->pulled_at = s->pulled_at;
      view->last_used_at = s->last_used_at;
      g_ptr_array_add(out, view);
    }
  return out;
}

void
ecsa_task_engine_forget_image(EcsaTaskEngine *self, const char *image_id)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  if (g_hash_table_remove(self->images, image_id))
    request_save(self, FALSE);
}

gboolean
ecsa_task_engine_owns_container(EcsaTaskEngine *self, const char *docker_id)
{
  g_return_val_if_fail(ECSA_IS_TASK_ENGINE(self), FALSE);
  g_return_val_if_fail(docker_id != NULL, FALSE);
  return g_hash_table_contains(self->by_docker_id, docker_id);
}

/* ------------------------------------------------------------------------------------------- */
/* object */

gboolean
ecsa_image_pull_behavior_from_string(const char *s, EcsaImagePullBehavior *out)
{
  if (g_strcmp0(s, "default") == 0)
    *out = ECSA_IMAGE_PULL_DEFAULT;
  else if (g_strcmp0(s, "always") == 0)
    *out = ECSA_IMAGE_PULL_ALWAYS;
  else if (g_strcmp0(s, "once") == 0)
    *out = ECSA_IMAGE_PULL_ONCE;
  else if (g_strcmp0(s, "prefer-cached") == 0)
    *out = ECSA_IMAGE_PULL_PREFER_CACHED;
  else
    return FALSE;
  return TRUE;
}

void
ecsa_task_engine_set_plugin_registry(EcsaTaskEngine *self, EcsaPluginRegistry *registry)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  self->plugins = registry;
}

void
ecsa_task_engine_set_credentials_manager(EcsaTaskEngine *self, EcsaCredentialsManager *credentials)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  self->credentials = credentials;
}

void
ecsa_task_engine_set_task_network(EcsaTaskEngine *self, EcsaTaskNetwork *network)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  self->network = network;
}

void
ecsa_task_engine_set_container_instance_arn(EcsaTaskEngine *self, const char *arn)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  g_free(self->container_instance_arn);
  self->container_instance_arn = g_strdup(arn);
  if (self->metadata != NULL)
    ecsa_container_metadata_set_container_instance_arn(self->metadata, arn);
}

void
ecsa_task_engine_set_image_pull_behavior(EcsaTaskEngine *self, EcsaImagePullBehavior behavior)
{
  g_return_if_fail(ECSA_IS_TASK_ENGINE(self));
  self->pull_behavior = behavior;
}

EcsaTaskEngine *
ecsa_task_engine_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaStateStore *store)
{
  EcsaTaskEngine *self;

  g_return_val_if_fail(config != NULL, NULL);
  g_return_val_if_fail(ECSA_IS_DOCKER_CLIENT(docker), NULL);

  self = g_object_new(ECSA_TYPE_TASK_ENGINE, NULL);
  self->config = config;
  self->docker = g_object_ref(docker);
  self->store = store != NULL ? g_object_ref(store) : NULL;
  return self;
}

static void
ecsa_task_engine_dispose(GObject *object)
{
  EcsaTaskEngine *self = ECSA_TASK_ENGINE(object);

  self->stopping = TRUE;
  if (self->cancellable != NULL)
    g_cancellable_cancel(self->cancellable);
  if (self->parent_handler != 0)
    {
      g_cancellable_disconnect(self->parent_cancellable, self->parent_handler);
      self->parent_handler = 0;
    }
  g_clear_object(&self->parent_cancellable);
  if (self->docker != NULL)
    {
      if (self->event_handler != 0)
        g_signal_handler_disconnect(self->docker, self->event_handler);
      if (self->connected_handler != 0)
        g_signal_handler_disconnect(self->docker, self->connected_handler);
      self->event_handler = self->connected_handler = 0;
    }
  if (self->store != NULL && self->restored)
    {
      ecsa_state_store_unregister_section(self->store, SECTION_TASKS);
      ecsa_state_store_unregister_section(self->store, SECTION_IMAGES);
    }
  clear_source(&self->save_timer);
  clear_source(&self->start_wait);
  g_clear_object(&self->start_task);
  if (self->tasks != NULL)
    g_hash_table_remove_all(self->tasks);
  g_clear_object(&self->docker);
  g_clear_object(&self->store);
  G_OBJECT_CLASS(ecsa_task_engine_parent_class)->dispose(object);
}

static void
ecsa_task_engine_finalize(GObject *object)
{
  EcsaTaskEngine *self = ECSA_TASK_ENGINE(object);

  g_hash_table_unref(self->by_docker_id);
  g_hash_table_unref(self->tasks);
  g_hash_table_unref(self->images);
  g_hash_table_unref(self->disowned);
  g_hash_table_unref(self->unclaimed);
  g_hash_table_unref(self->abandoned);
  g_clear_pointer(&self->cgroup, ecsa_cgroup_free);
  g_clear_pointer(&self->metadata, ecsa_container_metadata_free);
  g_free(self->container_instance_arn);
  g_clear_object(&self->cancellable);
  g_main_context_unref(self->context);
  G_OBJECT_CLASS(ecsa_task_engine_parent_class)->finalize(object);
}

static void
ecsa_task_engine_class_init(EcsaTaskEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = ecsa_task_engine_dispose;
  object_class->finalize = ecsa_task_engine_finalize;

  /* (const EcsaStateChange *change): copy it to keep it */
  signals[SIGNAL_STATE_CHANGE] = g_signal_new("state-change", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /* (const char *task_arn): the task was cleaned up and forgotten */
  signals[SIGNAL_TASK_REMOVED] = g_signal_new("task-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* (): ecsa_task_engine_reset() forgot every task (each one "task-removed" first) */
  signals[SIGNAL_RESET]
    = g_signal_new("reset", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
ecsa_task_engine_init(EcsaTaskEngine *self)
{
  self->tasks = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)task_destroy);
  self->by_docker_id = g_hash_table_new(g_str_hash, g_str_equal);
  self->images = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)image_state_free);
  self->disowned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->unclaimed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  self->abandoned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new();
  self->context = g_main_context_ref_thread_default();
}
