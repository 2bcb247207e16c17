/* test-task.c: the task model: ACS parsing, validation, the checkpoint form, v1.16.2's state rules,
 * the dependency graph, names, the Docker create document and the instance policy.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-task.h"
#include "ecsa-task-view.h"
#include "ecsa-plugin.h"

#include <string.h>

#define ARN "arn:aws:ecs:us-west-2:123456789012:task/0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

/* A task using every field v1.16.2 honours, plus fields it does not know. */
static const char *full_task
  = "{"
    " \"arn\": \"" ARN "\","
    " \"family\": \"web-app\", \"version\": \"3\", \"desiredStatus\": \"RUNNING\","
    " \"taskDefinitionAccountId\": \"123456789012\", \"overrides\": \"{}\", \"someFutureField\": {\"x\": 1},"
    " \"cpu\": 0.5, \"memory\": 256,"
    " \"roleCredentials\": {\"credentialsId\": \"cred-task-1\", \"roleArn\": \"arn:aws:iam::1:role/r\","
    "   \"accessKeyId\": \"AKIAEXAMPLEKEY\", \"secretAccessKey\": \"SECRETSECRETSECRET\", \"sessionToken\": "
    "\"TOKENTOKEN\","
    "   \"expiration\": \"2030-01-01T00:00:00Z\"},"
    " \"executionRoleCredentials\": {\"credentialsId\": \"cred-exec-1\", \"accessKeyId\": \"AKIAEXECKEY\","
    "   \"secretAccessKey\": \"EXECSECRET\", \"sessionToken\": \"EXECTOKEN\"},"
    " \"volumes\": [{\"name\": \"data\", \"host\": {\"sourcePath\": \"/srv/data\"}}, {\"name\": \"scratch\", \"host\": "
    "{}}],"
    " \"containers\": ["
    "  {\"name\": \"web\", \"image\": \"ecsa-test/busybox:latest\", \"command\": [\"httpd\", \"-f\"],"
    "   \"entryPoint\": [\"/bin/sh\", \"-c\"], \"cpu\": 128, \"memory\": 64, \"essential\": true,"
    "   \"environment\": {\"B\": \"2\", \"A\": \"1\"},"
    "   \"portMappings\": [{\"containerPort\": 80, \"hostPort\": 8080, \"protocol\": \"tcp\"},"
    "                      {\"containerPort\": 53, \"protocol\": \"udp\"}, {\"containerPort\": 81}],"
    "   \"links\": [\"db:database\", \"cache\"],"
    "   \"mountPoints\": [{\"sourceVolume\": \"data\", \"containerPath\": \"/data\", \"readOnly\": true},"
    "                     {\"sourceVolume\": \"scratch\", \"containerPath\": \"/scratch\"}],"
    "   \"volumesFrom\": [{\"sourceContainer\": \"db\", \"readOnly\": true}],"
    "   \"dockerConfig\": {\"config\": \"{\\\"Labels\\\":{\\\"team\\\":\\\"x\\\"},\\\"user\\\":\\\"nobody\\\"}\","
    "                      \"hostConfig\": "
    "\"{\\\"LogConfig\\\":{\\\"Type\\\":\\\"json-file\\\",\\\"Config\\\":{\\\"max-size\\\":\\\"1m\\\"}},"
    "\\\"PortBindings\\\":{\\\"90/tcp\\\":[{\\\"HostPort\\\":\\\"9090\\\"}]},\\\"memory\\\":33554432}\","
    "                      \"version\": \"1.24\"},"
    "   \"overrides\": \"{\\\"command\\\":[\\\"sh\\\",\\\"-c\\\",\\\"echo overridden\\\"],\\\"environment\\\":[]}\","
    "   \"registryAuthentication\": {\"type\": \"ecr\", \"ecrAuthData\": {\"registryId\": \"123\", \"region\": "
    "\"us-west-2\","
    "     \"endpointOverride\": \"\", \"useExecutionRole\": true}},"
    "   \"logsAuthStrategy\": \"ExecutionRole\", \"unknownContainerField\": [1, 2]},"
    "  {\"name\": \"db\", \"image\": \"ecsa-test/busybox:latest\", \"essential\": false, \"cpu\": 0, \"memory\": 0},"
    "  {\"name\": \"cache\", \"image\": \"ecsa-test/busybox:latest\", \"essential\": false}"
    " ]"
    "}";

static EcsaTask *
parse(const char *json, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string(json, NULL);

  g_assert_nonnull(node);
  return ecsa_task_from_acs(node, 7, NULL, error);
}

static char *
to_string(JsonNode *node)
{
  return json_to_string(node, FALSE);
}

