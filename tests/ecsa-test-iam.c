/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-iam.h"

#include <libsoup/soup.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>

#include "ecsa-test-utils.h"

/* ---- the task table ------------------------------------------------------------------------- */

typedef struct
{
  char *name;
  char *docker_id;
  char *docker_name;
  int pid;
} TestContainer;

typedef struct
{
  char *arn, *family, *version, *network_mode, *known_status, *desired_status;
  char *credentials_id, *execution_credentials_id;
  GPtrArray *containers; /* TestContainer* */
} TestTask;

struct _EcsaTestTasks
{
  GPtrArray *tasks; /* TestTask*, in insertion order */
  EcsaTaskViewSource source;
};

static void
test_container_free(TestContainer *c)
{
  g_free(c->name);
  g_free(c->docker_id);
  g_free(c->docker_name);
  g_free(c);
}

static void
test_task_free(TestTask *t)
{
  g_free(t->arn);
  g_free(t->family);
  g_free(t->version);
  g_free(t->network_mode);
  g_free(t->known_status);
  g_free(t->desired_status);
  g_free(t->credentials_id);
  g_free(t->execution_credentials_id);
  g_ptr_array_unref(t->containers);
  g_free(t);
}

static TestTask *
find_task(EcsaTestTasks *tasks, const char *arn)
{
  for (guint i = 0; i < tasks->tasks->len; i++)
    {
      TestTask *t = g_ptr_array_index(tasks->tasks, i);
      if (g_strcmp0(t->arn, arn) == 0)
        return t;
    }
  return NULL;
}

static TestTask *
find_task_or_die(EcsaTestTasks *tasks, const char *arn)
{
  TestTask *t = find_task(tasks, arn);

  if (t == NULL)
    g_error("test task '%s' is not in the table", arn);
  return t;
}

static void
view_free(EcsaTaskView *view)
{
  if (view == NULL)
    return;
  for (guint i = 0; i < view->n_containers; i++)
    {
      EcsaContainerView *c = (EcsaContainerView *)view->containers[i];
      g_free((char *)c->name);
      g_free((char *)c->image);
      g_free((char *)c->docker_id);
      g_free((char *)c->docker_name);
      g_free((char *)c->known_status);
      g_free((char *)c->desired_status);
      g_free((char *)c->log_driver);
      g_hash_table_unref(c->log_options);
      g_free(c);
    }
  g_free((gpointer)view->containers);
  g_free((char *)view->arn);
  g_free((char *)view->family);
  g_free((char *)view->version);
  g_free((char *)view->network_mode);
  g_free((char *)view->known_status);
  g_free((char *)view->desired_status);
  g_free((char *)view->credentials_id);
  g_free((char *)view->execution_credentials_id);
  g_free(view);
}

static EcsaTaskView *
view_new(const TestTask *t)
{
  EcsaTaskView *view = g_new0(EcsaTaskView, 1);
  EcsaContainerView **containers = g_new0(EcsaContainerView *, t->containers->len + 1);

  view->struct_size = sizeof(EcsaTaskView);
  view->n_containers = t->containers->len;
  view->arn = g_strdup(t->arn);
  view->family = g_strdup(t->family);
  view->version = g_strdup(t->version);
  view->network_mode = g_strdup(t->network_mode);
  view->known_status = g_strdup(t->known_status);
  view->desired_status = g_strdup(t->desired_status);
  view->credentials_id = g_strdup(t->credentials_id);
  view->execution_credentials_id = g_strdup(t->execution_credentials_id);
  for (guint i = 0; i < t->containers->len; i++)
    {
      const TestContainer *tc = g_ptr_array_index(t->containers, i);
      EcsaContainerView *c = g_new0(EcsaContainerView, 1);

      c->struct_size = sizeof(EcsaContainerView);
      c->essential = TRUE;
      c->name = g_strdup(tc->name);
      c->image = g_strdup("ecsa-test/busybox:latest");
      c->docker_id = g_strdup(tc->docker_id);
      c->docker_name = g_strdup(tc->docker_name);
      c->known_status = g_strdup(tc->pid > 0 ? "RUNNING" : "CREATED");
      c->desired_status = g_strdup("RUNNING");
      c->log_driver = g_strdup("");
      c->log_options = g_hash_table_new(g_str_hash, g_str_equal);
      c->pid = tc->pid;
      containers[i] = c;
    }
  view->containers = (const EcsaContainerView *const *)containers;
  return view;
}

