/* test-task-engine-resources.c: what a task gets besides its containers, on the real host: the task
 * cgroup (/ecs/<task-id>) with its CPU and memory limits, and an OOM kill under it; container
 * metadata files; host and empty volumes shared through volumesFrom.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-cgroup.h"
#include "ecsa-container-metadata.h"
#include "ecsa-task-engine.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 120000

static EcsaTestRegistry *registry;
static const char *image;

static char *
read_trimmed(const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents(path, &contents, NULL, NULL))
    return NULL;
  return g_strstrip(contents);
}

static char *
docker_exec(const char *id, const char *cmd)
{
  return ecsa_test_docker_cli(NULL, "exec", id, "sh", "-c", cmd, NULL);
}

static void
wait_forgotten(EcsaTestEngine *te)
{
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

  while (ecsa_task_engine_get_n_tasks(te->engine) > 0 && g_get_monotonic_time() < deadline)
    ecsa_test_run_for(100);
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 0);
}

/* ECS_ENABLE_TASK_CPU_MEM_LIMIT on cgroup v1: /ecs/<task-id> carries the task's limits and is the
 * containers' cgroup parent; a container going over the task's memory is OOM-killed and reported
 * so; the cgroup is removed with the task. */
static void
test_cgroup_oom(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("res");
  g_autofree char *arn = ecsa_test_engine_arn(te, "oom");
  g_autofree char *task_id = g_strdup_printf("%soom", te->prefix);
  g_autofree char *containers = g_strdup_printf("[{\"name\":\"hog\",\"image\":\"%s\",\"essential\":true,\"cpu\":256,"
                                                "\"command\":[\"sh\",\"-c\",\"while [ ! -e /tmp/go ]; do sleep 0.1; "
                                                "done; x=$(head -c 134217728 /dev/zero | tr '\\\\000' a); sleep 5\"]}]",
                                                image);
  g_autofree char *task = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaCgroup) cg = NULL;
  g_autoptr(GPtrArray) dirs = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(JsonObject) in = NULL;
  g_autofree char *mem_dir = g_strdup_printf("/sys/fs/cgroup/memory/ecs/%s", task_id);
  g_autofree char *cpu_dir = g_strdup_printf("/sys/fs/cgroup/cpu/ecs/%s", task_id);
  g_autofree char *v = NULL;
  g_autofree char *out = NULL;
  const EcsaStateChange *c;

  cg = ecsa_cgroup_new(NULL, &error);
  g_assert_no_error(error);
  if (ecsa_cgroup_is_v2(cg))
    {
      g_free(mem_dir);
      g_free(cpu_dir);
      mem_dir = g_strdup_printf("/sys/fs/cgroup/ecs/%s", task_id);
      cpu_dir = g_strdup(mem_dir);
    }
  te->config->task_cpu_mem_limit = ECSA_CONDITIONAL_ENABLED;
  te->config->task_cleanup_wait_duration = 1 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  g_assert_true(ecsa_task_engine_get_cgroups_enabled(te->engine));
  task = g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                         "\"cpu\":0.5,\"memory\":64,\"containers\":%s}",
                         arn, te->prefix, containers);
  payload = g_strdup_printf("[%s]", task);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 0);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);

  v = g_build_filename(mem_dir, ecsa_cgroup_is_v2(cg) ? "memory.max" : "memory.limit_in_bytes", NULL);
  {
    g_autofree char *limit = read_trimmed(v);
    g_assert_cmpstr(limit, ==, "67108864");
  }
  g_clear_pointer(&v, g_free);
  v = g_build_filename(cpu_dir, ecsa_cgroup_is_v2(cg) ? "cpu.max" : "cpu.cfs_quota_us", NULL);
  {
    g_autofree char *quota = read_trimmed(v);
    g_assert_cmpstr(quota, ==, ecsa_cgroup_is_v2(cg) ? "50000 100000" : "50000");
  }
  ids = ecsa_test_engine_docker_ids(arn, "hog");
  in = ecsa_test_docker_inspect(ids->pdata[0]);
  {
    g_autofree char *want = g_strdup_printf("/ecs/%s", task_id);
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(in, "HostConfig"), "CgroupParent"), ==,
                    want);
  }
  /* the container's own cgroup sits under the task's (v1: no cgroup namespace) */
  if (!ecsa_cgroup_is_v2(cg))
    {
      g_autofree char *cgroups = docker_exec(ids->pdata[0], "cat /proc/self/cgroup");
      g_autofree char *want = g_strdup_printf("memory:/ecs/%s/", task_id);
      g_assert_nonnull(strstr(cgroups, want));
    }

  out = docker_exec(ids->pdata[0], "touch /tmp/go");
  c = ecsa_test_engine_wait(te, arn, "hog", "STOPPED", GUARD_MS);
  g_assert_cmpint(c->exit_code, ==, 137);
  g_assert_cmpstr(c->reason, ==, "OutOfMemoryError: Container killed due to memory usage");
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  wait_forgotten(te);
  dirs = ecsa_cgroup_task_dirs(cg, task_id);
  for (guint i = 0; i < dirs->len; i++)
    if (g_file_test(dirs->pdata[i], G_FILE_TEST_EXISTS))
      g_error("cgroup '%s' was left behind", (char *)dirs->pdata[i]);
}

