/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-image-cleanup.h"

#include "ecsa-log.h"

struct _EcsaImageCleanup
{
  EcsaConfig *config;
  EcsaDockerClient *docker;
  EcsaPluginRegistry *registry;
  EcsaImageCleanupSource source;
  gpointer source_data;
  GSource *timer;
  guint interval_ms; /* 0: the configured interval */
  gboolean cycle_running;
  GCancellable *cancellable; /* cancelled by free: stops a cycle in flight */
};

void
ecsa_image_cleanup_report_free(EcsaImageCleanupReport *report)
{
  if (report == NULL)
    return;
  g_ptr_array_unref(report->removed);
  g_ptr_array_unref(report->failed);
  g_ptr_array_unref(report->forgotten);
  g_free(report);
}

static EcsaImageCleanupReport *
report_new(void)
{
  EcsaImageCleanupReport *r = g_new0(EcsaImageCleanupReport, 1);

  r->removed = g_ptr_array_new_with_free_func(g_free);
  r->failed = g_ptr_array_new_with_free_func(g_free);
  r->forgotten = g_ptr_array_new_with_free_func(g_free);
  return r;
}

static void
image_view_free(EcsaImageView *v)
{
  if (v == NULL)
    return;
  g_free((char *)v->image_id);
  g_strfreev((char **)v->names);
  g_free(v);
}

static EcsaImageView *
image_view_copy(const EcsaImageView *src)
{
  EcsaImageView *v = g_new0(EcsaImageView, 1);

  v->struct_size = sizeof(EcsaImageView);
  v->n_containers = src->n_containers;
  v->image_id = g_strdup(src->image_id);
  v->names = (const char *const *)g_strdupv((char **)(src->names != NULL ? src->names : (const char *const[]){ NULL }));
  v->size = src->size;
  v->pulled_at = src->pulled_at;
  v->last_used_at = src->last_used_at;
  v->used_outside_ecs = src->used_outside_ecs;
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * One cycle
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  EcsaImageCleanup *self; /* valid unless `stop` was cancelled (ecsa_image_cleanup_free) */
  GCancellable *stop;
  GHashTable *docker_sizes; /* image id -> gint64* size, from Docker's image list */
  GHashTable *outside;      /* image ids used by containers the agent does not own */
  GPtrArray *views;         /* EcsaImageView* offered to the plugin */
  GPtrArray *chosen;        /* char* image ids, in order */
  guint next_image;
  char **names; /* of the image being removed: what to DELETE, in order */
  guint next_name;
  EcsaImageCleanupReport *report;
} Cycle;

static void
cycle_free(Cycle *c)
{
  g_clear_object(&c->stop);
  g_clear_pointer(&c->docker_sizes, g_hash_table_unref);
  g_clear_pointer(&c->outside, g_hash_table_unref);
  g_clear_pointer(&c->views, g_ptr_array_unref);
  g_clear_pointer(&c->chosen, g_ptr_array_unref);
  g_strfreev(c->names);
  ecsa_image_cleanup_report_free(c->report);
  g_free(c);
}

/* The cleanup was freed meanwhile: end the cycle without touching it. */
static gboolean
cycle_stopped(GTask *task)
{
  Cycle *c = g_task_get_task_data(task);

  if (!g_cancellable_is_cancelled(c->stop))
    return FALSE;
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "image cleanup: the agent is shutting down");
  return TRUE;
}

static const EcsaImageView *
find_view(GPtrArray *views, const char *image_id)
{
  for (guint i = 0; i < views->len; i++)
    {
      const EcsaImageView *v = g_ptr_array_index(views, i);
      if (g_strcmp0(v->image_id, image_id) == 0)
        return v;
    }
  return NULL;
}

static void remove_next_image(GTask *task);

