/* Container CPU and memory metrics for TCS, read from cgroup files.
 *
 * Agent v1.16.2 (agent/stats) keeps one Docker stats stream open per running container, converts
 * each ~1 s sample into CPU percent (cumulative CPU ns divided by the number of CPUs, over elapsed
 * ns, times 100) and memory MiB (usage minus page cache, truncated), keeps up to 120 samples, and
 * every 20 s hands TCS a CWStatsSet (min, max, sum, sample count) per container, then starts over.
 * Those streams cost dockerd a core at 150+ containers. Here one timer reads the same numbers
 * straight from each container's cgroup (cpuacct.usage, memory.usage_in_bytes and memory.stat on
 * v1; cpu.stat, memory.current and memory.stat on v2) in a worker thread, and folds them into
 * running sets: memory stays constant per container, whatever the interval between collections.
 * Unlike v1.16.2, the first sample after a collection keeps its CPU value (the last reading of the
 * previous interval is its baseline), and sampling stops while no container is followed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-plugin.h"
#include "ecsa-cgroup-stats.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define SAMPLE_INTERVAL_MS 1000  /* v1.16.2: Docker's stats stream, one sample a second */
#define MAX_CONTAINERS 8192      /* a bound on what one agent follows */
#define INSPECT_TIMEOUT_MS 30000 /* v1.16.2's inspect timeout */

typedef struct
{
  char *docker_id;
  char *name;
  char *task_arn;
  char *family;
  char *version;
  gint pid;
  EcsaCgroupFiles files; /* resolved from /proc/<pid>/cgroup; cpu_file NULL until then */
  gboolean inspecting;   /* a Docker inspect for the PID is in flight */
  gint64 inspect_after;  /* monotonic us: no new inspect before (the container was not running) */
  guint failures;        /* consecutive failed readings */
  gboolean have_baseline;
  guint64 last_cpu_ns;
  gint64 last_time_us; /* monotonic */
  EcsaStatSet cpu;
  EcsaStatSet memory;
} Followed;

typedef struct
{
  const EcsaPluginHost *host;
  EcsaCgroupMounts mounts;
  guint n_cpus;
  GHashTable *followed; /* docker_id -> Followed* */
  GSource *timer;
  gboolean sampling;
  GCancellable *cancellable; /* cancelled at shutdown: late callbacks leave the state alone */
} CgroupState;

static void
followed_free (Followed *f)
{
  g_free (f->docker_id);
  g_free (f->name);
  g_free (f->task_arn);
  g_free (f->family);
  g_free (f->version);
  ecsa_cgroup_files_clear (&f->files);
  g_free (f);
}

static void
stat_set_add (EcsaStatSet *set, double value)
{
  if (set->sample_count == 0)
    {
      set->min = value;
      set->max = value;
      set->sum = 0;
    }
  set->min = MIN (set->min, value);
  set->max = MAX (set->max, value);
  set->sum += value;
  set->sample_count++;
}

/* ---------------------------------------------------------------------------------------------
 * Sampling: a batch of readings in a worker thread
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  char *docker_id;
  gint pid;
  EcsaCgroupFiles files; /* in: known files (cpu_file NULL: resolve from pid); out: what was read */
  gboolean resolved;     /* out: files were resolved in this batch */
  gboolean ok;
  guint64 cpu_ns;
  guint64 mem_bytes;
  gint64 time_us;
  char *error;
} Reading;

typedef struct
{
  EcsaCgroupMounts mounts;
  GArray *readings; /* Reading */
} Batch;

static void
reading_clear (Reading *r)
{
  g_free (r->docker_id);
  ecsa_cgroup_files_clear (&r->files);
  g_free (r->error);
}

static void
batch_free (Batch *b)
{
  ecsa_cgroup_mounts_clear (&b->mounts);
  g_array_unref (b->readings);
  g_free (b);
}

static void
read_one (const EcsaCgroupMounts *mounts, Reading *r)
{
  g_autoptr(GError) error = NULL;

  if (r->files.cpu_file == NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/cgroup", r->pid);
      g_autofree char *text = NULL;

      if (!g_file_get_contents (path, &text, NULL, &error)
          || !ecsa_cgroup_files_resolve (mounts, text, r->docker_id, &r->files, &error))
        {
          r->error = g_strdup (error->message);
          return;
        }
      r->resolved = TRUE;
    }
  if (!ecsa_cgroup_read (&r->files, &r->cpu_ns, &r->mem_bytes, &error))
    {
      r->error = g_strdup (error->message);
      return;
    }
  r->time_us = g_get_monotonic_time ();
  r->ok = TRUE;
}

