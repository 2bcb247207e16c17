/* fuzz-engine-auth-data.c: ECS_ENGINE_AUTH_DATA as the docker and dockercfg auth plugins parse it
 * (plugins/common/ecsa-docker-auth.c), then registry matching for a few images. The first byte
 * picks the format. Invariants: no crash or leak; credentials always carry a username and a
 * password; an error never quotes the data's secrets (the canary "hunter2").
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-auth.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Registry names are not secrets and are quoted ("registry '<name>'"): look past them. */
static void
check_no_canary (const char *message)
{
  g_autoptr(GString) rest = g_string_new (NULL);
  const char *p = message;

  while (*p != '\0')
    {
      const char *q = strstr (p, "registry '");
      const char *end;

      if (q == NULL)
        {
          g_string_append (rest, p);
          break;
        }
      g_string_append_len (rest, p, q - p);
      end = strstr (q + strlen ("registry '"), "': ");
      if (end == NULL)
        end = strstr (q + strlen ("registry '"), "' ");
      if (end == NULL)
        break;
      p = end + 1;
    }
  if (strstr (rest->str, "hunter2") != NULL)
    g_error ("a message quotes a secret: %s", message);
}

static void
warn_cb (const char *message, gpointer user_data)
{
  check_no_canary (message);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const images[] = {
    "busybox", "docker.io/library/busybox:1", "index.docker.io/a/b", "registry.tld/team/app:1",
    "registry.tld/team", "localhost:5000/x@sha256:00", "REGISTRY.TLD/x", "a.b:1/c", "", ":", "/", "@",
  };
  g_autoptr(EcsaDockerAuthMap) map = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *type;
  guint i;

  if (size == 0)
    return 0;
  type = (data[0] & 1) ? "dockercfg" : "docker";
  text = g_strndup ((const char *) data + 1, size - 1);
  map = ecsa_docker_auth_map_parse (type, text, warn_cb, NULL, &error);
  if (map == NULL)
    {
      g_assert_nonnull (error);
      check_no_canary (error->message);
      return 0;
    }
  g_assert_null (error);
  for (i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autoptr(EcsaRegistryCredentials) c = ecsa_docker_auth_map_lookup (map, images[i]);
      g_autofree char *registry = ecsa_docker_auth_image_registry (images[i]);

      g_assert_nonnull (registry);
      if (c != NULL)
        {
          g_assert_nonnull (c->username);
          g_assert_nonnull (c->password);
          g_assert_nonnull (c->server_address);
        }
    }
  return 0;
}