static void
test_parse_full(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse(full_task, &error);
  EcsaContainer *web, *db;
  EcsaPortMapping *pm;

  g_assert_no_error(error);
  g_assert_cmpstr(task->arn, ==, ARN);
  g_assert_cmpstr(ecsa_task_get_id(task), ==, "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
  g_assert_cmpstr(task->family, ==, "web-app");
  g_assert_cmpstr(task->version, ==, "3");
  g_assert_cmpint(task->desired_status, ==, ECSA_TASK_RUNNING);
  g_assert_cmpint(task->start_sequence_number, ==, 7);
  g_assert_cmpint(task->stop_sequence_number, ==, 0);
  g_assert_cmpfloat(task->cpu, ==, 0.5);
  g_assert_cmpint(task->memory, ==, 256);
  g_assert_cmpstr(task->credentials_id, ==, "cred-task-1");
  g_assert_cmpstr(task->execution_credentials_id, ==, "cred-exec-1");
  g_assert_cmpuint(task->volumes->len, ==, 2);
  g_assert_cmpstr(ecsa_task_get_volume(task, "data")->source_path, ==, "/srv/data");
  g_assert_null(ecsa_task_get_volume(task, "scratch")->source_path);
  g_assert_cmpstr(ecsa_task_get_network_mode(task), ==, "bridge");

  web = ecsa_task_get_container(task, "web");
  db = ecsa_task_get_container(task, "db");
  g_assert_nonnull(web);
  g_assert_true(web->task == task);
  g_assert_cmpstr(web->image, ==, "ecsa-test/busybox:latest");
  /* the command override replaced the command */
  g_assert_cmpuint(g_strv_length(web->command), ==, 3);
  g_assert_cmpstr(web->command[2], ==, "echo overridden");
  g_assert_cmpstr(web->entry_point[0], ==, "/bin/sh");
  g_assert_cmpuint(web->cpu, ==, 128);
  g_assert_cmpuint(web->memory, ==, 64);
  g_assert_true(web->essential);
  g_assert_false(db->essential);
  g_assert_cmpstr(g_hash_table_lookup(web->environment, "A"), ==, "1");
  g_assert_cmpuint(web->port_mappings->len, ==, 3);
  pm = web->port_mappings->pdata[1];
  g_assert_cmpuint(pm->container_port, ==, 53);
  g_assert_cmpuint(pm->host_port, ==, 0);
  g_assert_true(pm->udp);
  pm = web->port_mappings->pdata[2];
  g_assert_false(pm->udp); /* protocol defaults to tcp */
  g_assert_cmpstr(web->links[0], ==, "db:database");
  g_assert_cmpuint(web->mount_points->len, ==, 2);
  g_assert_true(((EcsaMountPoint *)web->mount_points->pdata[0])->read_only);
  g_assert_cmpuint(web->volumes_from->len, ==, 1);
  g_assert_cmpstr(web->docker_version, ==, "1.24");
  g_assert_nonnull(web->docker_config);
  g_assert_cmpstr(web->log_driver, ==, "json-file");
  g_assert_cmpstr(g_hash_table_lookup(web->log_options, "max-size"), ==, "1m");
  g_assert_cmpstr(web->registry_auth->type, ==, "ecr");
  g_assert_cmpstr(web->registry_auth->ecr_region, ==, "us-west-2");
  g_assert_true(web->registry_auth->ecr_use_execution_role);
  g_assert_cmpstr(web->logs_auth_strategy, ==, "ExecutionRole");
  /* desired statuses follow the task */
  g_assert_cmpint(web->desired_status, ==, ECSA_CONTAINER_RUNNING);
  g_assert_cmpint(web->known_status, ==, ECSA_CONTAINER_NONE);
}

static void
test_parse_case_insensitive(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task
    = parse("{\"Arn\":\"" ARN "\",\"FAMILY\":\"f\",\"Version\":\"1\",\"desiredstatus\":\"STOPPED\","
            "\"Containers\":[{\"Name\":\"c\",\"Image\":\"i\",\"Essential\":true}]}",
            &error);

  g_assert_no_error(error);
  g_assert_cmpint(task->desired_status, ==, ECSA_TASK_STOPPED);
  g_assert_cmpint(task->stop_sequence_number, ==, 7);
  g_assert_true(((EcsaContainer *)task->containers->pdata[0])->essential);
  g_assert_cmpint(((EcsaContainer *)task->containers->pdata[0])->desired_status, ==, ECSA_CONTAINER_STOPPED);
}

typedef struct
{
  const char *name;
  const char *json;
  const char *fragment;
} BadCase;

#define T(containers)                                                                                                  \
  "{\"arn\":\"" ARN "\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" containers "}"
#define C1(extra) "[{\"name\":\"a\",\"image\":\"i\"" extra "}]"

static const BadCase bad_cases[] = {
  { "not-object", "[1,2]", "a task must be an object" },
  { "no-arn", "{\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" C1("") "}",
    "'arn' is missing" },
  { "arn-not-string",
    "{\"arn\":5,\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" C1("") "}",
    "'arn' must be a string, not a number" },
  { "arn-not-arn",
    "{\"arn\":\"task-1\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" C1("") "}",
    "'arn': 'task-1' is not an ARN" },
  { "arn-traversal",
    "{\"arn\":\"arn:aws:ecs:r:1:task/../../"
    "etc\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" C1("") "}",
    "not allowed" },
  { "bad-family",
    "{\"arn\":\"" ARN
    "\",\"family\":\"a b\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":" C1("") "}",
    "'family' is 'a b'" },
  { "bad-desired",
    "{\"arn\":\"" ARN "\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"BOGUS\",\"containers\":" C1("") "}",
    "'desiredStatus' is 'BOGUS'" },
  { "no-containers", T("[]"), "'containers' is missing or empty" },
  { "containers-not-array", T("{}"), "'containers' must be an array, not an object" },
  { "no-image", T("[{\"name\":\"a\"}]"), "container 'a': 'image' is missing" },
  { "bad-name", T("[{\"name\":\"a/b\",\"image\":\"i\"}]"), "'name' is 'a/b'" },
  { "cpu-string", T(C1(",\"cpu\":\"lots\"")), "container 'a': 'cpu' must be an integer, not a string" },
  { "memory-negative", T(C1(",\"memory\":-1")), "'memory' is -1" },
  { "essential-string", T(C1(",\"essential\":\"yes\"")), "'essential' must be a boolean" },
  { "command-not-strings", T(C1(",\"command\":[\"a\",1]")), "'command'[1] must be a string" },
  { "env-number", T(C1(",\"environment\":{\"A\":1}")), "'environment'.'A' must be a string" },
  { "protocol", T(C1(",\"portMappings\":[{\"containerPort\":80,\"protocol\":\"sctp\"}]")),
    "'portMappings'[0]: 'protocol' is 'sctp'" },
  { "port-range", T(C1(",\"portMappings\":[{\"containerPort\":70000}]")),
    "'portMappings'[0]: 'containerPort' is 70000" },
  { "link-unknown", T(C1(",\"links\":[\"nope\"]")), "link target 'nope'" },
  { "link-format", T(C1(",\"links\":[\"a:b:c\"]")), "link 'a:b:c'" },
  { "volumes-from-unknown", T(C1(",\"volumesFrom\":[{\"sourceContainer\":\"x\"}]")), "volumesFrom 'x'" },
  { "mount-unknown", T(C1(",\"mountPoints\":[{\"sourceVolume\":\"v\",\"containerPath\":\"/v\"}]")),
    "references volume 'v'" },
  { "mount-no-path", T(C1(",\"mountPoints\":[{\"sourceVolume\":\"v\"}]")),
    "'mountPoints'[0]: 'containerPath' is missing" },
  { "cycle",
    T("[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"b\"]},{\"name\":\"b\",\"image\":\"i\",\"volumesFrom\":[{"
      "\"sourceContainer\":\"a\"}]}]"),
    "TaskDependencyError" },
  { "duplicate", T("[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"a\",\"image\":\"j\"}]"), "'a' is used twice" },
  { "docker-config-json", T(C1(",\"dockerConfig\":{\"config\":\"{not json\"}")),
    "'dockerConfig.config' is not a JSON object" },
  { "docker-host-config-array", T(C1(",\"dockerConfig\":{\"hostConfig\":\"[1]\"}")),
    "'dockerConfig.hostConfig' is not a JSON object" },
  { "docker-version", T(C1(",\"dockerConfig\":{\"version\":\"latest\"}")), "'dockerConfig.version' is 'latest'" },
  { "overrides-json", T(C1(",\"overrides\":\"{oops\"")), "'overrides' is not JSON" },
  { "overrides-command", T(C1(",\"overrides\":{\"command\":\"ls\"}")), "'overrides': 'command' must be an array" },
  { "volume-relative",
    "{\"arn\":\"" ARN "\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
    "\"volumes\":[{\"name\":\"v\",\"host\":{\"sourcePath\":\"rel\"}}],\"containers\":" C1("") "}",
    "must be an absolute path" },
  { "eni-two-ipv4",
    "{\"arn\":\"" ARN "\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
    "\"elasticNetworkInterfaces\":[{\"ec2Id\":\"eni-1\",\"macAddress\":\"0a:00:00:00:00:01\",\"ipv4Addresses\":"
    "[{\"privateAddress\":\"10.0.0.2\"},{\"privateAddress\":\"10.0.0.3\"}]}],\"containers\":" C1("") "}",
    "expected one IPv4 address" },
  { "registry-auth-type", T(C1(",\"registryAuthentication\":{\"type\":5}")),
    "'registryAuthentication': 'type' must be a string" },
};

