/* test-state-store.c: the checkpoint file: durable writes off the main loop, coalescing, sections,
 * and refusal of corrupt and newer files.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-state-store.h"
#include "ecsa-plugin.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct
{
  char *dir;
  EcsaStateStore *store;
  guint serialize_calls;
  guint done;
  GError *error;
  int counter;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = ecsa_test_mkdtemp();
  fx->store = ecsa_state_store_new(fx->dir, TRUE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_object(&fx->store);
  g_clear_error(&fx->error);
  ecsa_test_rmdir_recursive(fx->dir);
  g_free(fx->dir);
}

static JsonNode *
counter_section(gpointer user_data)
{
  Fixture *fx = user_data;
  JsonNode *n = json_node_new(JSON_NODE_VALUE);

  fx->serialize_calls++;
  json_node_set_int(n, fx->counter);
  return n;
}

static JsonNode *
agent_section(gpointer user_data)
{
  return json_from_string("{\"containerInstanceArn\":\"arn:aws:ecs:r:1:container-instance/x\"}", NULL);
}

static void
save_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_state_store_save_finish(ECSA_STATE_STORE(source), result, &error) && fx->error == NULL)
    fx->error = g_steal_pointer(&error);
  fx->done++;
}

static gboolean
all_done(Fixture *fx, guint n)
{
  return fx->done >= n;
}

static gboolean
guard_cb(gpointer user_data)
{
  g_error("test guard timeout: saves did not complete in 30 s");
  return G_SOURCE_REMOVE;
}

static void
wait_done(Fixture *fx, guint n)
{
  g_autoptr(GSource) guard = g_timeout_source_new_seconds(30);

  g_source_set_callback(guard, guard_cb, NULL, NULL);
  g_source_attach(guard, NULL);
  while (!all_done(fx, n))
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(guard);
}

static char *
read_file(Fixture *fx)
{
  char *contents = NULL;

  g_assert_true(g_file_get_contents(ecsa_state_store_get_path(fx->store), &contents, NULL, NULL));
  return contents;
}

static void
test_fresh_start(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sub = g_build_filename(fx->dir, "nested", "data", NULL);
  g_autoptr(EcsaStateStore) store = ecsa_state_store_new(sub, TRUE);
  struct stat st;

  g_assert_true(ecsa_state_store_load(fx->store, &error));
  g_assert_no_error(error);
  g_assert_null(ecsa_state_store_get_section(fx->store, "tasks"));
  /* the data directory is created, private */
  g_assert_true(ecsa_state_store_load(store, &error));
  g_assert_cmpint(g_stat(sub, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
}

static void
test_save_and_load(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateStore) again = NULL;
  g_autofree char *contents = NULL;
  JsonNode *n;
  struct stat st;
  guint64 writes = 0, on_main = 1;
  gint64 last = -1, max = -1;

  g_assert_true(ecsa_state_store_load(fx->store, &error));
  fx->counter = 42;
  ecsa_state_store_register_section(fx->store, "tasks", counter_section, fx);
  ecsa_state_store_register_section(fx->store, "agent", agent_section, NULL);
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  /* nothing happens synchronously: the snapshot is taken from the loop */
  g_assert_cmpuint(fx->serialize_calls, ==, 0);
  wait_done(fx, 1);
  g_assert_no_error(fx->error);
  g_assert_cmpint(g_stat(ecsa_state_store_get_path(fx->store), &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  contents = read_file(fx);
  g_assert_nonnull(strstr(contents, "\"version\":1"));
  ecsa_state_store_get_stats(fx->store, &writes, &last, &max, &on_main);
  g_assert_cmpuint(writes, ==, 1);
  g_assert_cmpint(last, >=, 0);
  g_assert_cmpint(max, >=, last);
  g_assert_cmpuint(on_main, ==, 0); /* the write ran in a worker thread */

  again = ecsa_state_store_new(fx->dir, TRUE);
  g_assert_true(ecsa_state_store_load(again, &error));
  g_assert_no_error(error);
  n = ecsa_state_store_get_section(again, "tasks");
  g_assert_nonnull(n);
  g_assert_cmpint(json_node_get_int(n), ==, 42);
  n = ecsa_state_store_get_section(again, "agent");
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(n), "containerInstanceArn"), ==,
                  "arn:aws:ecs:r:1:container-instance/x");
}

