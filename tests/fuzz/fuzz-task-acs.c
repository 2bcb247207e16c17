/* fuzz-task-acs.c: libFuzzer harness for the ACS task parser (a PayloadMessage's `tasks`, from the
 * network) and everything the engine derives from a parsed task: the checkpoint form (which must
 * read back to the same form), v1.16.2's state rules, the dependency graph, names, the instance
 * policy, the task cgroup spec, the view, and the Docker create document with its dockerConfig
 * merge.
 *
 *   meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false (CC=clang)
 *   build-fuzz/tests/fuzz/fuzz-task-acs tests/fuzz/corpus/task-acs
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-cgroup.h"
#include "ecsa-task-view.h"
#include "ecsa-task.h"

#include <stdint.h>
#include <stdlib.h>

static void
exercise(JsonNode *node)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autoptr(EcsaTask) task = ecsa_task_from_acs(node, 3, &arn, &error);
  g_autoptr(JsonNode) cp = NULL;
  g_autoptr(JsonNode) cp2 = NULL;
  g_autoptr(EcsaTask) back = NULL;
  g_autoptr(EcsaTaskView) view = NULL;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;
  EcsaCgroupSpec spec;

  if (task == NULL)
    {
      /* a refusal always says why */
      if (error == NULL || error->message == NULL || *error->message == '\0')
        abort();
      return;
    }
  /* the checkpoint form reads back to itself */
  cp = ecsa_task_to_checkpoint(task);
  back = ecsa_task_from_checkpoint(cp, &error);
  if (back == NULL)
    abort();
  cp2 = ecsa_task_to_checkpoint(back);
  s1 = json_to_string(cp, FALSE);
  s2 = json_to_string(cp2, FALSE);
  if (g_strcmp0(s1, s2) != 0)
    abort();

  ecsa_task_check_policy(task, TRUE, FALSE, FALSE, NULL);
  ecsa_cgroup_spec_for_task(task, &spec, NULL);
  view = ecsa_task_view_new(task);
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      const char *why = NULL;
      c->docker_name = ecsa_container_make_docker_name(task, c);
      ecsa_container_dependencies_resolved(task, c, &why);
    }
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      if (v->source_path == NULL)
        v->docker_volume = g_strdup("vol");
    }
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaCreateContext ctx = { .api_version = i % 2 ? "1.17" : "1.41", .cluster = "c", .cgroup_parent = "/ecs/x" };
      g_autoptr(JsonNode) body = ecsa_task_build_create_body(task, task->containers->pdata[i], &ctx, NULL);
      if (body != NULL && !JSON_NODE_HOLDS_OBJECT(body))
        abort();
    }
  /* the state rules, with every container moved through its statuses */
  for (int s = ECSA_CONTAINER_NONE; s <= ECSA_CONTAINER_STOPPED; s++)
    {
      for (guint i = 0; i < task->containers->len; i++)
        ((EcsaContainer *)task->containers->pdata[i])->known_status = (EcsaContainerStatus)((s + i) % 6);
      ecsa_task_update_known_status(task);
      ecsa_task_update_desired_status(task);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonNode *root;

  if (!json_parser_load_from_data(parser, (const char *)data, (gssize)size, NULL))
    return 0;
  root = json_parser_get_root(parser);
  if (root == NULL)
    return 0;
  if (JSON_NODE_HOLDS_ARRAY(root))
    {
      JsonArray *a = json_node_get_array(root);
      for (guint i = 0; i < json_array_get_length(a) && i < 64; i++)
        exercise(json_array_get_element(a, i));
    }
  else
    exercise(root);
  return 0;
}