static void
test_parse_bad(gconstpointer data)
{
  const BadCase *bc = data;
  g_autoptr(JsonNode) node = json_from_string(bc->json, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autoptr(EcsaTask) task = NULL;

  g_assert_nonnull(node);
  task = ecsa_task_from_acs(node, 0, &arn, &error);
  g_assert_null(task);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  if (strstr(error->message, bc->fragment) == NULL)
    g_error("'%s': message '%s' lacks '%s'", bc->name, error->message, bc->fragment);
  /* the ARN comes back whenever it could be read, so the refusal can name the task */
  if (strstr(bc->json, ARN) != NULL)
    g_assert_cmpstr(arn, ==, ARN);
}

static void
test_checkpoint_roundtrip(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse(full_task, &error);
  g_autoptr(EcsaTask) back = NULL;
  g_autoptr(JsonNode) cp = NULL;
  g_autoptr(JsonNode) cp2 = NULL;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;
  EcsaContainer *web;
  EcsaNetworkBinding *nb;

  g_assert_no_error(error);
  web = ecsa_task_get_container(task, "web");
  web->known_status = ECSA_CONTAINER_RUNNING;
  web->sent_status = ECSA_CONTAINER_RUNNING;
  web->docker_id = g_strdup("abc123");
  web->docker_name = g_strdup("ecs-web-app-3-web-00112233445566778899");
  web->has_exit_code = TRUE;
  web->exit_code = -3;
  web->reason = g_strdup("CannotPullContainerError: nope");
  web->image_id = g_strdup("sha256:feed");
  nb = g_new0(EcsaNetworkBinding, 1);
  nb->bind_ip = g_strdup("0.0.0.0");
  nb->container_port = 80;
  nb->host_port = 8080;
  nb->protocol = g_strdup("tcp");
  g_ptr_array_add(web->known_port_bindings, nb);
  ecsa_task_get_volume(task, "scratch")->docker_volume = g_strdup("ecsa-vol-1");
  task->known_status = ECSA_TASK_RUNNING;
  task->sent_status = ECSA_TASK_CREATED;
  task->known_status_time = 1700000000123456;
  task->cgroup_enabled = TRUE;
  task->reason = g_strdup("why not");

  cp = ecsa_task_to_checkpoint(task);
  s1 = to_string(cp);
  /* no secret ever reaches the checkpoint */
  g_assert_null(strstr(s1, "SECRETSECRETSECRET"));
  g_assert_null(strstr(s1, "AKIAEXAMPLEKEY"));
  g_assert_null(strstr(s1, "TOKENTOKEN"));
  g_assert_null(strstr(s1, "EXECSECRET"));
  g_assert_nonnull(strstr(s1, "cred-task-1"));

  back = ecsa_task_from_checkpoint(cp, &error);
  g_assert_no_error(error);
  cp2 = ecsa_task_to_checkpoint(back);
  s2 = to_string(cp2);
  g_assert_cmpstr(s1, ==, s2);
  web = ecsa_task_get_container(back, "web");
  g_assert_cmpstr(web->docker_id, ==, "abc123");
  g_assert_cmpint(web->exit_code, ==, -3);
  g_assert_cmpint(web->known_status, ==, ECSA_CONTAINER_RUNNING);
  /* what was acknowledged counts as emitted; the rest is owed */
  g_assert_cmpint(web->emitted_status, ==, ECSA_CONTAINER_RUNNING);
  g_assert_cmpint(back->emitted_status, ==, ECSA_TASK_CREATED);
  g_assert_cmpuint(web->known_port_bindings->len, ==, 1);
  g_assert_cmpstr(ecsa_task_get_volume(back, "scratch")->docker_volume, ==, "ecsa-vol-1");
  g_assert_cmpint(back->start_sequence_number, ==, 7);
  g_assert_true(back->cgroup_enabled);
  /* the command override stays applied */
  g_assert_cmpstr(web->command[2], ==, "echo overridden");
}

static void
test_checkpoint_bad(void)
{
  const char *cases[][2] = {
    { "{}", "'definition' is missing" },
    { "{\"definition\":{\"arn\":\"" ARN
      "\",\"family\":\"f\",\"version\":\"1\",\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]},"
      "\"knownStatus\":\"FLYING\"}",
      "'knownStatus' is 'FLYING'" },
    { "{\"definition\":{\"arn\":\"" ARN
      "\",\"family\":\"f\",\"version\":\"1\",\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]},"
      "\"containers\":{\"a\":{\"exitCode\":\"x\"}}}",
      "container 'a': 'exitCode' must be an integer" },
    { "[]", "a task must be an object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autoptr(JsonNode) node = json_from_string(cases[i][0], NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(EcsaTask) task = ecsa_task_from_checkpoint(node, &error);
      g_assert_null(task);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      if (strstr(error->message, cases[i][1]) == NULL)
        g_error("message '%s' lacks '%s'", error->message, cases[i][1]);
    }
}

static EcsaTask *
three_containers(void)
{
  g_autoptr(GError) error = NULL;
  EcsaTask *task = parse(T("[{\"name\":\"web\",\"image\":\"i\",\"essential\":true,\"links\":[\"db\"],"
                           "\"volumesFrom\":[{\"sourceContainer\":\"data\"}]},"
                           "{\"name\":\"db\",\"image\":\"i\",\"essential\":true},"
                           "{\"name\":\"data\",\"image\":\"i\",\"essential\":false}]"),
                         &error);
  g_assert_no_error(error);
  return task;
}

static void
set_known(EcsaTask *task, EcsaContainerStatus web, EcsaContainerStatus db, EcsaContainerStatus data)
{
  ecsa_task_get_container(task, "web")->known_status = web;
  ecsa_task_get_container(task, "db")->known_status = db;
  ecsa_task_get_container(task, "data")->known_status = data;
}

static void
test_known_status_rules(void)
{
  g_autoptr(EcsaTask) task = three_containers();

  set_known(task, ECSA_CONTAINER_PULLED, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING);
  g_assert_false(ecsa_task_update_known_status(task)); /* PULLED counts as NONE for the task */
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_NONE);
  set_known(task, ECSA_CONTAINER_CREATED, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_CREATED);
  g_assert_true(ecsa_task_update_known_status(task));
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_CREATED);
  g_assert_cmpint(task->known_status_time, >, 0);
  set_known(task, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING);
  g_assert_true(ecsa_task_update_known_status(task));
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_RUNNING);
  g_assert_cmpstr(ecsa_task_status_to_backend(task->known_status), ==, "RUNNING");
  /* an essential container stopped while the others run: the task waits for them */
  set_known(task, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_STOPPED, ECSA_CONTAINER_RUNNING);
  g_assert_false(ecsa_task_update_known_status(task));
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_RUNNING);
  /* and it is meant to stop: every container is told to */
  g_assert_true(ecsa_task_update_desired_status(task));
  g_assert_cmpint(task->desired_status, ==, ECSA_TASK_STOPPED);
  for (guint i = 0; i < task->containers->len; i++)
    g_assert_cmpint(((EcsaContainer *)task->containers->pdata[i])->desired_status, ==, ECSA_CONTAINER_STOPPED);
  set_known(task, ECSA_CONTAINER_STOPPED, ECSA_CONTAINER_STOPPED, ECSA_CONTAINER_STOPPED);
  g_assert_true(ecsa_task_update_known_status(task));
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_STOPPED);
  /* the known status never goes back */
  set_known(task, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING);
  g_assert_false(ecsa_task_update_known_status(task));
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_STOPPED);
  g_assert_cmpstr(ecsa_task_status_to_backend(ECSA_TASK_CREATED), ==, "PENDING");
}