/* Many requests in one dispatch make one write; requests during a write make one more. */
static void
test_coalescing(Fixture *fx, gconstpointer data)
{
  guint64 writes = 0;
  g_autoptr(EcsaStateStore) again = ecsa_state_store_new(fx->dir, TRUE);
  g_autoptr(GError) error = NULL;

  ecsa_state_store_register_section(fx->store, "tasks", counter_section, fx);
  for (int i = 0; i < 100; i++)
    {
      fx->counter = i;
      ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
    }
  wait_done(fx, 100);
  g_assert_no_error(fx->error);
  ecsa_state_store_get_stats(fx->store, &writes, NULL, NULL, NULL);
  g_assert_cmpuint(writes, ==, 1);
  g_assert_cmpuint(fx->serialize_calls, ==, 1);

  /* a burst while a write is in flight: at most one more write serves all of it, and the last
   * state requested is what lands */
  fx->done = 0;
  fx->serialize_calls = 0;
  fx->counter = 1000;
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  while (fx->serialize_calls == 0)
    g_main_context_iteration(NULL, TRUE);
  for (int i = 0; i < 50; i++)
    {
      fx->counter = 2000 + i;
      ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
    }
  wait_done(fx, 51);
  ecsa_state_store_get_stats(fx->store, &writes, NULL, NULL, NULL);
  g_assert_cmpuint(writes, <=, 3);
  g_assert_cmpuint(fx->serialize_calls, <=, 2);
  g_assert_true(ecsa_state_store_load(again, &error));
  g_assert_cmpint(json_node_get_int(ecsa_state_store_get_section(again, "tasks")), ==, 2049);
}

static void
write_raw(Fixture *fx, const char *contents)
{
  g_assert_true(g_file_set_contents(ecsa_state_store_get_path(fx->store), contents, -1, NULL));
}

static guint
count_prefix(const char *dir, const char *prefix)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, prefix))
      n++;
  return n;
}

static void
test_corrupt(Fixture *fx, gconstpointer data)
{
  const char *bad[] = { "{\"version\":1,\"sections\":{\"tasks\":[1,2",
                        "",
                        "[]",
                        "{\"sections\":{}}",
                        "{\"version\":1}",
                        "{\"version\":0,\"sections\":{}}" };

  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EcsaStateStore) store = ecsa_state_store_new(fx->dir, TRUE);

      write_raw(fx, bad[i]);
      g_assert_false(ecsa_state_store_load(store, &error));
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull(strstr(error->message, "refused"));
      g_assert_nonnull(strstr(error->message, ecsa_state_store_get_path(store)));
      g_assert_nonnull(strstr(error->message, ".corrupt-"));
      g_assert_null(ecsa_state_store_get_section(store, "tasks"));
      /* the refused file is kept, not overwritten */
      g_assert_false(g_file_test(ecsa_state_store_get_path(store), G_FILE_TEST_EXISTS));
    }
  g_assert_cmpuint(count_prefix(fx->dir, ECSA_STATE_STORE_FILE ".corrupt-"), >=, 1);
}