static GPtrArray *
source_list(gpointer user_data)
{
  EcsaTestTasks *tasks = user_data;
  GPtrArray *views = g_ptr_array_new_with_free_func((GDestroyNotify)view_free);

  for (guint i = 0; i < tasks->tasks->len; i++)
    g_ptr_array_add(views, view_new(g_ptr_array_index(tasks->tasks, i)));
  return views;
}

static EcsaTaskView *
source_lookup(gpointer user_data, const char *arn)
{
  TestTask *t = find_task(user_data, arn);

  return t != NULL ? view_new(t) : NULL;
}

static EcsaTaskView *
source_lookup_by_docker_id(gpointer user_data, const char *docker_id)
{
  EcsaTestTasks *tasks = user_data;

  for (guint i = 0; i < tasks->tasks->len; i++)
    {
      TestTask *t = g_ptr_array_index(tasks->tasks, i);
      for (guint j = 0; j < t->containers->len; j++)
        {
          TestContainer *c = g_ptr_array_index(t->containers, j);
          if (*c->docker_id != '\0' && strcmp(c->docker_id, docker_id) == 0)
            return view_new(t);
        }
    }
  return NULL;
}

EcsaTestTasks *
ecsa_test_tasks_new(void)
{
  EcsaTestTasks *tasks = g_new0(EcsaTestTasks, 1);

  tasks->tasks = g_ptr_array_new_with_free_func((GDestroyNotify)test_task_free);
  tasks->source.list = source_list;
  tasks->source.lookup = source_lookup;
  tasks->source.lookup_by_docker_id = source_lookup_by_docker_id;
  tasks->source.free_view = view_free;
  tasks->source.user_data = tasks;
  return tasks;
}

void
ecsa_test_tasks_free(EcsaTestTasks *tasks)
{
  if (tasks == NULL)
    return;
  g_ptr_array_unref(tasks->tasks);
  g_free(tasks);
}

void
ecsa_test_tasks_add(EcsaTestTasks *tasks, const char *arn, const char *family, const char *version,
                    const char *network_mode, const char *known_status, const char *desired_status)
{
  TestTask *t = g_new0(TestTask, 1);

  g_assert_null(find_task(tasks, arn));
  t->arn = g_strdup(arn);
  t->family = g_strdup(family);
  t->version = g_strdup(version);
  t->network_mode = g_strdup(network_mode);
  t->known_status = g_strdup(known_status);
  t->desired_status = g_strdup(desired_status);
  t->credentials_id = g_strdup("");
  t->execution_credentials_id = g_strdup("");
  t->containers = g_ptr_array_new_with_free_func((GDestroyNotify)test_container_free);
  g_ptr_array_add(tasks->tasks, t);
}

void
ecsa_test_tasks_set_credentials(EcsaTestTasks *tasks, const char *arn, const char *credentials_id,
                                const char *execution_credentials_id)
{
  TestTask *t = find_task_or_die(tasks, arn);

  g_free(t->credentials_id);
  t->credentials_id = g_strdup(credentials_id != NULL ? credentials_id : "");
  g_free(t->execution_credentials_id);
  t->execution_credentials_id = g_strdup(execution_credentials_id != NULL ? execution_credentials_id : "");
}