static void
test_non_essential_stop(void)
{
  g_autoptr(EcsaTask) task = three_containers();

  set_known(task, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_STOPPED);
  g_assert_false(ecsa_task_update_desired_status(task));
  g_assert_cmpint(task->desired_status, ==, ECSA_TASK_RUNNING);
  /* a failed transition of an essential container (desired STOPPED) stops the task */
  ecsa_task_get_container(task, "db")->desired_status = ECSA_CONTAINER_STOPPED;
  g_assert_true(ecsa_task_update_desired_status(task));
  g_assert_cmpint(task->desired_status, ==, ECSA_TASK_STOPPED);
}

static void
test_dependencies(void)
{
  g_autoptr(EcsaTask) task = three_containers();
  EcsaContainer *web = ecsa_task_get_container(task, "web");
  const char *why = NULL;

  set_known(task, ECSA_CONTAINER_NONE, ECSA_CONTAINER_NONE, ECSA_CONTAINER_NONE);
  g_assert_false(ecsa_container_dependencies_resolved(task, web, &why));
  g_assert_nonnull(why);
  g_assert_true(ecsa_container_dependencies_resolved(task, ecsa_task_get_container(task, "db"), &why));
  /* volumesFrom needs the source created; links need the target running */
  set_known(task, ECSA_CONTAINER_NONE, ECSA_CONTAINER_CREATED, ECSA_CONTAINER_CREATED);
  g_assert_false(ecsa_container_dependencies_resolved(task, web, &why));
  g_assert_nonnull(strstr(why, "linked"));
  set_known(task, ECSA_CONTAINER_NONE, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_CREATED);
  g_assert_true(ecsa_container_dependencies_resolved(task, web, &why));
  /* a data container that ran and exited still resolves */
  set_known(task, ECSA_CONTAINER_NONE, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_STOPPED);
  g_assert_true(ecsa_container_dependencies_resolved(task, web, &why));
  /* stopping never waits */
  set_known(task, ECSA_CONTAINER_RUNNING, ECSA_CONTAINER_NONE, ECSA_CONTAINER_NONE);
  web->desired_status = ECSA_CONTAINER_STOPPED;
  g_assert_true(ecsa_container_dependencies_resolved(task, web, &why));
}