static void
test_newer_version(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateStore) store = ecsa_state_store_new(fx->dir, TRUE);
  g_autofree char *aside = NULL;
  g_autofree char *contents = NULL;
  const char *newer = "{\"version\":9,\"writer\":\"ecs-agent 9.0\",\"sections\":{\"tasks\":{\"future\":true}}}";

  write_raw(fx, newer);
  g_assert_false(ecsa_state_store_load(store, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull(
    strstr(error->message, "written by ecs-agent 9.0 with schema version 9, newer than this agent reads (1)"));
  g_assert_null(ecsa_state_store_get_section(store, "tasks"));
  g_assert_cmpuint(count_prefix(fx->dir, ECSA_STATE_STORE_FILE ".newer-v9-"), ==, 1);
  /* the newer file survives intact beside the new checkpoint */
  {
    g_autoptr(GDir) d = g_dir_open(fx->dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
      if (g_str_has_prefix(name, ECSA_STATE_STORE_FILE ".newer-v9-"))
        aside = g_build_filename(fx->dir, name, NULL);
  }
  g_assert_true(g_file_get_contents(aside, &contents, NULL, NULL));
  g_assert_cmpstr(contents, ==, newer);
}

/* Sections nobody registered (a module not wired in this build) are written back unchanged. */
static void
test_unknown_sections_kept(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateStore) again = ecsa_state_store_new(fx->dir, TRUE);

  write_raw(fx, "{\"version\":1,\"sections\":{\"images\":{\"keep\":\"me\"},\"tasks\":{\"old\":true}}}");
  g_assert_true(ecsa_state_store_load(fx->store, &error));
  fx->counter = 5;
  g_assert_nonnull(ecsa_state_store_get_section(fx->store, "tasks"));
  ecsa_state_store_register_section(fx->store, "tasks", counter_section, fx);
  /* the owner has the section now: the restored tree is not kept; the unowned one is */
  g_assert_null(ecsa_state_store_get_section(fx->store, "tasks"));
  g_assert_nonnull(ecsa_state_store_get_section(fx->store, "images"));
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  wait_done(fx, 1);
  g_assert_true(ecsa_state_store_load(again, &error));
  g_assert_cmpstr(
    json_object_get_string_member(json_node_get_object(ecsa_state_store_get_section(again, "images")), "keep"), ==,
    "me");
  g_assert_cmpint(json_node_get_int(ecsa_state_store_get_section(again, "tasks")), ==, 5);
}

static GBytes *
text_section(gpointer user_data)
{
  Fixture *fx = user_data;
  char *text;

  fx->serialize_calls++;
  /* escapes and a non-ASCII character pass through as they are */
  text = g_strdup_printf("{\"tasks\":[{\"n\":%d},{\"name\":\"a \\\"q\\\" \\u00e9 \u00e8\"}]}", fx->counter);
  return g_bytes_new_take(text, strlen(text));
}

/* A section kept as JSON text is written as it is, beside tree sections and restored ones, and
 * reads back as the same JSON. */
static void
test_text_section(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateStore) again = ecsa_state_store_new(fx->dir, TRUE);
  g_autofree char *contents = NULL;
  JsonNode *n;
  JsonArray *a;

  write_raw(fx, "{\"version\":1,\"sections\":{\"images\":{\"keep\":\"me\"},\"tasks\":{\"old\":true}}}");
  g_assert_true(ecsa_state_store_load(fx->store, &error));
  fx->counter = 7;
  ecsa_state_store_register_text_section(fx->store, "tasks", text_section, fx);
  g_assert_null(ecsa_state_store_get_section(fx->store, "tasks"));
  ecsa_state_store_register_section(fx->store, "agent", agent_section, NULL);
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  wait_done(fx, 1);
  g_assert_no_error(fx->error);
  g_assert_cmpuint(fx->serialize_calls, ==, 1);
  contents = read_file(fx);
  g_assert_nonnull(strstr(contents, "\"version\":1"));
  g_assert_nonnull(strstr(contents, "\"tasks\":{\"tasks\":[{\"n\":7},"));

  g_assert_true(ecsa_state_store_load(again, &error));
  g_assert_no_error(error);
  n = ecsa_state_store_get_section(again, "tasks");
  g_assert_nonnull(n);
  a = json_object_get_array_member(json_node_get_object(n), "tasks");
  g_assert_cmpuint(json_array_get_length(a), ==, 2);
  g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(a, 0), "n"), ==, 7);
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(a, 1), "name"), ==,
                  "a \"q\" \u00e9 \u00e8");
  g_assert_cmpstr(
    json_object_get_string_member(json_node_get_object(ecsa_state_store_get_section(again, "images")), "keep"), ==,
    "me");
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(ecsa_state_store_get_section(again, "agent")),
                                                "containerInstanceArn"),
                  ==, "arn:aws:ecs:r:1:container-instance/x");
}

