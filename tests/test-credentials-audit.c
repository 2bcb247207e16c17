/* test-credentials-audit.c: the credentials audit log (ECS_AUDIT_LOGFILE, ECS_AUDIT_LOGFILE_DISABLED):
 * v1.16.2's line format, escaping, rolling and the 24 kept files.
 * SPDX-License-Identifier: Apache-2.0 */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-log.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define TASK "arn:aws:ecs:us-west-2:123456789012:task/0b5c5a1e-1111-2222-3333-444444444444"
#define INSTANCE "arn:aws:ecs:us-west-2:123456789012:container-instance/7d1e2f3a-aaaa-bbbb-cccc-dddddddddddd"

static void
test_format(void)
{
  g_autoptr(EcsaAuditLog) audit = ecsa_audit_log_new(NULL, FALSE, "prod");
  g_autofree char *task_role = NULL;
  g_autofree char *exec_role = NULL;
  g_autofree char *refused = NULL;
  g_autofree char *hostile = NULL;
  g_autofree char *empty = NULL;

  ecsa_audit_log_set_container_instance_arn(audit, INSTANCE);
  /* 2017-11-27T20:00:00Z */
  task_role = ecsa_audit_log_format_line(audit, 1511812800, 200, "172.17.0.2:41234",
                                         "/v2/credentials/0d5b7c4e-aaaa-4c1b-9e3f-2a7d9c1e5f10", "aws-sdk-go/1.12.19",
                                         TASK, ECSA_CREDENTIALS_ROLE_TASK);
  g_assert_cmpstr(task_role, ==,
                  "2017-11-27T20:00:00Z 200 172.17.0.2:41234 \"/v2/credentials\" \"aws-sdk-go/1.12.19\" " TASK
                  " GetCredentials 2 prod " INSTANCE);
  exec_role = ecsa_audit_log_format_line(audit, 1511812800, 200, "127.0.0.1:5000", "/v1/credentials",
                                         "Go-http-client/1.1", TASK, ECSA_CREDENTIALS_ROLE_EXECUTION);
  g_assert_cmpstr(exec_role, ==,
                  "2017-11-27T20:00:00Z 200 127.0.0.1:5000 \"/v1/credentials\" \"Go-http-client/1.1\" " TASK
                  " GetCredentialsExecutionRole 2 prod " INSTANCE);
  /* an unknown ID: no ARN, the event type of the endpoint */
  refused
    = ecsa_audit_log_format_line(audit, 1511812800, 400, "172.17.0.3:1", "/v2/credentials/whatever", "", NULL, NULL);
  g_assert_cmpstr(refused, ==,
                  "2017-11-27T20:00:00Z 400 172.17.0.3:1 \"/v2/credentials\" \"\" - GetCredentials 2 prod " INSTANCE);
  /* a user agent cannot forge fields or lines */
  hostile = ecsa_audit_log_format_line(audit, 1511812800, 400, "172.17.0.3:1", "/v1/credentials",
                                       "x\" 200 1.2.3.4:5 \"/v1/credentials\n2017-11-27T20:00:00Z 200 \\", NULL, NULL);
  g_assert_cmpstr(
    hostile, ==,
    "2017-11-27T20:00:00Z 400 172.17.0.3:1 \"/v1/credentials\" "
    "\"x\\\" 200 1.2.3.4:5 \\\"/v1/credentials\\x0a2017-11-27T20:00:00Z 200 \\\\\" - GetCredentials 2 prod " INSTANCE);
  g_assert_null(strchr(hostile, '\n'));

  /* before registration: no instance ARN yet; an empty cluster */
  g_clear_object(&audit);
  audit = ecsa_audit_log_new(NULL, FALSE, "");
  empty = ecsa_audit_log_format_line(audit, 1511812800, 503, "", "/v2/credentials/x", "ua", TASK, "");
  g_assert_cmpstr(empty, ==, "2017-11-27T20:00:00Z 503 - \"/v2/credentials\" \"ua\" " TASK " GetCredentials 2 - -");
}

static char *
read_file(const char *path)
{
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents(path, &text, NULL, &error);
  g_assert_no_error(error);
  return text;
}

static void
test_write(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "nested", "log", "audit.log", NULL);
  g_autoptr(EcsaAuditLog) audit = ecsa_audit_log_new(path, FALSE, "prod");
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  GStatBuf st;

  ecsa_audit_log_set_container_instance_arn(audit, INSTANCE);
  for (guint i = 0; i < 100; i++)
    ecsa_audit_log_record(audit, i % 2 ? 200 : 400, "172.17.0.2:41234", "/v2/credentials/id", "sdk", TASK,
                          ECSA_CREDENTIALS_ROLE_TASK);
  ecsa_audit_log_flush(audit);
  g_assert_cmpuint(ecsa_audit_log_get_written(audit), ==, 100);
  g_assert_cmpuint(ecsa_audit_log_get_dropped(audit), ==, 0);

  /* in order, one per line, the directory created */
  text = read_file(path);
  lines = g_strsplit(g_strchomp(text), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 100);
  for (guint i = 0; i < 100; i++)
    g_assert_true(ecsa_test_contains(lines[i], i % 2 ? " 200 " : " 400 "));
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0644);

  g_clear_object(&audit);
  ecsa_test_rmdir_recursive(dir);
}