/* A task asking more memory for a container than for itself is refused when cgroups are on. */
static void
test_cgroup_refusal(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("res");
  g_autofree char *arn = ecsa_test_engine_arn(te, "toobig");
  g_autofree char *task = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;

  te->config->task_cpu_mem_limit = ECSA_CONDITIONAL_ENABLED;
  ecsa_test_engine_start(te, NULL);
  task = g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                         "\"cpu\":11,\"containers\":[{\"name\":\"c\",\"image\":\"%s\"}]}",
                         arn, te->prefix, image);
  payload = g_strdup_printf("[%s]", task);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_cmpuint(rejected->len, ==, 1);
  g_assert_nonnull(strstr(rejected->pdata[0], "11 vCPU is not supported (at most 10)"));
}

/* ECS_ENABLE_CONTAINER_METADATA: the file inside the container, READY once it runs, and gone with
 * the task. */
static void
test_metadata(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("res");
  g_autofree char *arn = ecsa_test_engine_arn(te, "md");
  g_autofree char *containers
    = g_strdup_printf("[{\"name\":\"c\",\"image\":\"%s\",\"essential\":true,\"portMappings\":[{\"containerPort\":80}],"
                      "\"command\":[\"sh\",\"-c\",\"trap 'exit 0' TERM; sleep 600 & wait\"]}]",
                      image);
  g_autofree char *task = ecsa_test_engine_task_json(te, "md", "RUNNING", containers);
  g_autofree char *stop = ecsa_test_engine_task_json(te, "md", "STOPPED", containers);
  g_autofree char *payload = g_strdup_printf("[%s]", task);
  g_autofree char *stop_payload = g_strdup_printf("[%s]", stop);
  g_autofree char *task_dir = NULL;
  g_autofree char *file = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(JsonNode) md = NULL;
  g_autofree char *inside = NULL;
  g_autofree char *env = NULL;
  JsonObject *o;
  gint64 deadline;

  te->config->container_metadata_enabled = TRUE;
  te->config->task_cleanup_wait_duration = 1 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  ecsa_task_engine_set_container_instance_arn(te->engine, "arn:aws:ecs:us-west-2:123456789012:container-instance/x");
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  ids = ecsa_test_engine_docker_ids(arn, "c");
  task_dir = g_strdup_printf("%s/metadata/%smd", te->dir, te->prefix);
  file = g_strdup_printf("%s/c/%s", task_dir, ECSA_CONTAINER_METADATA_FILE);
  deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      g_free(inside);
      inside = docker_exec(ids->pdata[0], "cat \"$ECS_CONTAINER_METADATA_FILE\"");
      if ((inside != NULL && strstr(inside, "READY") != NULL) || g_get_monotonic_time() > deadline)
        break;
      ecsa_test_run_for(100);
    }
  if (inside == NULL)
    {
      g_autofree char *err = NULL;
      g_autofree char *o2
        = ecsa_test_docker_cli(&err, "exec", (char *)ids->pdata[0], "sh", "-c",
                               "cat \"$ECS_CONTAINER_METADATA_FILE\"; env; ls -la /opt/ecs/metadata/*", NULL);
      g_autofree char *mounts = ecsa_test_docker_cli(NULL, "inspect", "-f", "{{json .Mounts}} {{json .Config.Env}}",
                                                     (char *)ids->pdata[0], NULL);
      g_error("no metadata file in the container: %s / %s / %s", o2, err, mounts);
    }
  md = json_from_string(inside, NULL);
  g_assert_nonnull(md);
  o = json_node_get_object(md);
  g_assert_cmpstr(json_object_get_string_member(o, "MetadataFileStatus"), ==, "READY");
  g_assert_cmpstr(json_object_get_string_member(o, "TaskARN"), ==, arn);
  g_assert_cmpstr(json_object_get_string_member(o, "Cluster"), ==, te->config->cluster);
  g_assert_cmpstr(json_object_get_string_member(o, "ContainerInstanceARN"), ==,
                  "arn:aws:ecs:us-west-2:123456789012:container-instance/x");
  g_assert_cmpstr(json_object_get_string_member(o, "ContainerID"), ==, ids->pdata[0]);
  g_assert_cmpstr(json_object_get_string_member(o, "ContainerName"), ==, "c");
  g_assert_true(g_str_has_prefix(json_object_get_string_member(o, "DockerContainerName"), "/ecs-"));
  g_assert_true(g_str_has_prefix(json_object_get_string_member(o, "ImageID"), "sha256:"));
  g_assert_cmpstr(json_object_get_string_member(o, "ImageName"), ==, image);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "PortMappings")), >=, 1);
  g_assert_cmpstr(json_object_get_string_member(
                    json_array_get_object_element(json_object_get_array_member(o, "Networks"), 0), "NetworkMode"),
                  ==, "bridge");
  /* v1.16.2's layout: tab-indented, "key": value */
  g_assert_nonnull(strstr(inside, "{\n\t\"Cluster\": \""));
  env = docker_exec(ids->pdata[0], "echo $ECS_CONTAINER_METADATA_FILE");
  g_assert_true(g_str_has_prefix(env, "/opt/ecs/metadata/"));
  g_assert_true(g_str_has_suffix(env, "/ecs-container-metadata.json"));
  g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));

  g_clear_pointer(&rejected, g_ptr_array_unref);
  rejected = ecsa_test_engine_apply(te, stop_payload, 2, &error);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  wait_forgotten(te);
  g_assert_false(g_file_test(task_dir, G_FILE_TEST_EXISTS));
}