static void
sample_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Batch *b = task_data;
  guint i;

  for (i = 0; i < b->readings->len && !g_cancellable_is_cancelled (cancellable); i++)
    read_one (&b->mounts, &g_array_index (b->readings, Reading, i));
  g_task_return_boolean (task, TRUE);
}

static void
apply_reading (CgroupState *st, Followed *f, Reading *r)
{
  if (r->resolved)
    {
      ecsa_cgroup_files_clear (&f->files);
      ecsa_cgroup_files_copy (&r->files, &f->files);
    }
  if (!r->ok)
    {
      /* Until the engine says the container stopped, a failure is worth one line, not one a second.
       * After three in a row, resolve the files again (the PID may have changed). */
      if (f->failures++ == 0)
        ecsa_plugin_host_logf (st->host, ECSA_LOG_DEBUG, "container '%s': no cgroup reading: %s, ignoring",
                               f->docker_id, r->error);
      if (f->failures >= 3 && !r->resolved)
        ecsa_cgroup_files_clear (&f->files);
      return;
    }
  f->failures = 0;
  /* memory: MiB, truncated, as v1.16.2 (uint32 of bytes / MiB) */
  stat_set_add (&f->memory, (double) (r->mem_bytes / (1024 * 1024)));
  if (f->have_baseline && r->time_us > f->last_time_us && r->cpu_ns >= f->last_cpu_ns)
    {
      double cpu_ns = (double) (r->cpu_ns - f->last_cpu_ns) / st->n_cpus;
      double elapsed_ns = (double) (r->time_us - f->last_time_us) * 1000.0;
      stat_set_add (&f->cpu, 100.0 * cpu_ns / elapsed_ns);
    }
  f->have_baseline = TRUE;
  f->last_cpu_ns = r->cpu_ns;
  f->last_time_us = r->time_us;
}

static void
sample_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CgroupState *st = user_data;
  Batch *b = g_task_get_task_data (G_TASK (result));
  guint i;

  if (!g_task_propagate_boolean (G_TASK (result), NULL))
    return; /* cancelled: the plugin is shutting down, `st` may be gone */
  st->sampling = FALSE;
  for (i = 0; i < b->readings->len; i++)
    {
      Reading *r = &g_array_index (b->readings, Reading, i);
      Followed *f = g_hash_table_lookup (st->followed, r->docker_id);

      if (f != NULL) /* else it stopped meanwhile */
        apply_reading (st, f, r);
    }
}

static void inspect_pid (CgroupState *st, Followed *f);

static gboolean
sample_tick_cb (gpointer user_data)
{
  CgroupState *st = user_data;
  g_autoptr(GTask) task = NULL;
  GHashTableIter iter;
  Followed *f;
  Batch *b;

  if (st->sampling) /* the previous batch is still reading: skip a beat rather than queue */
    return G_SOURCE_CONTINUE;
  b = g_new0 (Batch, 1);
  ecsa_cgroup_mounts_copy (&st->mounts, &b->mounts);
  b->readings = g_array_new (FALSE, TRUE, sizeof (Reading));
  g_array_set_clear_func (b->readings, (GDestroyNotify) reading_clear);
  g_hash_table_iter_init (&iter, st->followed);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &f))
    {
      Reading r = { 0 };

      if (f->files.cpu_file == NULL && f->pid <= 0)
        {
          inspect_pid (st, f);
          continue;
        }
      r.docker_id = g_strdup (f->docker_id);
      r.pid = f->pid;
      ecsa_cgroup_files_copy (&f->files, &r.files);
      g_array_append_val (b->readings, r);
    }
  if (b->readings->len == 0)
    {
      batch_free (b);
      return G_SOURCE_CONTINUE;
    }
  task = g_task_new (NULL, st->cancellable, sample_ready_cb, st);
  g_task_set_source_tag (task, sample_tick_cb);
  g_task_set_task_data (task, b, (GDestroyNotify) batch_free);
  st->sampling = TRUE;
  g_task_run_in_thread (task, sample_thread);
  return G_SOURCE_CONTINUE;
}

