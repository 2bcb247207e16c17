/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>

static gboolean
guard_timeout_cb (gpointer user_data)
{
  g_error ("test guard timeout: waited %u ms", GPOINTER_TO_UINT (user_data));
  return G_SOURCE_REMOVE;
}

void
ecsa_test_wait_for_flag (GMainContext *context, const gboolean *flag, guint timeout_ms)
{
  g_autoptr(GSource) guard = g_timeout_source_new (timeout_ms);

  g_source_set_callback (guard, guard_timeout_cb, GUINT_TO_POINTER (timeout_ms), NULL);
  g_source_attach (guard, context);
  while (!*flag)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (guard);
}

char *
ecsa_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("ecsa-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

void
ecsa_test_rmdir_recursive (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (path == NULL)
    return;
  dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            ecsa_test_rmdir_recursive (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

guint16
ecsa_test_free_port (void)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (sock);
  g_assert_true (g_socket_bind (sock, addr, FALSE, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}