void
ecsa_test_tasks_add_container(EcsaTestTasks *tasks, const char *arn, const char *name, const char *docker_id,
                              const char *docker_name, int pid)
{
  TestTask *t = find_task_or_die(tasks, arn);
  TestContainer *c = g_new0(TestContainer, 1);

  c->name = g_strdup(name);
  c->docker_id = g_strdup(docker_id != NULL ? docker_id : "");
  c->docker_name = g_strdup(docker_name != NULL ? docker_name : "");
  c->pid = pid;
  g_ptr_array_add(t->containers, c);
}

void
ecsa_test_tasks_remove(EcsaTestTasks *tasks, const char *arn)
{
  TestTask *t = find_task(tasks, arn);

  if (t != NULL)
    g_ptr_array_remove(tasks->tasks, t);
}

const EcsaTaskViewSource *
ecsa_test_tasks_source(EcsaTestTasks *tasks)
{
  return &tasks->source;
}

/* ---- HTTP ------------------------------------------------------------------------------------- */

typedef struct
{
  gboolean done;
  GBytes *body;
  GError *error;
} HttpWait;

static void
http_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  HttpWait *wait = user_data;

  wait->body = soup_session_send_and_read_finish(SOUP_SESSION(source), result, &wait->error);
  wait->done = TRUE;
}

EcsaTestHttpResult *
ecsa_test_http_request(const char *method, const char *url, const char *user_agent, guint timeout_ms)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options("proxy-resolver", NULL, "timeout", 0, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new(method, url);
  EcsaTestHttpResult *result;
  SoupMessageHeaders *headers;
  HttpWait wait = { 0 };
  gsize len = 0;
  const char *data;

  g_assert_nonnull(msg);
  /* redirects are part of what the tests check */
  soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
  if (user_agent != NULL)
    soup_session_set_user_agent(session, user_agent);
  soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, http_ready_cb, &wait);
  ecsa_test_wait_for_flag(NULL, &wait.done, timeout_ms);
  g_assert_no_error(wait.error);

  result = g_new0(EcsaTestHttpResult, 1);
  headers = soup_message_get_response_headers(msg);
  result->status = soup_message_get_status(msg);
  result->content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
  result->location = g_strdup(soup_message_headers_get_one(headers, "Location"));
  data = g_bytes_get_data(wait.body, &len);
  result->body = g_strndup(data != NULL ? data : "", len);
  result->body_len = len;
  g_bytes_unref(wait.body);
  return result;
}

void
ecsa_test_http_result_free(EcsaTestHttpResult *result)
{
  if (result == NULL)
    return;
  g_free(result->content_type);
  g_free(result->location);
  g_free(result->body);
  g_free(result);
}

typedef struct
{
  gboolean done;
  GString *out;
  GSocketConnection *connection;
  GError *error;
  char buffer[4096];
} RawWait;

static void raw_read_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static void
raw_read_next(RawWait *wait)
{
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(wait->connection));

  g_input_stream_read_async(in, wait->buffer, sizeof wait->buffer, G_PRIORITY_DEFAULT, NULL, raw_read_cb, wait);
}

static void
raw_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RawWait *wait = user_data;
  gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &wait->error);

  if (n <= 0)
    {
      wait->done = TRUE;
      return;
    }
  g_string_append_len(wait->out, wait->buffer, n);
  raw_read_next(wait);
}

static void
raw_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RawWait *wait = user_data;

  if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &wait->error))
    {
      wait->done = TRUE;
      return;
    }
  raw_read_next(wait);
}

static void
raw_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RawWait *wait = user_data;
  const char *request = g_object_get_data(source, "request");

  wait->connection = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &wait->error);
  if (wait->connection == NULL)
    {
      wait->done = TRUE;
      return;
    }
  g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(wait->connection)), request,
                                  strlen(request), G_PRIORITY_DEFAULT, NULL, raw_written_cb, wait);
}