static void
test_disabled(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "audit.log", NULL);
  g_autoptr(EcsaAuditLog) disabled = ecsa_audit_log_new(path, TRUE, "prod");
  g_autoptr(EcsaAuditLog) no_path = ecsa_audit_log_new("", FALSE, "prod");

  ecsa_audit_log_record(disabled, 200, "1.2.3.4:5", "/v1/credentials", "", TASK, ECSA_CREDENTIALS_ROLE_TASK);
  ecsa_audit_log_record(no_path, 200, "1.2.3.4:5", "/v1/credentials", "", TASK, ECSA_CREDENTIALS_ROLE_TASK);
  ecsa_audit_log_flush(disabled);
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint(ecsa_audit_log_get_written(disabled), ==, 0);
  g_assert_cmpuint(ecsa_audit_log_get_dropped(disabled), ==, 1);
  g_assert_cmpuint(ecsa_audit_log_get_dropped(no_path), ==, 1);
  ecsa_test_rmdir_recursive(dir);
}

static char *
hour_key(gint64 unix_seconds)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(unix_seconds);

  return g_date_time_format(t, "%Y-%m-%d-%H");
}

/* A file left from an earlier hour is rolled to <path>.<its hour>; only the newest 24 rolls stay. */
static void
test_roll(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "audit.log", NULL);
  gint64 two_hours_ago = g_get_real_time() / G_USEC_PER_SEC - 2 * 3600;
  g_autofree char *old_key = hour_key(two_hours_ago);
  g_autofree char *rolled = g_strdup_printf("%s.%s", path, old_key);
  g_autoptr(EcsaAuditLog) audit = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *rolled_text = NULL;
  g_autofree char *current = NULL;
  g_autoptr(GDir) listing = NULL;
  struct utimbuf times = { .actime = (time_t)two_hours_ago, .modtime = (time_t)two_hours_ago };
  const char *name;
  guint rolls = 0;

  /* 30 rolls from 2020 and an unrelated file */
  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *old = g_strdup_printf("%s.2020-01-%02u-%02u", path, 1 + i / 24, i % 24);
      g_file_set_contents(old, "old\n", -1, &error);
      g_assert_no_error(error);
    }
  {
    g_autofree char *other = g_build_filename(dir, "audit.log.keep-me", NULL);
    g_file_set_contents(other, "mine\n", -1, &error);
    g_assert_no_error(error);
  }
  g_file_set_contents(path, "line from the previous run\n", -1, &error);
  g_assert_no_error(error);
  g_assert_cmpint(utime(path, &times), ==, 0);

  audit = ecsa_audit_log_new(path, FALSE, "prod");
  ecsa_audit_log_record(audit, 200, "1.2.3.4:5", "/v1/credentials", "", TASK, ECSA_CREDENTIALS_ROLE_TASK);
  ecsa_audit_log_flush(audit);

  rolled_text = read_file(rolled);
  g_assert_cmpstr(rolled_text, ==, "line from the previous run\n");
  current = read_file(path);
  g_assert_true(g_str_has_suffix(current, " GetCredentials 2 prod -\n"));
  g_assert_null(strstr(current, "previous run"));

  listing = g_dir_open(dir, 0, NULL);
  while ((name = g_dir_read_name(listing)) != NULL)
    if (g_str_has_prefix(name, "audit.log.2"))
      rolls++;
  g_assert_cmpuint(rolls, ==, ECSA_AUDIT_LOG_MAX_ROLLS);
  /* the oldest went, the newest (just rolled) stayed, the unrelated file too */
  {
    g_autofree char *oldest = g_strdup_printf("%s.2020-01-01-00", path);
    g_autofree char *other = g_build_filename(dir, "audit.log.keep-me", NULL);
    g_assert_false(g_file_test(oldest, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(rolled, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
  }

  g_clear_object(&audit);
  ecsa_test_rmdir_recursive(dir);
}

/* A path that cannot be written: lines are counted as dropped, one warning, nothing else breaks. */
static void
test_unwritable(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *blocker = g_build_filename(dir, "file", NULL);
  g_autofree char *path = g_build_filename(blocker, "audit.log", NULL);
  g_autoptr(EcsaAuditLog) audit = NULL;
  g_autoptr(GError) error = NULL;

  g_file_set_contents(blocker, "not a directory", -1, &error);
  g_assert_no_error(error);
  audit = ecsa_audit_log_new(path, FALSE, "prod");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, "audit log: cannot create directory*");
  for (guint i = 0; i < 3; i++)
    ecsa_audit_log_record(audit, 200, "1.2.3.4:5", "/v1/credentials", "", TASK, ECSA_CREDENTIALS_ROLE_TASK);
  ecsa_audit_log_flush(audit);
  g_test_assert_expected_messages();
  g_assert_cmpuint(ecsa_audit_log_get_written(audit), ==, 0);
  g_assert_cmpuint(ecsa_audit_log_get_dropped(audit), ==, 3);
  g_clear_object(&audit);
  ecsa_test_rmdir_recursive(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func("/credentials-audit/format", test_format);
  g_test_add_func("/credentials-audit/write", test_write);
  g_test_add_func("/credentials-audit/disabled", test_disabled);
  g_test_add_func("/credentials-audit/roll", test_roll);
  g_test_add_func("/credentials-audit/unwritable", test_unwritable);
  return g_test_run();
}
