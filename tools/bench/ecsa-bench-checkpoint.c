/* ecsa-bench-checkpoint: how long the agent's checkpoint takes to save, and where it runs.
 *
 * Restores a checkpoint the agent wrote (e.g. with 250 running tasks) into the real task engine and
 * state store, then saves it again and again as the agent does (ecsa_state_store_save_async) and
 * prints one JSON object:
 *   - main_cpu_us: CPU time of the main thread per save (the snapshot of every section, which is
 *     the only part that runs on the main context, plus the dispatch of the completion);
 *   - worker_us: the store's own timing of the write in its worker thread (JSON generation, temp
 *     file, fsync, rename, directory fsync);
 *   - total_us: from the request to its completion (wall clock);
 *   - on_main_thread: writes the store saw run on the thread that created it (must be 0).
 * Nothing touches Docker: the engine is restored, not started.
 *
 *   ecsa-bench-checkpoint --checkpoint DATA_DIR/ecsa_agent_data.json [--saves 20]
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-log.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct
{
  gboolean done;
  GError *error;
} Wait;

static void
saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  ecsa_state_store_save_finish (ECSA_STATE_STORE (source), result, &w->error);
  w->done = TRUE;
}

static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

static void
add_stats (JsonBuilder *jb, const char *name, GArray *v)
{
  gint64 sum = 0;

  g_array_sort (v, compare_int64);
  for (guint i = 0; i < v->len; i++)
    sum += g_array_index (v, gint64, i);
  json_builder_set_member_name (jb, name);
  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "median");
  json_builder_add_int_value (jb, g_array_index (v, gint64, v->len / 2));
  json_builder_set_member_name (jb, "mean");
  json_builder_add_int_value (jb, sum / (gint64) v->len);
  json_builder_set_member_name (jb, "min");
  json_builder_add_int_value (jb, g_array_index (v, gint64, 0));
  json_builder_set_member_name (jb, "max");
  json_builder_add_int_value (jb, g_array_index (v, gint64, v->len - 1));
  json_builder_end_object (jb);
}

static gboolean
copy_checkpoint (const char *from, const char *dir, GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *to = g_build_filename (dir, ECSA_STATE_STORE_FILE, NULL);
  gsize len = 0;

  return g_file_get_contents (from, &data, &len, error) && g_file_set_contents (to, data, (gssize) len, error);
}

static void
remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) options = g_option_context_new ("- time the agent's checkpoint saves");
  g_autoptr(GError) error = NULL;
  g_autofree char *checkpoint = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(EcsaConfig) config = NULL;
  g_autoptr(EcsaDockerClient) docker = NULL;
  g_autoptr(EcsaStateStore) store = NULL;
  g_autoptr(EcsaTaskEngine) engine = NULL;
  g_autoptr(GArray) main_cpu = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) worker = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) total = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(JsonBuilder) jb = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  guint64 writes = 0, on_main = 0;
  gint64 last_us = 0, max_us = 0;
  GStatBuf st;
  int saves = 20;
  const GOptionEntry entries[] = {
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "A checkpoint file the agent wrote", "FILE" },
    { "saves", 'n', 0, G_OPTION_ARG_INT, &saves, "How many saves to time (20)", "N" },
    { NULL },
  };

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || checkpoint == NULL || saves < 1 || saves > 10000)
    {
      fprintf (stderr, "ecsa-bench-checkpoint: %s\n",
               error != NULL ? error->message : "usage: --checkpoint FILE [--saves 1..10000]");
      return 2;
    }
  /* the engine's own messages: only warnings and worse, to stderr (stdout carries the result) */
  ecsa_log_init ();
  ecsa_log_set_console (2);
  ecsa_log_set_level (ECSA_LOG_WARN);

  dir = g_dir_make_tmp ("ecsa-bench-checkpoint-XXXXXX", &error);
  if (dir == NULL || !copy_checkpoint (checkpoint, dir, &error))
    {
      fprintf (stderr, "ecsa-bench-checkpoint: %s\n", error->message);
      if (dir != NULL)
        remove_dir (dir);
      return 1;
    }
  config = ecsa_config_new ();
  store = ecsa_state_store_new (dir, TRUE);
  docker = ecsa_docker_client_new (NULL, &error);
  if (docker == NULL || !ecsa_state_store_load (store, &error))
    {
      fprintf (stderr, "ecsa-bench-checkpoint: '%s': %s\n", checkpoint, error->message);
      remove_dir (dir);
      return 1;
    }
  engine = ecsa_task_engine_new (config, docker, store);
  ecsa_task_engine_restore (engine);

  for (int i = 0; i < saves; i++)
    {
      Wait w = { 0 };
      gint64 cpu0 = thread_cpu_us (), t0 = g_get_monotonic_time ();

      ecsa_state_store_save_async (store, NULL, saved_cb, &w);
      while (!w.done)
        g_main_context_iteration (NULL, TRUE);
      if (w.error != NULL)
        {
          fprintf (stderr, "ecsa-bench-checkpoint: save %d: %s\n", i, w.error->message);
          g_error_free (w.error);
          remove_dir (dir);
          return 1;
        }
      {
        gint64 cpu = thread_cpu_us () - cpu0, wall = g_get_monotonic_time () - t0;
        ecsa_state_store_get_stats (store, &writes, &last_us, &max_us, &on_main);
        g_array_append_val (main_cpu, cpu);
        g_array_append_val (worker, last_us);
        g_array_append_val (total, wall);
      }
    }
  path = g_build_filename (dir, ECSA_STATE_STORE_FILE, NULL);
  if (g_stat (path, &st) != 0)
    st.st_size = 0;

  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "tasks");
  json_builder_add_int_value (jb, ecsa_task_engine_get_n_tasks (engine));
  json_builder_set_member_name (jb, "bytes");
  json_builder_add_int_value (jb, st.st_size);
  json_builder_set_member_name (jb, "saves");
  json_builder_add_int_value (jb, saves);
  json_builder_set_member_name (jb, "writes");
  json_builder_add_int_value (jb, (gint64) writes);
  json_builder_set_member_name (jb, "on_main_thread");
  json_builder_add_int_value (jb, (gint64) on_main);
  add_stats (jb, "main_cpu_us", main_cpu);
  add_stats (jb, "worker_us", worker);
  add_stats (jb, "total_us", total);
  json_builder_end_object (jb);
  root = json_builder_get_root (jb);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);

  g_clear_object (&engine);
  g_clear_object (&store);
  remove_dir (dir);
  return 0;
}