char *
ecsa_test_http_raw(guint16 port, const char *request, guint timeout_ms)
{
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_autoptr(GSocketConnectable) address = g_network_address_new("127.0.0.1", port);
  RawWait wait = { 0 };

  wait.out = g_string_new(NULL);
  g_object_set_data_full(G_OBJECT(client), "request", g_strdup(request), g_free);
  g_socket_client_connect_async(client, address, NULL, raw_connected_cb, &wait);
  ecsa_test_wait_for_flag(NULL, &wait.done, timeout_ms);
  g_assert_no_error(wait.error);
  g_clear_object(&wait.connection);
  return g_string_free(wait.out, FALSE);
}

/* ---- subprocesses ----------------------------------------------------------------------------- */

typedef struct
{
  gboolean done;
  GBytes *out;
  GBytes *err;
  GError *error;
} SpawnWait;

static void
spawn_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpawnWait *wait = user_data;

  g_subprocess_communicate_finish(G_SUBPROCESS(source), result, &wait->out, &wait->err, &wait->error);
  wait->done = TRUE;
}

static gboolean
spawn_timeout_cb(gpointer user_data)
{
  g_subprocess_force_exit(user_data);
  return G_SOURCE_REMOVE;
}

static char *
bytes_to_string(GBytes *bytes)
{
  gsize len = 0;
  const char *data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

  return data != NULL ? g_strndup(data, len) : g_strdup("");
}

int
ecsa_test_spawn(const char *const *argv, const char *stdin_text, guint timeout_ms, char **out_stdout, char **out_stderr)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GBytes) input = stdin_text != NULL ? g_bytes_new(stdin_text, strlen(stdin_text)) : NULL;
  g_autoptr(GSource) timer = NULL;
  SpawnWait wait = { 0 };
  int status;

  proc = g_subprocess_newv(argv,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE
                             | (stdin_text != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0),
                           &error);
  g_assert_no_error(error);
  timer = g_timeout_source_new(timeout_ms);
  g_source_set_callback(timer, spawn_timeout_cb, proc, NULL);
  g_source_attach(timer, NULL);
  g_subprocess_communicate_async(proc, input, NULL, spawn_ready_cb, &wait);
  /* the guard is a little longer, so a hung child is reported by the kill above */
  ecsa_test_wait_for_flag(NULL, &wait.done, timeout_ms + 10000);
  g_source_destroy(timer);
  g_assert_no_error(wait.error);
  if (!wait.done)
    g_assert_not_reached();
  g_subprocess_wait(proc, NULL, NULL);
  status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
  if (out_stdout != NULL)
    *out_stdout = bytes_to_string(wait.out);
  if (out_stderr != NULL)
    *out_stderr = bytes_to_string(wait.err);
  g_bytes_unref(wait.out);
  g_bytes_unref(wait.err);
  return status;
}

static void
die_with_parent(gpointer user_data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void
ecsa_test_launcher_die_with_parent(GSubprocessLauncher *launcher)
{
  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
}

GSubprocess *
ecsa_test_spawn_child(const char *const *argv, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher
    = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);

  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
  return g_subprocess_launcher_spawnv(launcher, argv, error);
}

char *
ecsa_test_spawn_ok(const char *const *argv, guint timeout_ms)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
  int status = ecsa_test_spawn(argv, NULL, timeout_ms, &out, &err);

  if (status != 0)
    g_error("'%s' exited with %d: %s%s", cmd, status, err, out);
  return g_strchomp(g_steal_pointer(&out));
}

/* ---- misc ------------------------------------------------------------------------------------- */

static gboolean
count_guard_cb(gpointer user_data)
{
  g_error("test guard timeout: waited %u ms for a count", GPOINTER_TO_UINT(user_data));
  return G_SOURCE_REMOVE;
}

void
ecsa_test_wait_for_count(const guint *counter, guint target, guint timeout_ms)
{
  g_autoptr(GSource) guard = g_timeout_source_new(timeout_ms);

  g_source_set_callback(guard, count_guard_cb, GUINT_TO_POINTER(timeout_ms), NULL);
  g_source_attach(guard, NULL);
  while (*counter < target)
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(guard);
}