static void
test_docker_name(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse(T("[{\"name\":\"my_web-1\",\"image\":\"i\"}]"), &error);
  g_autofree char *n1 = NULL;
  g_autofree char *n2 = NULL;
  g_autoptr(GRegex) re = g_regex_new("^ecs-f-1-myweb-1-[0-9a-f]{20}$", 0, 0, NULL);

  g_assert_no_error(error);
  n1 = ecsa_container_make_docker_name(task, task->containers->pdata[0]);
  n2 = ecsa_container_make_docker_name(task, task->containers->pdata[0]);
  g_assert_true(g_regex_match(re, n1, 0, NULL));
  g_assert_cmpstr(n1, !=, n2);
}

static void
give_names(EcsaTask *task)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      g_free(c->docker_name);
      c->docker_name = g_strdup_printf("ecs-docker-%s", c->name);
    }
}

static const char *
strv_find_prefix(JsonArray *a, const char *prefix)
{
  for (guint i = 0; i < json_array_get_length(a); i++)
    if (g_str_has_prefix(json_array_get_string_element(a, i), prefix))
      return json_array_get_string_element(a, i);
  return NULL;
}

static void
test_create_body(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse(full_task, &error);
  EcsaContainer *web = ecsa_task_get_container(task, "web");
  const char *extra_binds[] = { "/host/meta:/opt/ecs/metadata/x", NULL };
  const char *extra_env[] = { "ECS_CONTAINER_METADATA_FILE=/opt/ecs/metadata/x/ecs-container-metadata.json", NULL };
  EcsaCreateContext ctx = { .api_version = "1.41",
                            .cluster = "prod",
                            .cgroup_parent = "/ecs/taskid",
                            .extra_binds = extra_binds,
                            .extra_env = extra_env };
  g_autoptr(JsonNode) body = NULL;
  JsonObject *o, *hc, *labels, *pb, *lc;
  JsonArray *env, *binds, *links;
  g_autofree char *s = NULL;

  g_assert_no_error(error);
  /* without Docker names for the linked containers the document cannot be built */
  body = ecsa_task_build_create_body(task, web, &ctx, &error);
  g_assert_null(body);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "link target not available"));
  g_clear_error(&error);
  give_names(task);
  /* nor without the Docker volume behind the empty volume */
  body = ecsa_task_build_create_body(task, web, &ctx, &error);
  g_assert_null(body);
  g_assert_nonnull(strstr(error->message, "volume 'scratch' has no source"));
  g_clear_error(&error);
  ecsa_task_get_volume(task, "scratch")->docker_volume = g_strdup("ecs-vol-scratch");

  body = ecsa_task_build_create_body(task, web, &ctx, &error);
  g_assert_no_error(error);
  s = json_to_string(body, FALSE);
  g_assert_null(strstr(s, "SECRET"));
  o = json_node_get_object(body);
  g_assert_cmpstr(json_object_get_string_member(o, "Image"), ==, "ecsa-test/busybox:latest");
  g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(o, "Cmd"), 2), ==, "echo overridden");
  g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(o, "Entrypoint"), 0), ==, "/bin/sh");
  /* dockerConfig.config merged: "user" matched "User"-less config, so it is added as written */
  g_assert_cmpstr(json_object_get_string_member(o, "user"), ==, "nobody");
  env = json_object_get_array_member(o, "Env");
  g_assert_cmpstr(json_array_get_string_element(env, 0), ==, "A=1");
  g_assert_cmpstr(json_array_get_string_element(env, 1), ==, "B=2");
  g_assert_cmpstr(strv_find_prefix(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="), ==,
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-task-1");
  g_assert_nonnull(strv_find_prefix(env, "ECS_CONTAINER_METADATA_FILE="));
  g_assert_true(json_object_has_member(json_object_get_object_member(o, "ExposedPorts"), "80/tcp"));
  g_assert_true(json_object_has_member(json_object_get_object_member(o, "ExposedPorts"), "53/udp"));
  labels = json_object_get_object_member(o, "Labels");
  g_assert_cmpstr(json_object_get_string_member(labels, "team"), ==, "x");
  g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.task-arn"), ==, ARN);
  g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.container-name"), ==, "web");
  g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.task-definition-family"), ==, "web-app");
  g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.task-definition-version"), ==, "3");
  g_assert_cmpstr(json_object_get_string_member(labels, "com.amazonaws.ecs.cluster"), ==, "prod");

  hc = json_object_get_object_member(o, "HostConfig");
  links = json_object_get_array_member(hc, "Links");
  g_assert_cmpstr(json_array_get_string_element(links, 0), ==, "ecs-docker-db:database");
  g_assert_cmpstr(json_array_get_string_element(links, 1), ==, "ecs-docker-cache:cache");
  g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(hc, "VolumesFrom"), 0), ==,
                  "ecs-docker-db:ro");
  binds = json_object_get_array_member(hc, "Binds");
  g_assert_cmpstr(json_array_get_string_element(binds, 0), ==, "/srv/data:/data:ro");
  g_assert_cmpstr(json_array_get_string_element(binds, 1), ==, "ecs-vol-scratch:/scratch");
  g_assert_cmpstr(json_array_get_string_element(binds, 2), ==, "/host/meta:/opt/ecs/metadata/x");
  pb = json_object_get_object_member(hc, "PortBindings");
  g_assert_cmpstr(json_object_get_string_member(
                    json_array_get_object_element(json_object_get_array_member(pb, "80/tcp"), 0), "HostPort"),
                  ==, "8080");
  g_assert_cmpstr(json_object_get_string_member(
                    json_array_get_object_element(json_object_get_array_member(pb, "53/udp"), 0), "HostPort"),
                  ==, "0");
  /* merged from dockerConfig.hostConfig: the map gains a key */
  g_assert_true(json_object_has_member(pb, "90/tcp"));
  /* "memory" (any case) replaced the agent's Memory rather than adding a second member */
  g_assert_cmpint(json_object_get_int_member(hc, "Memory"), ==, 33554432);
  g_assert_false(json_object_has_member(hc, "memory"));
  g_assert_cmpint(json_object_get_int_member(hc, "CpuShares"), ==, 128);
  g_assert_cmpstr(json_object_get_string_member(hc, "CgroupParent"), ==, "/ecs/taskid");
  lc = json_object_get_object_member(hc, "LogConfig");
  g_assert_cmpstr(json_object_get_string_member(lc, "Type"), ==, "json-file");
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(lc, "Config"), "max-size"), ==, "1m");
  /* logsAuthStrategy ExecutionRole: awslogs gets the execution role's endpoint */
  g_assert_cmpstr(
    json_object_get_string_member(json_object_get_object_member(lc, "Config"), "awslogs-credentials-endpoint"), ==,
    "/v2/credentials/cred-exec-1");
}