static void
test_stale_temp_removed(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_build_filename(fx->dir, "." ECSA_STATE_STORE_FILE ".tmp-ABCDEF", NULL);

  g_assert_true(g_file_set_contents(tmp, "{\"half\":", -1, NULL));
  g_assert_true(ecsa_state_store_load(fx->store, &error));
  g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
}

static void
test_disabled(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateStore) store = ecsa_state_store_new(fx->dir, FALSE);

  write_raw(fx, "{\"version\":1,\"sections\":{\"tasks\":1}}");
  g_assert_true(ecsa_state_store_load(store, &error));
  g_assert_null(ecsa_state_store_get_section(store, "tasks"));
  g_assert_false(ecsa_state_store_get_enabled(store));
  ecsa_state_store_register_section(store, "tasks", counter_section, fx);
  ecsa_state_store_save_async(store, NULL, save_done_cb, fx);
  wait_done(fx, 1);
  g_assert_no_error(fx->error);
  g_assert_cmpuint(fx->serialize_calls, ==, 0);
}

static void
test_write_error(Fixture *fx, gconstpointer data)
{
  g_autofree char *file = g_build_filename(fx->dir, "not-a-dir", NULL);
  g_autoptr(EcsaStateStore) store = NULL;

  /* a data directory that is a regular file cannot hold the checkpoint */
  g_assert_true(g_file_set_contents(file, "x", -1, NULL));
  store = ecsa_state_store_new(file, TRUE);
  ecsa_state_store_register_section(store, "tasks", counter_section, fx);
  ecsa_state_store_save_async(store, NULL, save_done_cb, fx);
  wait_done(fx, 1);
  g_assert_error(fx->error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_nonnull(strstr(fx->error->message, "saving checkpoint"));
  g_assert_nonnull(strstr(fx->error->message, file));
}

/* A composed section: three fragments ("a", "b", "c") and the text each should have. */
typedef struct
{
  Fixture *fx;
  const char *keys[4];
  const char *texts[4];
  gboolean changed[4]; /* give the text even when the store keeps it */
  guint kept_answers;  /* append_kept() that returned TRUE */
  guint given;         /* texts given */
} Composed;

static void
compose_cb(EcsaStateStoreComposer *c, gpointer user_data)
{
  Composed *cs = user_data;

  cs->fx->serialize_calls++;
  ecsa_state_store_composer_append(c, "{\"items\":[", -1);
  for (guint i = 0; cs->keys[i] != NULL; i++)
    {
      if (i > 0)
        ecsa_state_store_composer_append(c, ",", 1);
      if (!cs->changed[i] && ecsa_state_store_composer_append_kept(c, cs->keys[i]))
        cs->kept_answers++;
      else
        {
          g_autoptr(GBytes) b = g_bytes_new_static(cs->texts[i], strlen(cs->texts[i]));
          ecsa_state_store_composer_append_fragment(c, cs->keys[i], b);
          cs->given++;
          cs->changed[i] = FALSE;
        }
    }
  ecsa_state_store_composer_append(c, "]}", 2);
}

static void
save_and_wait(Fixture *fx)
{
  guint before = fx->done;

  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  wait_done(fx, before + 1);
  g_assert_no_error(fx->error);
}

/* The section as the file holds it now, as compact JSON text. */
static char *
saved_section_text(Fixture *fx, const char *name)
{
  g_autoptr(EcsaStateStore) again = ecsa_state_store_new(fx->dir, TRUE);
  g_autoptr(GError) error = NULL;
  JsonNode *n;

  g_assert_true(ecsa_state_store_load(again, &error));
  g_assert_no_error(error);
  n = ecsa_state_store_get_section(again, name);
  g_assert_nonnull(n);
  return json_to_string(n, FALSE);
}

static void
assert_fragments(Fixture *fx, guint n, gsize bytes_in_memory)
{
  guint got_n = 0;
  gsize got_bytes = 0;

  ecsa_state_store_get_fragment_stats(fx->store, &got_n, &got_bytes);
  g_assert_cmpuint(got_n, ==, n);
  g_assert_cmpuint(got_bytes, ==, bytes_in_memory);
}

static void
composed_setup(Fixture *fx, Composed *cs)
{
  *cs = (Composed){ .fx = fx,
                    .keys = { "a", "b", "c", NULL },
                    .texts = { "{\"n\":\"a1\"}", "{\"n\":\"b1\",\"q\":\"\\\"\\u00e9\"}", "{\"n\":\"c1\"}", NULL } };
  ecsa_state_store_register_composed_section(fx->store, "items", compose_cb, cs);
  ecsa_state_store_register_section(fx->store, "agent", agent_section, NULL);
}

/* Once durable, a fragment's text is not kept in memory: the next write copies it from the file.
 * A changed fragment is written anew beside the copied ones; an unused key is forgotten. */
static void
test_composed_fragments(Fixture *fx, gconstpointer data)
{
  Composed cs;
  g_autofree char *first = NULL, *second = NULL, *third = NULL;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  g_assert_cmpuint(cs.given, ==, 3);
  assert_fragments(fx, 3, 0);
  first = saved_section_text(fx, "items");
  g_assert_cmpstr(first, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b1\",\"q\":\"\\\"\u00e9\"},{\"n\":\"c1\"}]}");

  /* b changes; a and c come from the file */
  cs.texts[1] = "{\"n\":\"b2\"}";
  cs.changed[1] = TRUE;
  save_and_wait(fx);
  g_assert_cmpuint(cs.kept_answers, ==, 2);
  g_assert_cmpuint(cs.given, ==, 4);
  assert_fragments(fx, 3, 0);
  second = saved_section_text(fx, "items");
  g_assert_cmpstr(second, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b2\"},{\"n\":\"c1\"}]}");

  /* a is gone, c moves first: copied from where the last write put them */
  cs.keys[0] = "c";
  cs.texts[0] = "{\"n\":\"c-not-given\"}";
  cs.keys[2] = NULL;
  save_and_wait(fx);
  g_assert_cmpuint(cs.kept_answers, ==, 4);
  g_assert_cmpuint(cs.given, ==, 4);
  assert_fragments(fx, 2, 0);
  third = saved_section_text(fx, "items");
  g_assert_cmpstr(third, ==, "{\"items\":[{\"n\":\"c1\"},{\"n\":\"b2\"}]}");
  g_free(saved_section_text(fx, "agent"));
}

/* The checkpoint replaced or edited behind the store's back: nothing is copied from it, the
 * section is composed again with every text, and the save succeeds. */
static void
check_file_changed(Fixture *fx, gboolean in_place)
{
  Composed cs;
  g_autofree char *path = g_build_filename(fx->dir, ECSA_STATE_STORE_FILE, NULL);
  g_autofree char *contents = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  char *at;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
  at = strstr(contents, "\"a1\"");
  g_assert_nonnull(at);
  at[2] = '9'; /* "a9": same size */
  if (in_place)
    {
      FILE *f = fopen(path, "r+");
      g_assert_nonnull(f);
      g_assert_cmpint(fseek(f, at + 2 - contents, SEEK_SET), ==, 0);
      g_assert_cmpint(fputc('9', f), ==, '9');
      g_assert_cmpint(fclose(f), ==, 0);
    }
  else
    g_assert_true(g_file_set_contents(path, contents, (gssize)len, NULL));

  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        in_place ? "*does not hold what the agent wrote*" : "*not the file the agent wrote last*");
  save_and_wait(fx);
  g_test_assert_expected_messages();
  g_assert_cmpuint(fx->serialize_calls, ==, 3);
  g_assert_cmpuint(cs.given, ==, 6);
  assert_fragments(fx, 3, 0);
  text = saved_section_text(fx, "items");
  g_assert_cmpstr(text, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b1\",\"q\":\"\\\"\u00e9\"},{\"n\":\"c1\"}]}");
}

