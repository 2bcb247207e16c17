/* test-container-metadata.c: the metadata file's exact form (v1.16.2's MarshalIndent), where it
 * lives, the bind and the variable given to the container, and its removal.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-container-metadata.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *inspect_json
  = "{\"Id\":\"abc123\",\"Name\":\"/"
    "ecs-web-1-web-00\",\"Image\":\"sha256:feed\",\"Config\":{\"Image\":\"busybox:<1>\"},"
    "\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkSettings\":{\"IPAddress\":\"172.17.0.2\","
    "\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]},"
    "\"Networks\":{\"bridge\":{\"IPAddress\":\"172.17.0.2\"}}}}";

static const char *expected_ready = "{\n"
                                    "\t\"Cluster\": \"prod\",\n"
                                    "\t\"ContainerInstanceARN\": \"arn:aws:ecs:r:1:container-instance/ci\",\n"
                                    "\t\"TaskARN\": \"arn:aws:ecs:r:1:task/t1\",\n"
                                    "\t\"ContainerID\": \"abc123\",\n"
                                    "\t\"ContainerName\": \"web\",\n"
                                    "\t\"DockerContainerName\": \"/ecs-web-1-web-00\",\n"
                                    "\t\"ImageID\": \"sha256:feed\",\n"
                                    "\t\"ImageName\": \"busybox:\\u003c1\\u003e\",\n"
                                    "\t\"PortMappings\": [\n"
                                    "\t\t{\n"
                                    "\t\t\t\"ContainerPort\": 80,\n"
                                    "\t\t\t\"HostPort\": 8080,\n"
                                    "\t\t\t\"BindIp\": \"0.0.0.0\",\n"
                                    "\t\t\t\"Protocol\": \"tcp\"\n"
                                    "\t\t}\n"
                                    "\t],\n"
                                    "\t\"Networks\": [\n"
                                    "\t\t{\n"
                                    "\t\t\t\"NetworkMode\": \"bridge\",\n"
                                    "\t\t\t\"IPv4Addresses\": [\n"
                                    "\t\t\t\t\"172.17.0.2\"\n"
                                    "\t\t\t]\n"
                                    "\t\t}\n"
                                    "\t],\n"
                                    "\t\"MetadataFileStatus\": \"READY\"\n"
                                    "}";

static void
test_render(void)
{
  g_autoptr(EcsaContainerMetadata) md = ecsa_container_metadata_new("/data", "/var/lib/ecs", "prod");
  g_autoptr(JsonNode) inspect = json_from_string(inspect_json, NULL);
  g_autofree char *initial = NULL;
  g_autofree char *ready = NULL;
  g_autofree char *host = NULL;
  g_autoptr(JsonNode) host_inspect = json_from_string(
    "{\"Id\":\"h\",\"Name\":\"/n\",\"Image\":\"sha256:1\",\"Config\":{\"Image\":\"i\"},\"HostConfig\":{\"NetworkMode\":"
    "\"host\"},\"NetworkSettings\":{\"IPAddress\":\"\",\"Ports\":{},\"Networks\":{}}}",
    NULL);

  /* before the instance is registered: no ContainerInstanceARN (omitempty) */
  initial = ecsa_container_metadata_render(md, "arn:aws:ecs:r:1:task/t1", "web", NULL);
  g_assert_cmpstr(initial, ==,
                  "{\n\t\"Cluster\": \"prod\",\n\t\"TaskARN\": \"arn:aws:ecs:r:1:task/t1\",\n"
                  "\t\"ContainerName\": \"web\"\n}");
  ecsa_container_metadata_set_container_instance_arn(md, "arn:aws:ecs:r:1:container-instance/ci");
  ready = ecsa_container_metadata_render(md, "arn:aws:ecs:r:1:task/t1", "web", json_node_get_object(inspect));
  g_assert_cmpstr(ready, ==, expected_ready);
  /* host networking: no Networks map, so the mode and the (empty) address of the settings */
  host = ecsa_container_metadata_render(md, "arn:aws:ecs:r:1:task/t1", "web", json_node_get_object(host_inspect));
  g_assert_nonnull(strstr(
    host, "\"Networks\": [\n\t\t{\n\t\t\t\"NetworkMode\": \"host\",\n\t\t\t\"IPv4Addresses\": [\n\t\t\t\t\"\"\n"));
  g_assert_null(strstr(host, "PortMappings"));
}

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
  char *bind;
  char *env;
} Wait;