static void
timer_update (CgroupState *st)
{
  if (g_hash_table_size (st->followed) > 0 && st->timer == NULL)
    st->timer = st->host->timeout_add (st->host, SAMPLE_INTERVAL_MS, sample_tick_cb, st, NULL);
  else if (g_hash_table_size (st->followed) == 0 && st->timer != NULL)
    {
      g_source_destroy (st->timer);
      g_clear_pointer (&st->timer, g_source_unref);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The PID from Docker, when the engine's view did not carry it
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  CgroupState *st; /* valid only while `cancellable` is not cancelled */
  const EcsaPluginHost *host;
  GCancellable *cancellable;
  char *docker_id;
} InspectData;

static void
inspect_data_free (InspectData *d)
{
  g_object_unref (d->cancellable);
  g_free (d->docker_id);
  g_free (d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (InspectData, inspect_data_free)

static void
inspect_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(InspectData) d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  CgroupState *st;
  JsonObject *root;
  JsonObject *state;
  Followed *f;
  guint status = 0;
  gsize len = 0;
  const char *data;

  /* The host's callback runs on the main context; the state is alive unless cancelled. */
  body = d->host->docker_request_finish (d->host, result, &status, &error);
  if (g_cancellable_is_cancelled (d->cancellable))
    return;
  st = d->st;
  f = g_hash_table_lookup (st->followed, d->docker_id);
  if (f == NULL)
    return;
  f->inspecting = FALSE;
  f->inspect_after = g_get_monotonic_time () + 5 * G_USEC_PER_SEC; /* unless a PID arrives below */
  if (body == NULL || status != 200)
    {
      ecsa_plugin_host_logf (st->host, ECSA_LOG_WARN, "container '%s': inspect for its PID failed: %s, ignoring",
                             d->docker_id, body == NULL ? error->message : "HTTP error");
      return;
    }
  data = g_bytes_get_data (body, &len);
  if (!json_parser_load_from_data (parser, data, (gssize) len, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  root = json_node_get_object (json_parser_get_root (parser));
  state = json_object_has_member (root, "State") ? json_object_get_object_member (root, "State") : NULL;
  if (state != NULL && json_object_has_member (state, "Pid"))
    f->pid = (gint) json_object_get_int_member (state, "Pid");
}

static void
inspect_pid (CgroupState *st, Followed *f)
{
  g_autofree char *path = NULL;
  InspectData *d;

  if (f->inspecting || g_get_monotonic_time () < f->inspect_after)
    return;
  f->inspecting = TRUE;
  d = g_new0 (InspectData, 1);
  d->st = st;
  d->host = st->host;
  d->cancellable = g_object_ref (st->cancellable);
  d->docker_id = g_strdup (f->docker_id);
  path = g_strdup_printf ("/containers/%s/json", f->docker_id);
  st->host->docker_request_async (st->host, "GET", path, NULL, INSPECT_TIMEOUT_MS, st->cancellable,
                                  inspect_ready_cb, d);
}

/* ---------------------------------------------------------------------------------------------
 * The vtable
 * ------------------------------------------------------------------------------------------- */

static void
cgroup_container_started (gpointer state, const EcsaTaskView *task, const EcsaContainerView *container)
{
  CgroupState *st = state;
  Followed *f;

  if (task == NULL || container == NULL || container->docker_id == NULL || container->docker_id[0] == '\0'
      || task->arn == NULL || task->arn[0] == '\0')
    return;
  f = g_hash_table_lookup (st->followed, container->docker_id);
  if (f != NULL)
    {
      if (container->pid > 0 && container->pid != f->pid) /* restarted: resolve again */
        {
          f->pid = container->pid;
          ecsa_cgroup_files_clear (&f->files);
          f->have_baseline = FALSE;
        }
      return;
    }
  if (g_hash_table_size (st->followed) >= MAX_CONTAINERS)
    {
      ecsa_plugin_host_logf (st->host, ECSA_LOG_WARN, "already following %u containers, not '%s', ignoring",
                             MAX_CONTAINERS, container->docker_id);
      return;
    }
  f = g_new0 (Followed, 1);
  f->docker_id = g_strdup (container->docker_id);
  f->name = g_strdup (container->name);
  f->task_arn = g_strdup (task->arn);
  f->family = g_strdup (task->family);
  f->version = g_strdup (task->version);
  f->pid = container->pid;
  g_hash_table_insert (st->followed, f->docker_id, f);
  timer_update (st);
}

static void
cgroup_container_stopped (gpointer state, const char *docker_id)
{
  CgroupState *st = state;

  if (docker_id != NULL && g_hash_table_remove (st->followed, docker_id))
    timer_update (st);
}

static EcsaTaskMetrics *
task_metrics_for (GHashTable *by_task, Followed *f)
{
  EcsaTaskMetrics *m = g_hash_table_lookup (by_task, f->task_arn);

  if (m == NULL)
    {
      m = g_new0 (EcsaTaskMetrics, 1);
      m->struct_size = sizeof (EcsaTaskMetrics);
      m->task_arn = g_strdup (f->task_arn);
      m->family = g_strdup (f->family);
      m->version = g_strdup (f->version);
      g_hash_table_insert (by_task, m->task_arn, m);
    }
  return m;
}

static int
compare_task_metrics (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 ((*(EcsaTaskMetrics *const *) a)->task_arn, (*(EcsaTaskMetrics *const *) b)->task_arn);
}

static GPtrArray *
cgroup_collect (gpointer state)
{
  CgroupState *st = state;
  g_autoptr(GHashTable) by_task = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_task_metrics_free);
  GHashTableIter iter;
  Followed *f;
  EcsaTaskMetrics *m;

  g_hash_table_iter_init (&iter, st->followed);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &f))
    {
      EcsaContainerMetrics *c;

      /* Like v1.16.2, a container is reported once it has both sets (it needs two readings). */
      if (f->cpu.sample_count > 0 && f->memory.sample_count > 0)
        {
          m = task_metrics_for (by_task, f);
          m->containers = g_renew (EcsaContainerMetrics *, m->containers, m->n_containers + 1);
          c = m->containers[m->n_containers++] = g_new0 (EcsaContainerMetrics, 1);
          c->struct_size = sizeof (EcsaContainerMetrics);
          c->container_name = g_strdup (f->name);
          c->docker_id = g_strdup (f->docker_id);
          c->cpu = f->cpu;
          c->memory = f->memory;
        }
      /* New sets; the last CPU reading stays as the baseline of the next interval. */
      memset (&f->cpu, 0, sizeof f->cpu);
      memset (&f->memory, 0, sizeof f->memory);
    }
  g_hash_table_iter_init (&iter, by_task);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &m))
    g_ptr_array_add (out, m);
  g_ptr_array_sort (out, compare_task_metrics);
  return out;
}