char *
ecsa_test_iam_credentials_json(const char *id, const char *seed)
{
  g_autofree char *upper = g_ascii_strup(seed, -1);

  return g_strdup_printf("{\"credentialsId\":\"%s\",\"roleArn\":\"arn:aws:iam::123456789012:role/%s\","
                         "\"accessKeyId\":\"ASIATEST%sKEYID\",\"secretAccessKey\":\"secret-%s-Xk9pQ2vL7mN4wR8tY1zB\","
                         "\"sessionToken\":\"token-%s-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\","
                         "\"expiration\":\"2030-01-02T03:04:05Z\"}",
                         id, seed, upper, seed, seed);
}

static void
lock_alarm(int signum)
{
}

int
ecsa_test_lock_fixed_ports(guint timeout_ms)
{
  struct sigaction action = { .sa_handler = lock_alarm }, old;
  int fd = open(ECSA_TEST_FIXED_PORTS_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  int rc;

  if (fd < 0)
    g_error("cannot open %s: %s", ECSA_TEST_FIXED_PORTS_LOCK, g_strerror(errno));
  /* a blocking flock, interrupted by an alarm when it takes too long */
  sigaction(SIGALRM, &action, &old);
  alarm(MAX(timeout_ms / 1000, 1));
  rc = flock(fd, LOCK_EX);
  alarm(0);
  sigaction(SIGALRM, &old, NULL);
  if (rc != 0)
    g_error("waited %u ms for %s (another test uses the fixed ports): %s", timeout_ms, ECSA_TEST_FIXED_PORTS_LOCK,
            g_strerror(errno));
  return fd;
}

void
ecsa_test_unlock_fixed_ports(int fd)
{
  if (fd >= 0)
    close(fd); /* releases the flock */
}

void
ecsa_test_write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
    g_error("cannot write '%s' to %s: %s", text, path, g_strerror(errno));
}

gboolean
ecsa_test_contains(const char *haystack, const char *needle)
{
  return haystack != NULL && strstr(haystack, needle) != NULL;
}

char *
ecsa_test_ecs_iptables_path(void)
{
  const char *root = g_getenv("ECSA_SOURCE_ROOT");

  g_assert_nonnull(root);
  return g_build_filename(root, "tools", "ecs-iptables", NULL);
}

void
ecsa_test_iam_reap_guards(const char *suffix)
{
  const char *save[] = { "iptables-save", "-t", "filter", NULL };
  g_autofree char *rules = ecsa_test_spawn_ok(save, 30000);
  g_auto(GStrv) lines = g_strsplit(rules, "\n", -1);
  g_autofree char *tail = g_strconcat("-", suffix, " ", NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *comment = strstr(lines[i], "--comment ecsa-t");
      g_auto(GStrv) words = NULL;
      guint64 pid;
      char *end;

      if (!g_str_has_prefix(lines[i], "-A ") || comment == NULL || strstr(comment, tail) == NULL)
        continue;
      pid = g_ascii_strtoull(comment + strlen("--comment ecsa-t"), &end, 10);
      if (pid == 0 || *end != '-' || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        continue; /* a run still alive (or not ours) */
      /* the same rule with -D: iptables-save prints it as it was added */
      words = g_strsplit(lines[i] + 3, " ", -1);
      {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_ptr_array_add(argv, (gpointer) "iptables");
        g_ptr_array_add(argv, (gpointer) "-w");
        g_ptr_array_add(argv, (gpointer) "10");
        g_ptr_array_add(argv, (gpointer) "-D");
        for (guint j = 0; words[j] != NULL; j++)
          if (*words[j] != '\0')
            g_ptr_array_add(argv, words[j]);
        g_ptr_array_add(argv, NULL);
        if (ecsa_test_spawn((const char *const *)argv->pdata, NULL, 30000, NULL, NULL) == 0)
          g_test_message("removed a crashed run's rule: %s", lines[i]);
      }
    }
}