static void
test_composed_file_replaced(Fixture *fx, gconstpointer data)
{
  check_file_changed(fx, FALSE);
}

static void
test_composed_file_edited(Fixture *fx, gconstpointer data)
{
  check_file_changed(fx, TRUE);
}

/* A failed write keeps the new texts until one succeeds; the file is untouched meanwhile. */
static void
test_composed_write_failed(Fixture *fx, gconstpointer data)
{
  Composed cs;
  g_autofree char *aside = g_strconcat(fx->dir, ".aside", NULL);
  g_autofree char *text = NULL;
  guint before;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  cs.texts[2] = "{\"n\":\"c2\"}";
  cs.changed[2] = TRUE;

  /* the data directory is a file for one save */
  g_assert_cmpint(g_rename(fx->dir, aside), ==, 0);
  g_assert_true(g_file_set_contents(fx->dir, "x", -1, NULL));
  before = fx->done;
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  wait_done(fx, before + 1);
  g_assert_error(fx->error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_clear_error(&fx->error);
  assert_fragments(fx, 3, strlen("{\"n\":\"c2\"}"));
  g_assert_cmpint(g_unlink(fx->dir), ==, 0);
  g_assert_cmpint(g_rename(aside, fx->dir), ==, 0);

  save_and_wait(fx);
  g_assert_cmpuint(cs.given, ==, 4); /* c2 was not asked for again */
  assert_fragments(fx, 3, 0);
  text = saved_section_text(fx, "items");
  g_assert_cmpstr(text, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b1\",\"q\":\"\\\"\u00e9\"},{\"n\":\"c2\"}]}");
}

/* A fragment changed while a write is in flight, and saves requested meanwhile: the next write
 * carries the new text, every request completes, and the file ends with the last texts. */
static void
test_composed_change_while_writing(Fixture *fx, gconstpointer data)
{
  Composed cs;
  guint before;
  g_autofree char *text = NULL, *again = NULL;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  before = fx->done;
  cs.texts[1] = "{\"n\":\"b2\"}";
  cs.changed[1] = TRUE;
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  while (fx->serialize_calls < 2)
    g_main_context_iteration(NULL, TRUE);
  /* the snapshot with b2 is taken; its write runs */
  cs.texts[2] = "{\"n\":\"c2-longer-than-before\"}";
  cs.changed[2] = TRUE;
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  wait_done(fx, before + 3);
  g_assert_no_error(fx->error);
  g_assert_cmpuint(fx->serialize_calls, ==, 3);
  g_assert_cmpuint(cs.given, ==, 5);
  assert_fragments(fx, 3, 0);
  text = saved_section_text(fx, "items");
  g_assert_cmpstr(text, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b2\"},{\"n\":\"c2-longer-than-before\"}]}");
  /* and once more, everything copied from where that write put it */
  save_and_wait(fx);
  g_assert_cmpuint(cs.given, ==, 5);
  again = saved_section_text(fx, "items");
  g_assert_cmpstr(again, ==, text);
}

/* Unregistered, the section's fragments are forgotten: registered again, it gives every text. */
static void
test_composed_unregistered(Fixture *fx, gconstpointer data)
{
  Composed cs;
  g_autofree char *text = NULL;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  ecsa_state_store_unregister_section(fx->store, "items");
  save_and_wait(fx);
  assert_fragments(fx, 0, 0);
  ecsa_state_store_register_composed_section(fx->store, "items", compose_cb, &cs);
  save_and_wait(fx);
  g_assert_cmpuint(cs.kept_answers, ==, 0);
  g_assert_cmpuint(cs.given, ==, 6);
  text = saved_section_text(fx, "items");
  g_assert_cmpstr(text, ==, "{\"items\":[{\"n\":\"a1\"},{\"n\":\"b1\",\"q\":\"\\\"\u00e9\"},{\"n\":\"c1\"}]}");
}

/* Replaced behind the store's back, with several requests waiting: all of them complete. */
static void
test_composed_stale_coalesced(Fixture *fx, gconstpointer data)
{
  Composed cs;
  g_autofree char *path = g_build_filename(fx->dir, ECSA_STATE_STORE_FILE, NULL);
  g_autofree char *text = NULL;
  guint before;

  composed_setup(fx, &cs);
  save_and_wait(fx);
  g_assert_true(g_file_set_contents(path, "{\"version\":1,\"sections\":{}}", -1, NULL));
  cs.texts[0] = "{\"n\":\"a2\"}";
  cs.changed[0] = TRUE;
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, "*not the file the agent wrote last*");
  before = fx->done;
  for (int i = 0; i < 3; i++)
    ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx);
  while (fx->serialize_calls < 2)
    g_main_context_iteration(NULL, TRUE);
  ecsa_state_store_save_async(fx->store, NULL, save_done_cb, fx); /* during the stale write */
  wait_done(fx, before + 4);
  g_test_assert_expected_messages();
  g_assert_no_error(fx->error);
  assert_fragments(fx, 3, 0);
  text = saved_section_text(fx, "items");
  g_assert_cmpstr(text, ==, "{\"items\":[{\"n\":\"a2\"},{\"n\":\"b1\",\"q\":\"\\\"\u00e9\"},{\"n\":\"c1\"}]}");
}