/* A host volume and an empty (task-scoped) volume, shared with a second container through
 * volumesFrom. */
static void
test_volumes(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("res");
  g_autofree char *arn = ecsa_test_engine_arn(te, "vol");
  g_autofree char *host_dir = ecsa_test_mkdtemp();
  g_autofree char *task = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) reader = NULL;
  g_autofree char *seen = NULL;
  g_autofree char *host_file = g_build_filename(host_dir, "f", NULL);
  g_autofree char *host_contents = NULL;
  g_autofree char *vols = NULL;
  g_autofree char *filter = NULL;
  gint64 deadline;

  ecsa_test_engine_start(te, NULL);
  task = g_strdup_printf(
    "{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
    "\"volumes\":[{\"name\":\"scratch\",\"host\":{}},{\"name\":\"hostdir\",\"host\":{\"sourcePath\":\"%s\"}}],"
    "\"containers\":["
    "{\"name\":\"writer\",\"image\":\"%s\",\"essential\":false,"
    "\"mountPoints\":[{\"sourceVolume\":\"scratch\",\"containerPath\":\"/scratch\"},"
    "{\"sourceVolume\":\"hostdir\",\"containerPath\":\"/hostdir\"}],"
    "\"command\":[\"sh\",\"-c\",\"echo hello > /scratch/f; echo host > /hostdir/f; trap 'exit 0' TERM; sleep 600 & "
    "wait\"]},"
    "{\"name\":\"reader\",\"image\":\"%s\",\"essential\":true,"
    "\"volumesFrom\":[{\"sourceContainer\":\"writer\",\"readOnly\":true}],"
    "\"command\":[\"sh\",\"-c\",\"trap 'exit 0' TERM; sleep 600 & wait\"]}]}",
    arn, te->prefix, host_dir, image, image);
  payload = g_strdup_printf("[%s]", task);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 0);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  reader = ecsa_test_engine_docker_ids(arn, "reader");
  deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  do
    {
      g_free(seen);
      seen = docker_exec(reader->pdata[0], "cat /scratch/f /hostdir/f");
    }
  while ((seen == NULL || strstr(seen, "host") == NULL) && g_get_monotonic_time() < deadline);
  g_assert_cmpstr(seen, ==, "hello\nhost");
  g_assert_true(g_file_get_contents(host_file, &host_contents, NULL, NULL));
  g_assert_cmpstr(host_contents, ==, "host\n");
  /* read-only through volumesFrom */
  g_assert_null(docker_exec(reader->pdata[0], "echo x > /scratch/g"));
  filter = g_strdup_printf("label=com.amazonaws.ecs.task-arn=%s", arn);
  vols = ecsa_test_docker_cli(NULL, "volume", "ls", "-q", "--filter", filter, NULL);
  g_assert_true(g_str_has_prefix(vols, "ecs-"));
  ecsa_test_engine_stop(te);
  ecsa_test_rmdir_recursive(host_dir);
}

int
main(int argc, char **argv)
{
  g_autofree char *repo = NULL;
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_test_docker_require();
  repo = g_strdup_printf("%sbusybox", ecsa_test_docker_prefix("res"));
  registry = ecsa_test_registry_start(repo);
  image = ecsa_test_registry_get_image(registry);

  g_test_add_func("/task-engine-resources/cgroup-oom", test_cgroup_oom);
  g_test_add_func("/task-engine-resources/cgroup-refusal", test_cgroup_refusal);
  g_test_add_func("/task-engine-resources/metadata", test_metadata);
  g_test_add_func("/task-engine-resources/volumes", test_volumes);
  rc = g_test_run();
  ecsa_test_registry_stop(registry);
  return rc;
}
