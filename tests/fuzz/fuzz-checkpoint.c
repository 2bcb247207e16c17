/* fuzz-checkpoint.c: libFuzzer harness for the checkpoint loader: the state store reads the file
 * (refusing what is corrupt or newer), then the engine restores its "tasks" and "images" sections
 * from it, exactly as at start-up. The input is the file's content.
 *
 *   meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false (CC=clang)
 *   build-fuzz/tests/fuzz/fuzz-checkpoint tests/fuzz/corpus/checkpoint
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"
#include "ecsa-task-view.h"

#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>

static char *dir;
static EcsaConfig *config;
static EcsaDockerClient *docker;

static void
cleanup_dir(void)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL)
    {
      g_autofree char *p = g_build_filename(dir, name, NULL);
      g_unlink(p);
    }
}

static void
at_exit(void)
{
  cleanup_dir();
  g_rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(EcsaStateStore) store = NULL;
  g_autoptr(EcsaTaskEngine) engine = NULL;
  g_autoptr(GPtrArray) views = NULL;
  g_autoptr(GPtrArray) images = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  if (dir == NULL)
    {
      dir = g_dir_make_tmp("ecsa-fuzz-checkpoint-XXXXXX", NULL);
      config = ecsa_config_new();
      docker = ecsa_docker_client_new("unix:///nonexistent/docker.sock", NULL);
      atexit(at_exit);
    }
  cleanup_dir();
  path = g_build_filename(dir, ECSA_STATE_STORE_FILE, NULL);
  if (!g_file_set_contents(path, (const char *)data, (gssize)size, NULL))
    abort();
  store = ecsa_state_store_new(dir, TRUE);
  if (!ecsa_state_store_load(store, &error))
    {
      /* a refusal names the file and keeps it aside */
      if (error->message == NULL || g_file_test(path, G_FILE_TEST_EXISTS))
        abort();
    }
  engine = ecsa_task_engine_new(config, docker, store);
  ecsa_task_engine_restore(engine);
  views = ecsa_task_engine_list_task_views(engine);
  images = ecsa_task_engine_list_images(engine);
  for (guint i = 0; i < views->len; i++)
    {
      EcsaTaskView *v = views->pdata[i];
      g_autoptr(EcsaTaskView) again = ecsa_task_engine_get_task_view(engine, v->arn);
      if (again == NULL)
        abort();
    }
  return 0;
}