static void
remove_name_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Cycle *c = g_task_get_task_data(task);
  const char *image_id = g_ptr_array_index(c->chosen, c->next_image - 1);
  const char *name = c->names[c->next_name - 1];
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_docker_client_remove_image_finish(ECSA_DOCKER_CLIENT(source), result, &error);

  if (cycle_stopped(task))
    return;
  if (!ok)
    {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error(task, g_steal_pointer(&error));
          return;
        }
      if (!g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        {
          /* v1.16.2 drops the image from this cycle's candidates and goes on with the next one */
          ecsa_log_warn("Error removing image '%s' ('%s'): %s", name, image_id, error->message);
          g_ptr_array_add(c->report->failed, g_strdup_printf("%s: '%s': %s", image_id, name, error->message));
          g_clear_pointer(&c->names, g_strfreev);
          remove_next_image(g_steal_pointer(&task));
          return;
        }
      ecsa_log_info("Image '%s' was already removed from the instance", name);
    }
  else
    ecsa_log_info("Image removed: '%s'", name);

  if (c->names[c->next_name] != NULL)
    {
      GCancellable *cancellable = g_task_get_cancellable(task);

      ecsa_docker_client_remove_image_async(c->self->docker, c->names[c->next_name++], cancellable,
                                            remove_name_ready_cb, g_steal_pointer(&task));
      return;
    }
  /* every name the agent pulled it by is gone: v1.16.2 stops tracking the image */
  ecsa_log_info("Cleaning up all tracking information for image '%s' as it has zero references", image_id);
  c->self->source.forget_image(c->self->source_data, image_id);
  g_ptr_array_add(c->report->removed, g_strdup(image_id));
  g_clear_pointer(&c->names, g_strfreev);
  remove_next_image(g_steal_pointer(&task));
}

static void
remove_next_image(GTask *task /* owned */)
{
  Cycle *c = g_task_get_task_data(task);
  g_autoptr(GPtrArray) now = NULL;
  const EcsaImageView *view;
  const char *image_id;

  if (c->next_image >= c->chosen->len)
    {
      g_task_return_pointer(task, g_steal_pointer(&c->report), (GDestroyNotify)ecsa_image_cleanup_report_free);
      g_object_unref(task);
      return;
    }
  image_id = g_ptr_array_index(c->chosen, c->next_image++);
  /* A task may have started using it since the cycle began (the engine pulls meanwhile). */
  now = c->self->source.list_images(c->self->source_data);
  view = find_view(now, image_id);
  if (view == NULL || view->n_containers > 0)
    {
      ecsa_log_info("Image '%s' is %s since this cleanup cycle began, leaving it", image_id,
                    view == NULL ? "no longer tracked" : "in use again");
      remove_next_image(task);
      return;
    }
  if (view->names != NULL && view->names[0] != NULL)
    c->names = g_strdupv((char **)view->names);
  else
    {
      /* potentially an untagged image (<none>:<none>): by ID */
      c->names = g_new0(char *, 2);
      c->names[0] = g_strdup(image_id);
    }
  c->next_name = 0;
  ecsa_log_info("Removing image '%s' (%s)", image_id, c->names[0]);
  ecsa_docker_client_remove_image_async(c->self->docker, c->names[c->next_name++], g_task_get_cancellable(task),
                                        remove_name_ready_cb, task);
}

static void
choose(GTask *task /* owned */)
{
  Cycle *c = g_task_get_task_data(task);
  EcsaConfig *config = c->self->config;
  EcsaImageCleanupPolicy policy = {
    .struct_size = sizeof(EcsaImageCleanupPolicy),
    .max_delete = (guint32)MAX(config->num_images_to_delete_per_cycle, 0),
    .now = g_get_real_time() / G_USEC_PER_SEC,
    .minimum_age = config->minimum_image_deletion_age / G_USEC_PER_SEC,
  };
  g_autoptr(GError) error = NULL;

  c->chosen = ecsa_plugin_registry_image_cleanup_choose(
    c->self->registry, (const EcsaImageView *const *)c->views->pdata, c->views->len, &policy, &error);
  if (c->chosen == NULL)
    {
      g_task_return_error(task, g_steal_pointer(&error));
      g_object_unref(task);
      return;
    }
  if (c->chosen->len == 0)
    ecsa_log_info("No eligible images for deletion for this cleanup cycle (%u images tracked)", c->views->len);
  else
    ecsa_log_info("Found %u eligible images for deletion (%u images tracked)", c->chosen->len, c->views->len);
  remove_next_image(task);
}

/* The engine's images, with what Docker says: gone images are forgotten, sizes filled in, users
 * outside the agent marked. */
