/* ecsa-test-iam.h: helpers for the credentials and introspection tests.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "ecsa-task-view-source.h"

G_BEGIN_DECLS

/* A table of tasks the servers read through EcsaTaskViewSource, standing in for the task engine. */
typedef struct _EcsaTestTasks EcsaTestTasks;

EcsaTestTasks *ecsa_test_tasks_new(void);
void ecsa_test_tasks_free(EcsaTestTasks *tasks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTestTasks, ecsa_test_tasks_free)
void ecsa_test_tasks_add(EcsaTestTasks *tasks, const char *arn, const char *family, const char *version,
                         const char *network_mode, const char *known_status, const char *desired_status);
void ecsa_test_tasks_set_credentials(EcsaTestTasks *tasks, const char *arn, const char *credentials_id,
                                     const char *execution_credentials_id);
void ecsa_test_tasks_add_container(EcsaTestTasks *tasks, const char *arn, const char *name, const char *docker_id,
                                   const char *docker_name, int pid);
void ecsa_test_tasks_remove(EcsaTestTasks *tasks, const char *arn);
const EcsaTaskViewSource *ecsa_test_tasks_source(EcsaTestTasks *tasks);

/* One HTTP request through libsoup, iterating the default main context (the servers under test run
 * there too) until it completes or timeout_ms passes (then the test fails). */
typedef struct
{
  guint status;
  char *content_type; /* NULL when absent */
  char *location;     /* NULL when absent */
  char *body;         /* NUL-terminated */
  gsize body_len;
} EcsaTestHttpResult;

EcsaTestHttpResult *ecsa_test_http_request(const char *method, const char *url, const char *user_agent,
                                           guint timeout_ms);
void ecsa_test_http_result_free(EcsaTestHttpResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTestHttpResult, ecsa_test_http_result_free)

/* A raw HTTP/1.0 exchange over TCP (for request lines libsoup's client would not send). Returns
 * everything the server wrote before closing. */
char *ecsa_test_http_raw(guint16 port, const char *request, guint timeout_ms);

/* Run argv (argv[0] looked up in PATH) while iterating the default main context; fails the test
 * after timeout_ms. Returns the exit status (-1 when killed by a signal); stdout and stderr when
 * asked for. */
int ecsa_test_spawn(const char *const *argv, const char *stdin_text, guint timeout_ms, char **out_stdout,
                    char **out_stderr);

/* A long-running helper child: no stdin, stdout or stderr (so a crashed test never leaves a process
 * holding meson's pipes), killed with SIGKILL when the test process dies. */
GSubprocess *ecsa_test_spawn_child(const char *const *argv, GError **error);
/* Children of this launcher get SIGKILL when the test process dies. */
void ecsa_test_launcher_die_with_parent(GSubprocessLauncher *launcher);

/* Like ecsa_test_spawn, but the exit status must be 0 (else the test fails with stderr). Returns
 * stdout with trailing whitespace removed. */
char *ecsa_test_spawn_ok(const char *const *argv, guint timeout_ms);

/* The ACS IAMRoleCredentials JSON object of a test credential set: credentialsId `id`, keys derived
 * from `seed` (recognisable, unique and long enough for the log's redaction). */
char *ecsa_test_iam_credentials_json(const char *id, const char *seed);

/* Iterate the default main context until *counter reaches target; fail the test after timeout_ms. */
void ecsa_test_wait_for_count(const guint *counter, guint target, guint timeout_ms);

/* Write `text` to an existing file in place (procfs, sysfs); fails the test on error. */
void ecsa_test_write_file(const char *path, const char *text);

/* Ports 51678/51679 and the host-wide 169.254.170.2 rules are shared by every test run on the machine:
 * hold /tmp/ecsa-fixed-ports.lock (flock) while using them. Waits at most timeout_ms (then fails the
 * test). Returns the lock's fd for ecsa_test_unlock_fixed_ports(). */
#define ECSA_TEST_FIXED_PORTS_LOCK "/tmp/ecsa-fixed-ports.lock"
int ecsa_test_lock_fixed_ports(guint timeout_ms);
void ecsa_test_unlock_fixed_ports(int fd);

/* TRUE when `haystack` (may be NULL) contains `needle`. */
gboolean ecsa_test_contains(const char *haystack, const char *needle);

/* The path of the tools/ecs-iptables script of this source tree. */
char *ecsa_test_ecs_iptables_path(void);

/* Delete the iptables filter rules (169.254.169.254 guards) that test runs which died before their
 * teardown left behind: comment "ecsa-t<pid>-<suffix>" with no process <pid> left. */
void ecsa_test_iam_reap_guards(const char *suffix);

G_END_DECLS