/* Many fragments, the file well past the write buffer: texts grow, shrink, go and come, and each
 * save's file holds exactly the texts of that round. */
typedef struct
{
  guint n;
  char **texts; /* NULL: no such key this round */
  gboolean *changed;
  guint given;
} Many;

static void
many_cb(EcsaStateStoreComposer *c, gpointer user_data)
{
  Many *m = user_data;
  gboolean first = TRUE;

  ecsa_state_store_composer_append(c, "[", 1);
  for (guint i = 0; i < m->n; i++)
    {
      g_autofree char *key = g_strdup_printf("k%u", i);
      if (m->texts[i] == NULL)
        continue;
      if (!first)
        ecsa_state_store_composer_append(c, ",", 1);
      first = FALSE;
      if (m->changed[i] || !ecsa_state_store_composer_append_kept(c, key))
        {
          g_autoptr(GBytes) b = g_bytes_new(m->texts[i], strlen(m->texts[i]));
          ecsa_state_store_composer_append_fragment(c, key, b);
          m->given++;
          m->changed[i] = FALSE;
        }
    }
  ecsa_state_store_composer_append(c, "]", 1);
}

static void
test_composed_many(Fixture *fx, gconstpointer data)
{
  Many m = { .n = 400 };

  m.texts = g_new0(char *, m.n);
  m.changed = g_new0(gboolean, m.n);
  ecsa_state_store_register_composed_section(fx->store, "items", many_cb, &m);
  ecsa_state_store_register_section(fx->store, "agent", agent_section, NULL);
  for (guint round = 0; round < 6; round++)
    {
      g_autoptr(GString) expected = g_string_new("[");
      g_autofree char *got = NULL;
      guint present = 0;

      for (guint i = 0; i < m.n; i++)
        {
          gboolean change = round == 0 || (i * 7 + round) % (round + 2) == 0;
          if (round > 0 && (i + round) % 13 == 0)
            {
              /* gone this round; back (given again) the next */
              g_clear_pointer(&m.texts[i], g_free);
              continue;
            }
          if (change || m.texts[i] == NULL)
            {
              g_autofree char *pad = g_strnfill((i * 31 + round * 17) % 1500 + 1, 'a' + (char)(round % 26));
              g_free(m.texts[i]);
              m.texts[i] = g_strdup_printf("{\"i\":%u,\"r\":%u,\"pad\":\"%s\"}", i, round, pad);
              m.changed[i] = TRUE;
            }
          if (present++ > 0)
            g_string_append_c(expected, ',');
          g_string_append(expected, m.texts[i]);
        }
      g_string_append_c(expected, ']');
      save_and_wait(fx);
      assert_fragments(fx, present, 0);
      got = saved_section_text(fx, "items");
      g_assert_cmpuint(strlen(got), ==, expected->len);
      g_assert_true(strcmp(got, expected->str) == 0);
    }
  for (guint i = 0; i < m.n; i++)
    g_free(m.texts[i]);
  g_free(m.texts);
  g_free(m.changed);
}