static void
build_views(Cycle *c)
{
  g_autoptr(GPtrArray) tracked = c->self->source.list_images(c->self->source_data);

  c->views = g_ptr_array_new_with_free_func((GDestroyNotify)image_view_free);
  for (guint i = 0; i < tracked->len; i++)
    {
      const EcsaImageView *t = g_ptr_array_index(tracked, i);
      const gint64 *size;
      EcsaImageView *v;

      if (t->image_id == NULL || t->image_id[0] == '\0')
        continue;
      size = g_hash_table_lookup(c->docker_sizes, t->image_id);
      if (size == NULL)
        {
          ecsa_log_info("Image '%s' is no longer on the instance, forgetting it", t->image_id);
          g_ptr_array_add(c->report->forgotten, g_strdup(t->image_id));
          c->self->source.forget_image(c->self->source_data, t->image_id);
          continue;
        }
      v = image_view_copy(t);
      if (*size > 0)
        v->size = (guint64)*size;
      v->used_outside_ecs = g_hash_table_contains(c->outside, t->image_id);
      g_ptr_array_add(c->views, v);
    }
}

static void
containers_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Cycle *c = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) list = ecsa_docker_client_list_containers_finish(ECSA_DOCKER_CLIENT(source), result, &error);
  JsonArray *array;

  if (cycle_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (list == NULL)
    {
      g_prefix_error(&error, "image cleanup: listing containers: ");
      g_task_return_error(task, g_steal_pointer(&error));
      g_object_unref(task);
      return;
    }
  array = json_node_get_array(list);
  for (guint i = 0; i < json_array_get_length(array); i++)
    {
      JsonObject *o = json_array_get_object_element(array, i);
      const char *id = o != NULL ? json_object_get_string_member_with_default(o, "Id", NULL) : NULL;
      const char *image_id = o != NULL ? json_object_get_string_member_with_default(o, "ImageID", NULL) : NULL;

      if (id != NULL && image_id != NULL && !c->self->source.owns_container(c->self->source_data, id))
        g_hash_table_add(c->outside, g_strdup(image_id));
    }
  build_views(c);
  choose(task);
}

static void
images_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Cycle *c = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GBytes) body = NULL;
  guint status = 0;
  gsize len = 0;
  const char *data;
  JsonArray *array;

  body = ecsa_docker_client_request_finish(ECSA_DOCKER_CLIENT(source), result, &status, &error);
  if (cycle_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (body != NULL && status != 200)
    g_set_error(&error, ECSA_ERROR, ECSA_ERROR_FAILED, "HTTP %u", status);
  data = body != NULL ? g_bytes_get_data(body, &len) : NULL;
  if (error == NULL
      && (data == NULL || !json_parser_load_from_data(parser, data, (gssize)len, &error)
          || !JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser))))
    {
      g_clear_error(&error);
      g_set_error_literal(&error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "the image list is not a JSON array");
    }
  if (error != NULL)
    {
      g_prefix_error(&error, "image cleanup: listing images: ");
      g_task_return_error(task, g_steal_pointer(&error));
      g_object_unref(task);
      return;
    }
  array = json_node_get_array(json_parser_get_root(parser));
  for (guint i = 0; i < json_array_get_length(array); i++)
    {
      JsonObject *o = json_array_get_object_element(array, i);
      const char *id = o != NULL ? json_object_get_string_member_with_default(o, "Id", NULL) : NULL;

      if (id != NULL)
        g_hash_table_insert(
          c->docker_sizes, g_strdup(id),
          g_memdup2(&(gint64){ json_object_get_int_member_with_default(o, "Size", 0) }, sizeof(gint64)));
    }
  ecsa_docker_client_list_containers_async(c->self->docker, NULL, g_task_get_cancellable(task), containers_ready_cb,
                                           task);
}

void
ecsa_image_cleanup_run_async(EcsaImageCleanup *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  GTask *task;
  Cycle *c;

  g_return_if_fail(self != NULL);
  task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, ecsa_image_cleanup_run_async);
  c = g_new0(Cycle, 1);
  c->self = self;
  c->stop = g_object_ref(self->cancellable);
  c->docker_sizes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  c->outside = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  c->report = report_new();
  g_task_set_task_data(task, c, (GDestroyNotify)cycle_free);
  ecsa_log_info("Begin building map of eligible unused images for deletion");
  ecsa_docker_client_request_async(self->docker, "GET", "/images/json", NULL, 0, cancellable, images_ready_cb, task);
}

