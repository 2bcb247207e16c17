/* test-cgroup.c: task cgroups: finding the hierarchies, v1.16.2's resource spec, and the cgroup v2
 * layout (this host is v1, so v2 runs against a directory that has v2's files; the v1 layout runs
 * for real in test-task-engine-resources).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-cgroup.h"
#include "ecsa-plugin.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} Wait;

static void
init_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_cgroup_init_finish(NULL, result, &w->error);
  w->done = TRUE;
}

static void
setup_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_cgroup_setup_task_finish(NULL, result, &w->error);
  w->done = TRUE;
}

static void
remove_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_cgroup_remove_task_finish(NULL, result, &w->error);
  w->done = TRUE;
}

static void
wait_for(Wait *w)
{
  ecsa_test_wait_for_flag(NULL, &w->done, 10000);
}

static char *
read_file(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  char *contents = NULL;

  g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
  return contents;
}

static char *
write_mountinfo(const char *dir, const char *contents)
{
  char *path = g_build_filename(dir, "mountinfo", NULL);

  g_assert_true(g_file_set_contents(path, contents, -1, NULL));
  return path;
}

static void
test_mountinfo(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autoptr(GError) error = NULL;
  g_autofree char *v1
    = write_mountinfo(dir, "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                           "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
                           "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                           "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
                           "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
  g_autoptr(EcsaCgroup) cg = ecsa_cgroup_new(v1, &error);
  g_autoptr(GPtrArray) dirs = NULL;
  g_autofree char *path = ecsa_cgroup_task_path("abc");

  g_assert_no_error(error);
  g_assert_false(ecsa_cgroup_is_v2(cg));
  g_assert_cmpstr(path, ==, "/ecs/abc");
  dirs = ecsa_cgroup_task_dirs(cg, "abc");
  /* every hierarchy is cleaned, the named and unified ones included */
  g_assert_cmpuint(dirs->len, ==, 4);
  g_assert_cmpstr(dirs->pdata[0], ==, "/sys/fs/cgroup/cpu,cpuacct/ecs/abc");
  g_assert_cmpstr(dirs->pdata[3], ==, "/sys/fs/cgroup/unified/ecs/abc");

  {
    g_autofree char *v2
      = write_mountinfo(dir, "30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
    g_autoptr(EcsaCgroup) cg2 = ecsa_cgroup_new(v2, &error);
    g_autoptr(GPtrArray) d2 = NULL;
    g_assert_no_error(error);
    g_assert_true(ecsa_cgroup_is_v2(cg2));
    d2 = ecsa_cgroup_task_dirs(cg2, "abc");
    g_assert_cmpuint(d2->len, ==, 1);
    g_assert_cmpstr(d2->pdata[0], ==, "/sys/fs/cgroup/ecs/abc");
  }
  {
    g_autofree char *none = write_mountinfo(dir, "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
    g_autoptr(EcsaCgroup) cg3 = ecsa_cgroup_new(none, &error);
    g_assert_null(cg3);
    g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
    g_clear_error(&error);
  }
  ecsa_test_rmdir_recursive(dir);
}

static EcsaTask *
task_from(const char *json)
{
  g_autoptr(JsonNode) node = json_from_string(json, NULL);
  g_autoptr(GError) error = NULL;
  EcsaTask *task = ecsa_task_from_acs(node, 0, NULL, &error);

  g_assert_no_error(error);
  return task;
}

#define T(extra, containers)                                                                                           \
  "{\"arn\":\"arn:aws:ecs:r:1:task/t\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\"" extra         \
  ",\"containers\":" containers "}"

static void
test_spec(void)
{
  g_autoptr(EcsaTask) quota
    = task_from(T(",\"cpu\":0.25,\"memory\":128", "[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]"));
  g_autoptr(EcsaTask) shares
    = task_from(T("", "[{\"name\":\"a\",\"image\":\"i\",\"cpu\":100},{\"name\":\"b\",\"image\":\"i\",\"cpu\":28}]"));
  g_autoptr(EcsaTask) none = task_from(T("", "[{\"name\":\"a\",\"image\":\"i\"}]"));
  g_autoptr(EcsaTask) big = task_from(T(",\"memory\":32", "[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]"));
  g_autoptr(EcsaTask) cpu = task_from(T(",\"cpu\":10.5", "[{\"name\":\"a\",\"image\":\"i\"}]"));
  g_autoptr(GError) error = NULL;
  EcsaCgroupSpec spec;

  g_assert_true(ecsa_cgroup_spec_for_task(quota, &spec, &error));
  g_assert_cmpint(spec.cpu_quota_us, ==, 25000);
  g_assert_cmpuint(spec.cpu_period_us, ==, 100000);
  g_assert_cmpint(spec.memory_bytes, ==, 128 * 1024 * 1024);
  g_assert_true(ecsa_cgroup_spec_for_task(shares, &spec, &error));
  g_assert_cmpint(spec.cpu_quota_us, ==, 0);
  g_assert_cmpuint(spec.cpu_shares, ==, 128);
  g_assert_cmpint(spec.memory_bytes, ==, 0);
  g_assert_true(ecsa_cgroup_spec_for_task(none, &spec, &error));
  g_assert_cmpuint(spec.cpu_shares, ==, 2);
  g_assert_false(ecsa_cgroup_spec_for_task(big, &spec, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "container 'a' asks for 64 MiB"));
  g_clear_error(&error);
  g_assert_false(ecsa_cgroup_spec_for_task(cpu, &spec, &error));
  g_assert_nonnull(strstr(error->message, "at most 10"));
}

/* The cgroup v2 layout: controllers enabled below the root and /ecs, cpu.max or cpu.weight,
 * memory.max; removal. */
static void
test_v2_layout(void)
{
  g_autofree char *root = ecsa_test_mkdtemp();
  g_autoptr(EcsaCgroup) cg = ecsa_cgroup_new_for_root(root, TRUE);
  g_autofree char *ecs = g_build_filename(root, "ecs", NULL);
  g_autofree char *task_dir = g_build_filename(root, "ecs", "t1", NULL);
  g_autofree char *task_dir2 = g_build_filename(root, "ecs", "t2", NULL);
  g_autofree char *controllers = g_build_filename(root, "cgroup.controllers", NULL);
  g_autofree char *runc_child = g_build_filename(task_dir, "0123abcd", NULL);
  EcsaCgroupSpec quota = { .cpu_quota_us = 50000, .cpu_period_us = 100000, .memory_bytes = 64 * 1024 * 1024 };
  EcsaCgroupSpec shares = { .cpu_shares = 1024 };
  Wait w = { 0 };
  g_autofree char *v = NULL;

  g_assert_true(g_file_set_contents(controllers, "cpuset cpu io memory hugetlb pids rdma", -1, NULL));
  ecsa_cgroup_init_async(cg, NULL, init_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  v = read_file(root, "cgroup.subtree_control");
  g_assert_cmpstr(v, ==, "+cpu +memory +pids");
  g_clear_pointer(&v, g_free);
  v = read_file(ecs, "cgroup.subtree_control");
  g_assert_cmpstr(v, ==, "+cpu +memory +pids");
  g_clear_pointer(&v, g_free);

  w = (Wait){ 0 };
  ecsa_cgroup_setup_task_async(cg, "t1", &quota, NULL, setup_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  v = read_file(task_dir, "cpu.max");
  g_assert_cmpstr(v, ==, "50000 100000");
  g_clear_pointer(&v, g_free);
  v = read_file(task_dir, "memory.max");
  g_assert_cmpstr(v, ==, "67108864");
  g_clear_pointer(&v, g_free);

  w = (Wait){ 0 };
  ecsa_cgroup_setup_task_async(cg, "t2", &shares, NULL, setup_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  v = read_file(task_dir2, "cpu.weight");
  g_assert_cmpstr(v, ==, "39"); /* runc's conversion of 1024 shares */
  g_clear_pointer(&v, g_free);
  {
    g_autofree char *mm = g_build_filename(task_dir2, "memory.max", NULL);
    g_assert_false(g_file_test(mm, G_FILE_TEST_EXISTS));
  }

  /* what runc leaves inside goes first */
  g_assert_cmpint(g_mkdir(runc_child, 0755), ==, 0);
  w = (Wait){ 0 };
  ecsa_cgroup_remove_task_async(cg, "t1", NULL, remove_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  g_assert_false(g_file_test(task_dir, G_FILE_TEST_EXISTS));
  /* removing again is fine */
  w = (Wait){ 0 };
  ecsa_cgroup_remove_task_async(cg, "t1", NULL, remove_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  ecsa_test_rmdir_recursive(root);
}

/* The v1 layout (one directory per controller), against plain directories. */
static void
test_v1_layout(void)
{
  g_autofree char *root = ecsa_test_mkdtemp();
  g_autoptr(EcsaCgroup) cg = ecsa_cgroup_new_for_root(root, FALSE);
  g_autofree char *cpu = g_build_filename(root, "cpu", "ecs", "t", NULL);
  g_autofree char *mem = g_build_filename(root, "memory", "ecs", "t", NULL);
  EcsaCgroupSpec spec = { .cpu_shares = 300, .memory_bytes = 1048576 };
  Wait w = { 0 };
  g_autofree char *v = NULL;

  ecsa_cgroup_setup_task_async(cg, "t", &spec, NULL, setup_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  v = read_file(cpu, "cpu.shares");
  g_assert_cmpstr(v, ==, "300");
  g_clear_pointer(&v, g_free);
  v = read_file(mem, "memory.limit_in_bytes");
  g_assert_cmpstr(v, ==, "1048576");
  w = (Wait){ 0 };
  ecsa_cgroup_remove_task_async(cg, "t", NULL, remove_cb, &w);
  wait_for(&w);
  g_assert_no_error(w.error);
  g_assert_false(g_file_test(cpu, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(mem, G_FILE_TEST_EXISTS));
  ecsa_test_rmdir_recursive(root);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func("/cgroup/mountinfo", test_mountinfo);
  g_test_add_func("/cgroup/spec", test_spec);
  g_test_add_func("/cgroup/v2-layout", test_v2_layout);
  g_test_add_func("/cgroup/v1-layout", test_v1_layout);
  return g_test_run();
}