static void
created_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_container_metadata_create_finish(NULL, result, &w->bind, &w->env, &w->error);
  w->done = TRUE;
}

static void
updated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_container_metadata_update_finish(NULL, result, &w->error);
  w->done = TRUE;
}

static void
cleaned_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_container_metadata_clean_finish(NULL, result, &w->error);
  w->done = TRUE;
}

static void
test_files(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autoptr(EcsaContainerMetadata) md = ecsa_container_metadata_new(dir, "/var/lib/ecs", "prod");
  g_autoptr(JsonNode) inspect = json_from_string(inspect_json, NULL);
  g_autofree char *file = g_build_filename(dir, "metadata", "task-1", "web", ECSA_CONTAINER_METADATA_FILE, NULL);
  g_autofree char *task_dir = g_build_filename(dir, "metadata", "task-1", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *want_bind = NULL;
  Wait w = { 0 };
  struct stat st;
  const char *uuid;

  ecsa_container_metadata_set_container_instance_arn(md, "arn:aws:ecs:r:1:container-instance/ci");
  ecsa_container_metadata_create_async(md, "arn:aws:ecs:r:1:task/task-1", "task-1", "web", NULL, created_cb, &w);
  ecsa_test_wait_for_flag(NULL, &w.done, 10000);
  g_assert_no_error(w.error);
  g_assert_true(g_file_get_contents(file, &contents, NULL, NULL));
  g_assert_null(strstr(contents, "MetadataFileStatus"));
  g_assert_cmpint(g_stat(file, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0644);
  /* the agent runs on the host here: the data directory is the bind's source */
  want_bind = g_build_filename(dir, "metadata", "task-1", "web", NULL);
  g_assert_true(g_str_has_prefix(w.bind, want_bind));
  uuid = w.bind + strlen(want_bind) + strlen(":/opt/ecs/metadata/");
  g_assert_cmpuint(strlen(uuid), ==, 36);
  g_assert_true(g_str_has_prefix(w.env, "ECS_CONTAINER_METADATA_FILE=/opt/ecs/metadata/"));
  g_assert_nonnull(strstr(w.env, uuid));
  g_assert_true(g_str_has_suffix(w.env, "/ecs-container-metadata.json"));
  g_free(w.bind);
  g_free(w.env);

  w = (Wait){ 0 };
  ecsa_container_metadata_update_async(md, "arn:aws:ecs:r:1:task/t1", "task-1", "web", json_node_get_object(inspect),
                                       NULL, updated_cb, &w);
  ecsa_test_wait_for_flag(NULL, &w.done, 10000);
  g_assert_no_error(w.error);
  g_clear_pointer(&contents, g_free);
  g_assert_true(g_file_get_contents(file, &contents, NULL, NULL));
  g_assert_cmpstr(contents, ==, expected_ready);

  w = (Wait){ 0 };
  ecsa_container_metadata_clean_async(md, "task-1", NULL, cleaned_cb, &w);
  ecsa_test_wait_for_flag(NULL, &w.done, 10000);
  g_assert_no_error(w.error);
  g_assert_false(g_file_test(task_dir, G_FILE_TEST_EXISTS));
  ecsa_test_rmdir_recursive(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func("/container-metadata/render", test_render);
  g_test_add_func("/container-metadata/files", test_files);
  return g_test_run();
}