EcsaImageCleanupReport *
ecsa_image_cleanup_run_finish(EcsaImageCleanup *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_image_cleanup_run_async), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---------------------------------------------------------------------------------------------
 * The timer
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  EcsaImageCleanup *self; /* valid unless `cancellable` was cancelled (free) */
  GCancellable *cancellable;
} TimerRun;

static void
timer_run_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  TimerRun *t = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaImageCleanupReport) report = g_task_propagate_pointer(G_TASK(result), &error);

  if (!g_cancellable_is_cancelled(t->cancellable))
    {
      t->self->cycle_running = FALSE;
      if (report == NULL)
        ecsa_log_gerror(ECSA_LOG_WARN, error, "Image cleanup cycle failed");
      else if (report->removed->len > 0 || report->failed->len > 0)
        ecsa_log_info("Image cleanup cycle: %u removed, %u failed; still tracking the rest", report->removed->len,
                      report->failed->len);
    }
  g_object_unref(t->cancellable);
  g_free(t);
}

static gboolean
timer_cb(gpointer user_data)
{
  EcsaImageCleanup *self = user_data;
  TimerRun *t;

  if (self->cycle_running)
    {
      ecsa_log_info("Image cleanup: the previous cycle is still running, skipping this one");
      return G_SOURCE_CONTINUE;
    }
  self->cycle_running = TRUE;
  t = g_new0(TimerRun, 1);
  t->self = self;
  t->cancellable = g_object_ref(self->cancellable);
  ecsa_image_cleanup_run_async(self, self->cancellable, timer_run_ready_cb, t);
  return G_SOURCE_CONTINUE;
}

static guint
interval_ms(EcsaImageCleanup *self)
{
  if (self->interval_ms > 0)
    return self->interval_ms;
  return (guint)MIN(self->config->image_cleanup_interval / 1000, (GTimeSpan)G_MAXUINT);
}

void
ecsa_image_cleanup_start(EcsaImageCleanup *self)
{
  g_return_if_fail(self != NULL);
  if (self->config->image_cleanup_disabled)
    {
      ecsa_log_info("Image cleanup disabled (ECS_DISABLE_IMAGE_CLEANUP)");
      return;
    }
  if (self->timer != NULL)
    return;
  self->timer = g_timeout_source_new(interval_ms(self));
  g_source_set_name(self->timer, "ecsa image cleanup");
  g_source_set_callback(self->timer, timer_cb, self, NULL);
  g_source_attach(self->timer, g_main_context_get_thread_default());
  ecsa_log_info("Image cleanup every %u s: at most %d images a cycle, older than %" G_GINT64_FORMAT " s",
                interval_ms(self) / 1000, self->config->num_images_to_delete_per_cycle,
                (gint64)(self->config->minimum_image_deletion_age / G_USEC_PER_SEC));
}

gboolean
ecsa_image_cleanup_is_running(EcsaImageCleanup *self)
{
  g_return_val_if_fail(self != NULL, FALSE);
  return self->timer != NULL;
}

void
ecsa_image_cleanup_set_interval(EcsaImageCleanup *self, guint ms)
{
  g_return_if_fail(self != NULL);
  self->interval_ms = ms;
  if (self->timer != NULL)
    {
      g_source_destroy(self->timer);
      g_clear_pointer(&self->timer, g_source_unref);
      ecsa_image_cleanup_start(self);
    }
}

EcsaImageCleanup *
ecsa_image_cleanup_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaPluginRegistry *registry,
                       const EcsaImageCleanupSource *source, gpointer source_data)
{
  EcsaImageCleanup *self;

  g_return_val_if_fail(config != NULL && docker != NULL && registry != NULL && source != NULL, NULL);
  g_return_val_if_fail(source->list_images != NULL && source->owns_container != NULL && source->forget_image != NULL,
                       NULL);
  self = g_new0(EcsaImageCleanup, 1);
  self->config = config;
  self->docker = docker;
  self->registry = registry;
  self->source = *source;
  self->source_data = source_data;
  self->cancellable = g_cancellable_new();
  return self;
}

void
ecsa_image_cleanup_free(EcsaImageCleanup *self)
{
  if (self == NULL)
    return;
  g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  if (self->timer != NULL)
    g_source_destroy(self->timer);
  g_clear_pointer(&self->timer, g_source_unref);
  g_free(self);
}
