/* test-agent.c: the agent's life cycle without the network: stop requests and exit codes, holds
 * that shutdown waits for, its upper bound, a failing start-up step, and the exit-code mapping of
 * errors. (A full start and SIGTERM of the binary: test-main.)
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-agent.h"

#include "ecsa-log.h"
#include "ecsa-test-utils.h"

typedef struct
{
  gboolean done;
  int exit_code;
} RunResult;

static GPtrArray *lines;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_ptr_array_add(lines, g_strdup(line));
}

static gboolean
captured(const char *a, const char *b)
{
  for (guint i = 0; i < lines->len; i++)
    if (strstr(g_ptr_array_index(lines, i), a) != NULL && (b == NULL || strstr(g_ptr_array_index(lines, i), b)))
      return TRUE;
  return FALSE;
}

static void
run_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunResult *r = user_data;

  r->exit_code = ecsa_agent_run_finish(ECSA_AGENT(source), result);
  r->done = TRUE;
}

static void
drain(void)
{
  while (g_main_context_pending(NULL))
    g_main_context_iteration(NULL, FALSE);
}

static EcsaAgent *
new_agent(const char *region)
{
  EcsaConfig *config = ecsa_config_new();

  config->aws_region = g_strdup(region);
  config->blackhole_ec2_metadata = TRUE; /* never 169.254.169.254 from a test */
  g_ptr_array_set_size(lines, 0);
  return ecsa_agent_new(config);
}

static void
test_stop_exit_code(void)
{
  const int codes[] = { ECSA_EXIT_SUCCESS, ECSA_EXIT_ERROR, ECSA_EXIT_TERMINAL, ECSA_EXIT_UPDATE };

  for (gsize i = 0; i < G_N_ELEMENTS(codes); i++)
    {
      g_autoptr(EcsaAgent) agent = new_agent("us-west-2");
      RunResult r = { 0 };

      ecsa_agent_stop(agent, codes[i], "test");
      g_assert_true(g_cancellable_is_cancelled(ecsa_agent_get_cancellable(agent)));
      ecsa_agent_run_async(agent, run_done_cb, &r);
      ecsa_test_wait_for_flag(NULL, &r.done, 5000);
      g_assert_cmpint(r.exit_code, ==, codes[i]);
      g_assert_false(ecsa_agent_is_running(agent));
    }
}

static void
test_first_stop_wins(void)
{
  g_autoptr(EcsaAgent) agent = new_agent("us-west-2");
  RunResult r = { 0 };

  ecsa_agent_hold(agent, "acs-session");
  ecsa_agent_stop(agent, ECSA_EXIT_UPDATE, "update staged");
  ecsa_agent_stop(agent, ECSA_EXIT_SUCCESS, "received SIGTERM");
  ecsa_agent_run_async(agent, run_done_cb, &r);
  ecsa_agent_release(agent, "acs-session");
  ecsa_test_wait_for_flag(NULL, &r.done, 5000);
  g_assert_cmpint(r.exit_code, ==, ECSA_EXIT_UPDATE);
  g_assert_true(captured("[INFO] already shutting down, ignoring: received SIGTERM", NULL));
}

static void
test_holds(void)
{
  g_autoptr(EcsaAgent) agent = new_agent("us-west-2");
  RunResult r = { 0 };

  ecsa_agent_hold(agent, "engine");
  ecsa_agent_hold(agent, "engine"); /* counted */
  ecsa_agent_hold(agent, "introspection-server");
  ecsa_agent_stop(agent, ECSA_EXIT_SUCCESS, "received SIGTERM");
  ecsa_agent_run_async(agent, run_done_cb, &r);
  drain();
  g_assert_false(r.done);
  ecsa_agent_release(agent, "engine");
  drain();
  g_assert_false(r.done);
  ecsa_agent_release(agent, "introspection-server");
  drain();
  g_assert_false(r.done);
  ecsa_agent_release(agent, "engine");
  ecsa_test_wait_for_flag(NULL, &r.done, 5000);
  g_assert_cmpint(r.exit_code, ==, ECSA_EXIT_SUCCESS);
  g_assert_true(captured("[INFO] ecs-agent stopped (exit code 0)", NULL));
}

static void
test_shutdown_upper_bound(void)
{
  g_autoptr(EcsaAgent) agent = new_agent("us-west-2");
  RunResult r = { 0 };
  gint64 t0;

  ecsa_agent_set_shutdown_timeout(agent, 300);
  ecsa_agent_hold(agent, "stuck-part");
  t0 = g_get_monotonic_time();
  ecsa_agent_stop(agent, ECSA_EXIT_SUCCESS, "received SIGTERM");
  ecsa_agent_run_async(agent, run_done_cb, &r);
  ecsa_test_wait_for_flag(NULL, &r.done, 5000);
  g_assert_cmpint((g_get_monotonic_time() - t0) / 1000, >=, 290);
  /* a part that does not finish is named, and the agent must not be restarted blindly */
  g_assert_cmpint(r.exit_code, ==, ECSA_EXIT_TERMINAL);
  g_assert_true(captured("[CRITICAL] shutdown timed out after 300 ms", "'stuck-part'"));
  ecsa_agent_release(agent, "stuck-part"); /* late: harmless */
}

static void
test_missing_region(void)
{
  g_autoptr(EcsaAgent) agent = new_agent(NULL);
  RunResult r = { 0 };

  ecsa_agent_run_async(agent, run_done_cb, &r);
  ecsa_test_wait_for_flag(NULL, &r.done, 5000);
  g_assert_cmpint(r.exit_code, ==, ECSA_EXIT_ERROR);
  g_assert_true(captured("[CRITICAL] start-up step 'region' failed", "AWSRegion"));
  g_assert_false(captured("started", NULL));
}

static void
test_exit_code_for_error(void)
{
  g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  g_autoptr(GError) terminal = g_error_new_literal(ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL, "cluster mismatch");
  g_autoptr(GError) other = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "docker ping timed out");

  g_assert_cmpint(ecsa_exit_code_for_error(NULL), ==, 0);
  g_assert_cmpint(ecsa_exit_code_for_error(cancelled), ==, 0);
  g_assert_cmpint(ecsa_exit_code_for_error(terminal), ==, 5);
  g_assert_cmpint(ecsa_exit_code_for_error(other), ==, 1);
  /* the values init systems and ecs-init act on */
  g_assert_cmpint(ECSA_EXIT_SUCCESS, ==, 0);
  g_assert_cmpint(ECSA_EXIT_ERROR, ==, 1);
  g_assert_cmpint(ECSA_EXIT_TERMINAL, ==, 5);
  g_assert_cmpint(ECSA_EXIT_UPDATE, ==, 42);
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO);
  lines = g_ptr_array_new_with_free_func(g_free);
  ecsa_log_set_capture(capture_cb, NULL);

  g_test_add_func("/agent/stop/exit-code", test_stop_exit_code);
  g_test_add_func("/agent/stop/first-wins", test_first_stop_wins);
  g_test_add_func("/agent/stop/holds", test_holds);
  g_test_add_func("/agent/stop/upper-bound", test_shutdown_upper_bound);
  g_test_add_func("/agent/start/missing-region", test_missing_region);
  g_test_add_func("/agent/exit-code-for-error", test_exit_code_for_error);

  rc = g_test_run();
  ecsa_log_shutdown();
  g_ptr_array_unref(lines);
  return rc;
}