static void
test_create_body_old_api_and_minimums(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task
    = parse(T("[{\"name\":\"a\",\"image\":\"i\",\"memory\":2,\"cpu\":1,"
              "\"dockerConfig\":{\"config\":\"{\\\"Env\\\":[\\\"X=1\\\"],\\\"Labels\\\":null}\"}}]"),
            &error);
  EcsaCreateContext ctx = { .api_version = "1.17", .cluster = "c" };
  g_autoptr(JsonNode) body = NULL;
  JsonObject *o, *hc;

  g_assert_no_error(error);
  body = ecsa_task_build_create_body(task, task->containers->pdata[0], &ctx, &error);
  g_assert_no_error(error);
  o = json_node_get_object(body);
  hc = json_object_get_object_member(o, "HostConfig");
  /* before API 1.18, memory and CPU shares go in Config; 2 MiB is raised to Docker's 4 MiB; 1 share becomes 2 */
  g_assert_cmpint(json_object_get_int_member(o, "Memory"), ==, 4 * 1024 * 1024);
  g_assert_cmpint(json_object_get_int_member(o, "CpuShares"), ==, 2);
  g_assert_false(json_object_has_member(hc, "Memory"));
  g_assert_false(json_object_has_member(hc, "CgroupParent"));
  /* arrays are replaced by dockerConfig, null clears, and the ECS labels come back */
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "Env")), ==, 1);
  g_assert_cmpstr(
    json_object_get_string_member(json_object_get_object_member(o, "Labels"), "com.amazonaws.ecs.container-name"), ==,
    "a");
}