/* A key used twice in one compose (kept, then new): the new text is the one remembered. */
static int dup_round;

static void
dup_cb(EcsaStateStoreComposer *c, gpointer user_data)
{
  ecsa_state_store_composer_append(c, "[", 1);
  if (dup_round == 0)
    {
      g_autoptr(GBytes) b = g_bytes_new_static("\"old\"", 5);
      ecsa_state_store_composer_append_fragment(c, "k", b);
    }
  else if (dup_round == 1)
    {
      g_autoptr(GBytes) b = g_bytes_new_static("\"new\"", 5);
      g_assert_true(ecsa_state_store_composer_append_kept(c, "k"));
      ecsa_state_store_composer_append(c, ",", 1);
      ecsa_state_store_composer_append_fragment(c, "k", b);
    }
  else
    g_assert_true(ecsa_state_store_composer_append_kept(c, "k"));
  ecsa_state_store_composer_append(c, "]", 1);
}

static void
test_composed_duplicate_key(Fixture *fx, gconstpointer data)
{
  static const char *const expected[] = { "[\"old\"]", "[\"old\",\"new\"]", "[\"new\"]" };

  ecsa_state_store_register_composed_section(fx->store, "items", dup_cb, NULL);
  for (dup_round = 0; dup_round < 3; dup_round++)
    {
      g_autofree char *t = NULL;
      save_and_wait(fx);
      t = saved_section_text(fx, "items");
      g_assert_cmpstr(t, ==, expected[dup_round]);
    }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/state-store/fresh-start", test_fresh_start);
  ADD("/state-store/save-and-load", test_save_and_load);
  ADD("/state-store/coalescing", test_coalescing);
  ADD("/state-store/refused/corrupt", test_corrupt);
  ADD("/state-store/refused/newer-version", test_newer_version);
  ADD("/state-store/unknown-sections-kept", test_unknown_sections_kept);
  ADD("/state-store/text-section", test_text_section);
  ADD("/state-store/composed/fragments", test_composed_fragments);
  ADD("/state-store/composed/file-replaced", test_composed_file_replaced);
  ADD("/state-store/composed/file-edited", test_composed_file_edited);
  ADD("/state-store/composed/write-failed", test_composed_write_failed);
  ADD("/state-store/composed/change-while-writing", test_composed_change_while_writing);
  ADD("/state-store/composed/unregistered", test_composed_unregistered);
  ADD("/state-store/composed/stale-coalesced", test_composed_stale_coalesced);
  ADD("/state-store/composed/many", test_composed_many);
  ADD("/state-store/composed/duplicate-key", test_composed_duplicate_key);
  ADD("/state-store/stale-temp-removed", test_stale_temp_removed);
  ADD("/state-store/disabled", test_disabled);
  ADD("/state-store/write-error", test_write_error);
#undef ADD
  return g_test_run();
}
