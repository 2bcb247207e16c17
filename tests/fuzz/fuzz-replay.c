/* fuzz-replay.c: run a libFuzzer harness (LLVMFuzzerTestOneInput) over corpus files without
 * libFuzzer, so every build replays the corpus as a plain test. Arguments: files or directories.
 * SPDX-License-Identifier: Apache-2.0 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents(path, &data, &len, &error))
    {
      fprintf(stderr, "fuzz-replay: %s\n", error->message);
      return 1;
    }
  LLVMFuzzerTestOneInput((const uint8_t *)data, len);
  return 0;
}

int
main(int argc, char **argv)
{
  guint n = 0;

  for (int i = 1; i < argc; i++)
    {
      if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &error);
          const char *name;

          if (dir == NULL)
            {
              fprintf(stderr, "fuzz-replay: %s\n", error->message);
              return 1;
            }
          while ((name = g_dir_read_name(dir)) != NULL)
            {
              g_autofree char *path = g_build_filename(argv[i], name, NULL);
              if (replay_file(path) != 0)
                return 1;
              n++;
            }
        }
      else
        {
          if (replay_file(argv[i]) != 0)
            return 1;
          n++;
        }
    }
  if (n == 0)
    {
      fprintf(stderr, "fuzz-replay: no inputs\n");
      return 1;
    }
  printf("replayed %u inputs\n", n);
  return 0;
}