static gboolean
cgroup_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  g_autofree char *mountinfo = NULL;
  g_autoptr(GError) local_error = NULL;
  CgroupState *st;
  EcsaCgroupMounts mounts = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };

  /* Start-up, before the loop serves anything: a one-off read of a procfs file. */
  if (!g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, &local_error)
      || !ecsa_cgroup_mounts_parse (mountinfo, &mounts, &local_error))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "no cgroup hierarchy to read metrics from: %s",
                   local_error->message);
      return FALSE;
    }
  st = g_new0 (CgroupState, 1);
  st->host = host;
  st->mounts = mounts;
  st->n_cpus = MAX (1, g_get_num_processors ());
  st->followed = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) followed_free);
  st->cancellable = g_cancellable_new ();
  ecsa_plugin_host_logf (host, ECSA_LOG_INFO, "reading container metrics from cgroup %s (%u CPUs)",
                         mounts.cpuacct.mount_point != NULL && mounts.memory.mount_point != NULL ? "v1" : "v2",
                         st->n_cpus);
  *out_state = st;
  return TRUE;
}

static void
cgroup_shutdown (gpointer state)
{
  CgroupState *st = state;

  g_cancellable_cancel (st->cancellable);
  g_clear_object (&st->cancellable);
  if (st->timer != NULL)
    {
      g_source_destroy (st->timer);
      g_clear_pointer (&st->timer, g_source_unref);
    }
  g_hash_table_unref (st->followed);
  ecsa_cgroup_mounts_clear (&st->mounts);
  g_free (st);
}

static const EcsaMetricsVTable cgroup_vtable = {
  .version = ECSA_METRICS_VTABLE_VERSION,
  .container_started = cgroup_container_started,
  .container_stopped = cgroup_container_stopped,
  .collect = cgroup_collect,
};

ECSA_PLUGIN_DEFINE (metrics_cgroup, .kind = ECSA_PLUGIN_KIND_METRICS, .name = "cgroup", .version = PACKAGE_VERSION,
                    .init = cgroup_init, .shutdown = cgroup_shutdown, .vtable = &cgroup_vtable)
