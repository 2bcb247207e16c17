/* test-metrics-cgroup.c: the cgroup metrics plugin against real running containers (a busy loop
 * shows CPU, an allocation shows memory), plus its parsers on the cgroup v1 and v2 file formats.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-test-utils.h"
#include "ecsa-test-netplug.h"
#include "../ecsa-cgroup-stats.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_metrics_cgroup_get_descriptor (void);

/* ---------------------------------------------------------------------------------------------
 * Parsers
 * ------------------------------------------------------------------------------------------- */

static const char mountinfo_v1[] =
  "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
  "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
  "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
  "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
static const char mountinfo_v2[] = "25 1 0:22 / /proc rw - proc proc rw\n"
                                   "26 1 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
static const char mountinfo_ns[] = /* an agent in a container: the hierarchy's /docker/<self> is its / */
  "50 40 0:31 /docker/agent /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
  "51 40 0:29 /docker/agent /sys/fs/cgroup/cpuacct ro - cgroup cgroup rw,cpuacct\n";

static void
test_parse_mountinfo (void)
{
  EcsaCgroupMounts m = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
  g_autoptr(GError) error = NULL;

  g_assert_true (ecsa_cgroup_mounts_parse (mountinfo_v1, &m, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (m.cpuacct.mount_point, ==, "/sys/fs/cgroup/cpu,cpuacct");
  g_assert_cmpstr (m.memory.mount_point, ==, "/sys/fs/cgroup/memory");
  g_assert_cmpstr (m.unified.mount_point, ==, "/sys/fs/cgroup/unified");
  ecsa_cgroup_mounts_clear (&m);

  g_assert_true (ecsa_cgroup_mounts_parse (mountinfo_v2, &m, &error));
  g_assert_null (m.cpuacct.mount_point);
  g_assert_cmpstr (m.unified.mount_point, ==, "/sys/fs/cgroup");
  ecsa_cgroup_mounts_clear (&m);

  g_assert_false (ecsa_cgroup_mounts_parse ("25 1 0:22 / /proc rw - proc proc rw\n", &m, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
}

static void
test_parse_proc_cgroup (void)
{
  const char *id = "0e6f47ea5a745aad5ce3f8dcf9a4be795cbbab782be1e080fcfdc50fe65db24a";
  g_autofree char *v1 = g_strdup_printf ("9:name=systemd:/ecs/task1/%s\n4:memory:/ecs/task1/%s\n"
                                         "2:cpu,cpuacct:/ecs/task1/%s\n0::/ecs/task1/%s\n",
                                         id, id, id, id);
  g_autofree char *v2 = g_strdup_printf ("0::/system.slice/docker-%s.scope\n", id);
  g_autofree char *ns = g_strdup_printf ("4:memory:/docker/agent/docker/%s\n2:cpuacct:/docker/agent/docker/%s\n", id, id);
  EcsaCgroupMounts m1 = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
  EcsaCgroupMounts m2 = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
  EcsaCgroupMounts m3 = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
  EcsaCgroupFiles f = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *want = NULL;

  g_assert_true (ecsa_cgroup_mounts_parse (mountinfo_v1, &m1, NULL));
  g_assert_true (ecsa_cgroup_mounts_parse (mountinfo_v2, &m2, NULL));
  g_assert_true (ecsa_cgroup_mounts_parse (mountinfo_ns, &m3, NULL));

  /* v1 wins on a hybrid host; the task's cgroup parent is followed */
  g_assert_true (ecsa_cgroup_files_resolve (&m1, v1, id, &f, &error));
  g_assert_no_error (error);
  g_assert_false (f.v2);
  want = g_strdup_printf ("/sys/fs/cgroup/cpu,cpuacct/ecs/task1/%s/cpuacct.usage", id);
  g_assert_cmpstr (f.cpu_file, ==, want);
  g_clear_pointer (&want, g_free);
  want = g_strdup_printf ("/sys/fs/cgroup/memory/ecs/task1/%s/memory.stat", id);
  g_assert_cmpstr (f.stat_file, ==, want);
  ecsa_cgroup_files_clear (&f);

  /* v2 (systemd cgroup driver naming) */
  g_assert_true (ecsa_cgroup_files_resolve (&m2, v2, id, &f, &error));
  g_assert_true (f.v2);
  g_clear_pointer (&want, g_free);
  want = g_strdup_printf ("/sys/fs/cgroup/system.slice/docker-%s.scope/memory.current", id);
  g_assert_cmpstr (f.mem_file, ==, want);
  ecsa_cgroup_files_clear (&f);

  /* the mount's root is stripped (agent in a container) */
  g_assert_true (ecsa_cgroup_files_resolve (&m3, ns, id, &f, &error));
  g_clear_pointer (&want, g_free);
  want = g_strdup_printf ("/sys/fs/cgroup/memory/docker/%s/memory.usage_in_bytes", id);
  g_assert_cmpstr (f.mem_file, ==, want);
  ecsa_cgroup_files_clear (&f);

  /* a reused PID: not this container's cgroup */
  g_assert_false (ecsa_cgroup_files_resolve (&m1, "4:memory:/user.slice\n2:cpuacct:/user.slice\n", id, &f, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/user.slice"));

  ecsa_cgroup_mounts_clear (&m1);
  ecsa_cgroup_mounts_clear (&m2);
  ecsa_cgroup_mounts_clear (&m3);
}

static void
test_parse_values (void)
{
  guint64 v = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (ecsa_cgroup_parse_u64 ("183928703\n", &v, NULL));
  g_assert_cmpuint (v, ==, 183928703);
  g_assert_true (ecsa_cgroup_parse_keyed ("cache 1785856\nrss 61440\ntotal_cache 9\n", "cache", &v, NULL));
  g_assert_cmpuint (v, ==, 1785856);
  g_assert_true (ecsa_cgroup_parse_keyed ("total_cache 9\ncache 7", "cache", &v, NULL));
  g_assert_cmpuint (v, ==, 7);
  g_assert_false (ecsa_cgroup_parse_u64 ("max\n", &v, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (ecsa_cgroup_parse_keyed ("rss 1\n", "cache", &v, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* The v2 reader over files in the kernel's formats (this host runs cgroup v1 controllers). */
static void
test_read_v2_files (void)
{
  g_autofree char *dir = ecsa_test_mkdtemp ();
  EcsaCgroupFiles f = { .v2 = TRUE };
  guint64 cpu = 0;
  guint64 mem = 0;
  g_autoptr(GError) error = NULL;

  f.cpu_file = g_build_filename (dir, "cpu.stat", NULL);
  f.mem_file = g_build_filename (dir, "memory.current", NULL);
  f.stat_file = g_build_filename (dir, "memory.stat", NULL);
  g_assert_true (g_file_set_contents (f.cpu_file, "usage_usec 179903\nuser_usec 132381\nsystem_usec 47521\n", -1, NULL));
  g_assert_true (g_file_set_contents (f.mem_file, "52428800\n", -1, NULL));
  g_assert_true (g_file_set_contents (f.stat_file, "anon 41943040\nfile 10485760\nkernel_stack 16384\n", -1, NULL));
  g_assert_true (ecsa_cgroup_read (&f, &cpu, &mem, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (cpu, ==, 179903000);
  g_assert_cmpuint (mem, ==, 41943040);

  g_assert_true (g_file_set_contents (f.cpu_file, "user_usec 1\n", -1, NULL));
  g_assert_false (ecsa_cgroup_read (&f, &cpu, &mem, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "cpu.stat"));

  ecsa_cgroup_files_clear (&f);
  ecsa_test_rmdir_recursive (dir);
}

/* ---------------------------------------------------------------------------------------------
 * Real containers
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  EcsaNetplugHost *th;
  const EcsaPluginDescriptor *desc;
  const EcsaMetricsVTable *vt;
  gpointer state;
  char *prefix;
  GPtrArray *ids; /* containers to remove */
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* containers an earlier, crashed run of this test left (its PID is gone) */
  ecsa_netplug_sh (NULL, "for c in $(docker ps -a --format '{{.Names}}' | grep '^ecsa-t[0-9]*-metrics-'); do "
                      "pid=${c#ecsa-t}; pid=${pid%%%%-*}; [ -d /proc/$pid ] || docker rm -f $c >/dev/null; done");

  fx->th = ecsa_netplug_host_new (ECSA_PLUGIN_KIND_METRICS, "cgroup", NULL, NULL);
  fx->prefix = g_strdup_printf ("ecsa-t%d-metrics", (int) getpid ());
  fx->ids = g_ptr_array_new_with_free_func (g_free);
  fx->desc = ecsa_plugin_metrics_cgroup_get_descriptor ();
  g_assert_cmpuint (fx->desc->kind, ==, ECSA_PLUGIN_KIND_METRICS);
  fx->vt = fx->desc->vtable;
  g_assert_true (fx->desc->init (fx->th->host, &fx->state, &error));
  g_assert_no_error (error);
  g_assert_true (ecsa_netplug_host_logged (fx->th, "cgroup v1"));
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  guint i;

  /* Nothing followed any more: no new reading starts; the one in flight completes before the
   * plugin and the host go. */
  for (i = 0; i < fx->ids->len; i++)
    fx->vt->container_stopped (fx->state, g_ptr_array_index (fx->ids, i));
  ecsa_netplug_iterate (500);
  fx->desc->shutdown (fx->state);
  ecsa_netplug_iterate (200); /* cancelled calls complete before the host goes */
  for (i = 0; i < fx->ids->len; i++)
    ecsa_netplug_docker_remove (fx->th, g_ptr_array_index (fx->ids, i));
  g_ptr_array_unref (fx->ids);
  g_free (fx->prefix);
  ecsa_netplug_host_free (fx->th);
}

static char *
run (Fixture *fx, const char *suffix, const char *cmd_json)
{
  g_autofree char *name = g_strdup_printf ("%s-%s", fx->prefix, suffix);
  g_autofree char *body = g_strdup_printf ("{\"Image\":\"%s\",\"Cmd\":%s,\"HostConfig\":{\"NetworkMode\":\"none\"},"
                                           "\"Labels\":{\"ecsa-test\":\"%s\"}}",
                                           ECSA_NETPLUG_IMAGE, cmd_json, fx->prefix);
  char *id = ecsa_netplug_docker_run (fx->th, name, body);

  g_ptr_array_add (fx->ids, g_strdup (id));
  return id;
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Let the plugin sample for `ms` (its timer runs on the default main context). */
static void
run_loop_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, flag_cb, &done);
  ecsa_test_wait_for_flag (g_main_context_default (), &done, ms + 10000);
}

static void
wait_for_log (Fixture *fx, const char *id, const char *text)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *logs = ecsa_netplug_docker_logs (fx->th, id);
      if (strstr (logs, text) != NULL)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      run_loop_for (100);
    }
}

static const EcsaContainerMetrics *
find_container (GPtrArray *metrics, const char *task_arn, const char *name)
{
  guint i, j;

  for (i = 0; i < metrics->len; i++)
    {
      const EcsaTaskMetrics *t = g_ptr_array_index (metrics, i);
      if (g_strcmp0 (t->task_arn, task_arn) != 0)
        continue;
      for (j = 0; j < t->n_containers; j++)
        if (g_strcmp0 (t->containers[j]->container_name, name) == 0)
          return t->containers[j];
    }
  return NULL;
}

static void
started (Fixture *fx, const char *arn, const char *family, const char *name, const char *id, gint pid)
{
  EcsaContainerView c = { .struct_size = sizeof (EcsaContainerView), .essential = TRUE, .name = name,
                          .image = ECSA_NETPLUG_IMAGE, .docker_id = id, .docker_name = "", .known_status = "RUNNING",
                          .desired_status = "RUNNING", .log_driver = "", .pid = pid };
  const EcsaContainerView *cs[] = { &c };
  EcsaTaskView t = { .struct_size = sizeof (EcsaTaskView), .n_containers = 1, .arn = arn, .family = family,
                     .version = "3", .network_mode = "none", .known_status = "RUNNING",
                     .desired_status = "RUNNING", .credentials_id = "", .execution_credentials_id = "",
                     .containers = cs };
  g_autoptr(GHashTable) opts = g_hash_table_new (g_str_hash, g_str_equal);

  c.log_options = opts;
  fx->vt->container_started (fx->state, &t, &c);
}

static void
test_busy_and_allocating (Fixture *fx, gconstpointer data)
{
  const char *arn_a = "arn:aws:ecs:us-west-2:123456789012:task/aaaa-1111";
  const char *arn_b = "arn:aws:ecs:us-west-2:123456789012:task/bbbb-2222";
  g_autofree char *busy = run (fx, "busy", "[\"sh\",\"-c\",\"while :; do :; done\"]");
  g_autofree char *alloc = run (fx, "alloc", "[\"awk\",\"BEGIN{s=sprintf(\\\"%48000000s\\\",\\\"\\\"); "
                                             "print \\\"ready\\\"; fflush(); system(\\\"sleep 600\\\")}\"]");
  g_autofree char *idle = run (fx, "idle", "[\"sleep\",\"600\"]");
  g_autoptr(GPtrArray) first = NULL;
  g_autoptr(GPtrArray) again = NULL;
  const EcsaContainerMetrics *m;
  const EcsaTaskMetrics *ta;
  double busy_min;

  wait_for_log (fx, alloc, "ready");
  started (fx, arn_a, "fam-a", "busy", busy, ecsa_netplug_docker_pid (fx->th, busy));
  started (fx, arn_a, "fam-a", "alloc", alloc, ecsa_netplug_docker_pid (fx->th, alloc));
  started (fx, arn_b, "fam-b", "idle", idle, 0); /* no PID in the view: the plugin asks Docker */
  started (fx, arn_a, "fam-a", "busy", busy, ecsa_netplug_docker_pid (fx->th, busy)); /* twice: no effect */
  run_loop_for (3500);

  first = fx->vt->collect (fx->state);
  g_assert_cmpuint (first->len, ==, 2);
  ta = g_ptr_array_index (first, 0);
  g_assert_cmpstr (ta->task_arn, ==, arn_a);
  g_assert_cmpstr (ta->family, ==, "fam-a");
  g_assert_cmpstr (ta->version, ==, "3");
  g_assert_cmpuint (ta->n_containers, ==, 2);

  m = find_container (first, arn_a, "busy");
  g_assert_nonnull (m);
  g_assert_cmpstr (m->docker_id, ==, busy);
  g_test_message ("busy: cpu n=%" G_GUINT64_FORMAT " min=%.1f max=%.1f avg=%.1f; mem max=%.0f MiB",
                  m->cpu.sample_count, m->cpu.min, m->cpu.max, m->cpu.sum / m->cpu.sample_count, m->memory.max);
  /* One busy thread: at most one CPU of g_get_num_processors() (v1.16.2 divides by the CPU count),
   * and busy in every sample (how busy depends on what else this shared machine runs: the idle
   * container below is the reference). */
  g_assert_cmpuint (m->cpu.sample_count, >=, 2);
  g_assert_cmpfloat (m->cpu.min, >, 0.5);
  g_assert_cmpfloat (m->cpu.max, <=, 100.0 / g_get_num_processors () * 1.15);
  busy_min = m->cpu.min;
  g_assert_cmpfloat (m->cpu.min, <=, m->cpu.max);
  g_assert_cmpfloat (m->cpu.sum, >=, m->cpu.min * m->cpu.sample_count - 1e-6);

  m = find_container (first, arn_a, "alloc");
  g_assert_nonnull (m);
  g_test_message ("alloc: mem n=%" G_GUINT64_FORMAT " min=%.0f max=%.0f MiB; cpu max=%.1f", m->memory.sample_count,
                  m->memory.min, m->memory.max, m->cpu.max);
  g_assert_cmpuint (m->memory.sample_count, >=, 3);
  g_assert_cmpfloat (m->memory.min, >=, 40.0); /* 48 MB string, whole MiB */
  g_assert_cmpfloat (m->memory.max, <, 200.0);
  g_assert_cmpfloat (m->memory.max, ==, (double) (guint64) m->memory.max);

  m = find_container (first, arn_b, "idle");
  g_assert_nonnull (m);
  g_assert_cmpstr (m->docker_id, ==, idle);
  g_assert_cmpfloat (m->cpu.max, <, 0.5);
  g_assert_cmpfloat (m->cpu.max * 5, <, busy_min);
  g_assert_cmpfloat (m->memory.max, <, 10.0);

  /* The sets start over: right after a collection nothing has been sampled yet. */
  again = fx->vt->collect (fx->state);
  g_assert_cmpuint (again->len, ==, 0);
  g_clear_pointer (&again, g_ptr_array_unref);

  /* One more tick: the baseline was kept, so a single reading yields a CPU sample. */
  run_loop_for (1300);
  again = fx->vt->collect (fx->state);
  m = find_container (again, arn_a, "busy");
  g_assert_nonnull (m);
  g_assert_cmpuint (m->cpu.sample_count, >=, 1);
  g_assert_cmpfloat (m->cpu.min, >, 0.5);
  g_clear_pointer (&again, g_ptr_array_unref);

  /* Stopped containers are forgotten; with nothing followed, nothing is sampled. */
  fx->vt->container_stopped (fx->state, busy);
  fx->vt->container_stopped (fx->state, alloc);
  fx->vt->container_stopped (fx->state, idle);
  fx->vt->container_stopped (fx->state, "not-followed");
  run_loop_for (1300);
  again = fx->vt->collect (fx->state);
  g_assert_cmpuint (again->len, ==, 0);
}

static void
test_container_vanishes (Fixture *fx, gconstpointer data)
{
  const char *arn = "arn:aws:ecs:us-west-2:123456789012:task/cccc-3333";
  g_autofree char *id = run (fx, "gone", "[\"sleep\",\"600\"]");
  g_autoptr(GPtrArray) metrics = NULL;

  started (fx, arn, "fam-c", "gone", id, ecsa_netplug_docker_pid (fx->th, id));
  run_loop_for (1200);
  /* Removed behind the engine's back: readings fail quietly until the engine reports it stopped. */
  ecsa_netplug_docker_remove (fx->th, id);
  run_loop_for (2500);
  g_assert_true (ecsa_netplug_host_logged (fx->th, "no cgroup reading"));
  metrics = fx->vt->collect (fx->state);
  g_clear_pointer (&metrics, g_ptr_array_unref);
  run_loop_for (1200);
  metrics = fx->vt->collect (fx->state);
  g_assert_cmpuint (metrics->len, ==, 0);
  fx->vt->container_stopped (fx->state, id);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/metrics-cgroup/parse/mountinfo", test_parse_mountinfo);
  g_test_add_func ("/metrics-cgroup/parse/proc-cgroup", test_parse_proc_cgroup);
  g_test_add_func ("/metrics-cgroup/parse/values", test_parse_values);
  g_test_add_func ("/metrics-cgroup/read/v2-files", test_read_v2_files);
  g_test_add ("/metrics-cgroup/containers/busy-and-allocating", Fixture, NULL, fixture_setup,
              test_busy_and_allocating, fixture_teardown);
  g_test_add ("/metrics-cgroup/containers/vanishes", Fixture, NULL, fixture_setup, test_container_vanishes,
              fixture_teardown);
  return g_test_run ();
}