static void
test_policy(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) priv = parse(T(C1(",\"dockerConfig\":{\"hostConfig\":\"{\\\"privileged\\\":true}\"}")), &error);
  g_autoptr(EcsaTask) selinux
    = parse(T(C1(",\"dockerConfig\":{\"hostConfig\":\"{\\\"SecurityOpt\\\":[\\\"label:type:svirt_t\\\"]}\"}")), &error);
  g_autoptr(EcsaTask) apparmor = parse(
    T(C1(",\"dockerConfig\":{\"hostConfig\":\"{\\\"SecurityOpt\\\":[\\\"apparmor=unconfined\\\"]}\"}")), &error);

  g_assert_no_error(error);
  g_assert_true(ecsa_task_check_policy(priv, FALSE, FALSE, FALSE, &error));
  g_assert_false(ecsa_task_check_policy(priv, TRUE, FALSE, FALSE, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull(strstr(error->message, "ECS_DISABLE_PRIVILEGED"));
  g_clear_error(&error);
  g_assert_false(ecsa_task_check_policy(selinux, FALSE, FALSE, TRUE, &error));
  g_assert_nonnull(strstr(error->message, "ECS_SELINUX_CAPABLE"));
  g_clear_error(&error);
  g_assert_true(ecsa_task_check_policy(selinux, FALSE, TRUE, FALSE, &error));
  g_assert_false(ecsa_task_check_policy(apparmor, FALSE, TRUE, FALSE, &error));
  g_assert_nonnull(strstr(error->message, "ECS_APPARMOR_CAPABLE"));
  g_clear_error(&error);
  g_assert_true(ecsa_task_check_policy(apparmor, TRUE, FALSE, TRUE, &error));
}

static void
test_network_bindings(void)
{
  g_autoptr(JsonNode) node = json_from_string(
    "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"49153\"},"
    "{\"HostIp\":\"::\",\"HostPort\":\"49153\"}],\"53/udp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"5353\"}],"
    "\"81/tcp\":null,\"bad/tcp\":[{\"HostPort\":\"1\"}]}}}",
    NULL);
  g_autoptr(GPtrArray) b = ecsa_network_bindings_from_inspect(json_node_get_object(node));
  EcsaNetworkBinding *nb;

  g_assert_cmpuint(b->len, ==, 3);
  nb = b->pdata[0];
  g_assert_cmpuint(nb->container_port, ==, 53);
  g_assert_cmpstr(nb->protocol, ==, "udp");
  nb = b->pdata[2];
  g_assert_cmpstr(nb->bind_ip, ==, "::");
  g_assert_cmpuint(nb->host_port, ==, 49153);
}

static void
test_status_strings(void)
{
  EcsaContainerStatus cs;
  EcsaTaskStatus ts;

  g_assert_true(ecsa_container_status_from_string("RESOURCES_PROVISIONED", &cs));
  g_assert_cmpint(cs, ==, ECSA_CONTAINER_RESOURCES_PROVISIONED);
  g_assert_true(ecsa_container_status_from_string("DEAD", &cs));
  g_assert_cmpint(cs, ==, ECSA_CONTAINER_STOPPED);
  g_assert_false(ecsa_container_status_from_string("ZOMBIE", &cs));
  g_assert_true(ecsa_task_status_from_string("UNKNOWN", &ts));
  g_assert_cmpint(ts, ==, ECSA_TASK_NONE);
  g_assert_false(ecsa_task_status_from_string("PENDING", &ts));
  for (int s = ECSA_CONTAINER_NONE; s < ECSA_CONTAINER_ZOMBIE; s++)
    {
      g_assert_true(ecsa_container_status_from_string(ecsa_container_status_to_string(s), &cs));
      g_assert_cmpint(cs, ==, s);
    }
}

/* awsvpc: the agent's sandbox container (v1.16.2's pause container) in the model: never reported,
 * not in views or the ACS definition, back from the checkpoint, pulled-after and stopped-after. */
static void
test_sandbox(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse(T("[{\"name\":\"app\",\"image\":\"i\",\"essential\":true,"
                                     "\"portMappings\":[{\"containerPort\":80,\"hostPort\":80}]}]"),
                                   &error);
  g_autoptr(EcsaTask) back = NULL;
  g_autoptr(JsonNode) cp = NULL;
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(EcsaTaskView) view = NULL;
  g_autofree char *text = NULL;
  EcsaContainer *sandbox, *app;
  const char *why = NULL;
  EcsaCreateContext ctx = { 0 };
  JsonObject *config, *hc;

  g_assert_no_error(error);
  app = ecsa_task_get_container(task, "app");
  sandbox = ecsa_task_add_sandbox(task, "~internal~ecs~pause", "amazon/amazon-ecs-pause:0.1.0");
  g_assert_true(ecsa_task_get_sandbox(task) == sandbox);
  g_assert_cmpint(sandbox->desired_status, ==, ECSA_CONTAINER_RESOURCES_PROVISIONED);
  g_assert_false(ecsa_container_status_reportable(sandbox, ECSA_CONTAINER_RESOURCES_PROVISIONED));
  g_assert_false(ecsa_container_status_reportable(sandbox, ECSA_CONTAINER_STOPPED));

  /* the app is not pulled before the sandbox is provisioned */
  g_assert_false(ecsa_container_dependencies_resolved(task, app, &why));
  g_assert_true(ecsa_container_dependencies_resolved(task, sandbox, &why));
  sandbox->known_status = ECSA_CONTAINER_RUNNING;
  g_assert_false(ecsa_container_dependencies_resolved(task, app, &why));
  g_assert_cmpint(ecsa_container_task_status(sandbox), ==, ECSA_TASK_CREATED);
  sandbox->known_status = ECSA_CONTAINER_RESOURCES_PROVISIONED;
  g_assert_true(ecsa_container_dependencies_resolved(task, app, &why));
  app->known_status = ECSA_CONTAINER_RUNNING;
  ecsa_task_update_known_status(task);
  g_assert_cmpint(task->known_status, ==, ECSA_TASK_RUNNING);

  /* views and the definition leave it out; the checkpoint keeps it */
  view = ecsa_task_view_new(task);
  g_assert_nonnull(view->containers[0]);
  g_assert_null(view->containers[1]);
  sandbox->docker_id = g_strdup("sandbox-id");
  sandbox->docker_name = g_strdup("ecs-f-1-internalecspause-00");
  cp = ecsa_task_to_checkpoint(task);
  back = ecsa_task_from_checkpoint(cp, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(back->containers->len, ==, 2);
  sandbox = ecsa_task_get_sandbox(back);
  g_assert_nonnull(sandbox);
  g_assert_cmpstr(sandbox->image, ==, "amazon/amazon-ecs-pause:0.1.0");
  g_assert_cmpstr(sandbox->docker_id, ==, "sandbox-id");
  g_assert_cmpint(sandbox->known_status, ==, ECSA_CONTAINER_RESOURCES_PROVISIONED);
  g_assert_cmpint(sandbox->steady_state, ==, ECSA_CONTAINER_RESOURCES_PROVISIONED);
  g_assert_true(sandbox->essential);

  /* stopping: the sandbox goes last */
  back->desired_status = ECSA_TASK_STOPPED;
  ecsa_task_update_desired_status(back);
  g_assert_false(ecsa_container_dependencies_resolved(back, sandbox, &why));
  ecsa_task_get_container(back, "app")->known_status = ECSA_CONTAINER_STOPPED;
  g_assert_true(ecsa_container_dependencies_resolved(back, sandbox, &why));

  /* the app joins the sandbox's namespace: no ports of its own (Docker refuses them there) */
  give_names(task);
  ctx.network_mode = "container:sandbox-id";
  body = ecsa_task_build_create_body(task, app, &ctx, &error);
  g_assert_no_error(error);
  config = json_node_get_object(body);
  hc = json_object_get_object_member(config, "HostConfig");
  g_assert_cmpstr(json_object_get_string_member(hc, "NetworkMode"), ==, "container:sandbox-id");
  g_assert_false(json_object_has_member(hc, "PortBindings"));
  g_assert_false(json_object_has_member(config, "ExposedPorts"));
  text = to_string(body);
  g_assert_null(strstr(text, "~internal"));

  /* nor links (Docker: "container type network can't be used with links") */
  {
    g_autoptr(EcsaTask) linked = parse(T("[{\"name\":\"web\",\"image\":\"i\",\"links\":[\"db:database\"]},"
                                         "{\"name\":\"db\",\"image\":\"i\"}]"),
                                       &error);
    g_autoptr(JsonNode) web_body = NULL;

    g_assert_no_error(error);
    give_names(linked);
    web_body = ecsa_task_build_create_body(linked, ecsa_task_get_container(linked, "web"), &ctx, &error);
    g_assert_no_error(error);
    hc = json_object_get_object_member(json_node_get_object(web_body), "HostConfig");
    g_assert_cmpstr(json_object_get_string_member(hc, "NetworkMode"), ==, "container:sandbox-id");
    g_assert_false(json_object_has_member(hc, "Links"));
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  g_test_add_func("/task/parse/full", test_parse_full);
  g_test_add_func("/task/parse/case-insensitive", test_parse_case_insensitive);
  for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf("/task/parse/refused/%s", bad_cases[i].name);
      g_test_add_data_func(path, &bad_cases[i], test_parse_bad);
    }
  g_test_add_func("/task/checkpoint/roundtrip", test_checkpoint_roundtrip);
  g_test_add_func("/task/checkpoint/refused", test_checkpoint_bad);
  g_test_add_func("/task/rules/known-status", test_known_status_rules);
  g_test_add_func("/task/rules/non-essential-stop", test_non_essential_stop);
  g_test_add_func("/task/rules/dependencies", test_dependencies);
  g_test_add_func("/task/docker/name", test_docker_name);
  g_test_add_func("/task/docker/create-body", test_create_body);
  g_test_add_func("/task/docker/create-body-old-api", test_create_body_old_api_and_minimums);
  g_test_add_func("/task/docker/network-bindings", test_network_bindings);
  g_test_add_func("/task/policy", test_policy);
  g_test_add_func("/task/status-strings", test_status_strings);
  g_test_add_func("/task/awsvpc-sandbox", test_sandbox);
  return g_test_run();
}
