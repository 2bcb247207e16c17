/* test-credentials-netns.c: fifty tasks with their own credentials never see each other's.
 *
 * Each task is a network namespace wired to a private bridge by a veth pair, as Docker's bridge mode
 * wires a container (fifty real containers take Docker about a minute here; the namespaces take a
 * second and exercise the same kernel paths). A process inside each namespace dials
 * 169.254.170.2:80, DNATed to the endpoint by a rule scoped to the test's bridge (with route_localnet
 * on that bridge only), so the test needs no fixed port and can run next to others. Every task gets
 * its own credentials and is refused its neighbour's; the audit log records all hundred answers;
 * nothing secret reaches a log.
 * SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-credentials-server.h"
#include "ecsa-log.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define N_TASKS 50
#define TIMEOUT_MS 60000

typedef struct
{
  char *netns;
  char *host_veth;
  char *ip;
  char *arn;
  char *credentials_id;
  char *seed;
  int sleeper;     /* the namespace's process (not our child: a shell started it) */
  char *docker_id; /* a stand-in container ID for the task view */
} Sandbox;

typedef struct
{
  char *prefix; /* ecsa-t<pid>-iam */
  char *bridge;
  int subnet_a, subnet_b; /* 198.<a>.<b>.0/24 */
  char *dnat_rule;
  Sandbox boxes[N_TASKS];
  char *dir;
  char *audit_path;
  EcsaCredentialsManager *manager;
  EcsaAuditLog *audit;
  EcsaTestTasks *tasks;
  EcsaCredentialsServer *server;
  GString *log;
  gboolean iptables_added;
} Fixture;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_string_append(user_data, line);
  g_string_append_c(user_data, '\n');
}

static void
run(const char *const *argv)
{
  g_free(ecsa_test_spawn_ok(argv, TIMEOUT_MS));
}

static void
run_ip_batch(const char *commands)
{
  const char *argv[] = { "ip", "-batch", "-", NULL };
  g_autofree char *err = NULL;
  int status = ecsa_test_spawn(argv, commands, TIMEOUT_MS, NULL, &err);

  if (status != 0)
    g_error("ip -batch failed (%d): %s\n%s", status, err, commands);
}

/* A /24 in 198.18.0.0/15 (benchmarking space) that no interface or route of this host uses yet. */
static void
pick_subnet(Fixture *fx)
{
  g_autofree char *routes = NULL;
  const char *argv[] = { "ip", "-4", "route", "show", "table", "all", NULL };

  routes = ecsa_test_spawn_ok(argv, TIMEOUT_MS);
  for (guint i = 0; i < 512; i++)
    {
      guint idx = ((guint)getpid() + i) % 512;
      g_autofree char *net = g_strdup_printf("198.%u.%u.", 18 + idx / 256, idx % 256);

      if (!ecsa_test_contains(routes, net))
        {
          fx->subnet_a = 18 + (int)(idx / 256);
          fx->subnet_b = (int)(idx % 256);
          return;
        }
    }
  g_error("no free /24 in 198.18.0.0/15");
}

/* What an earlier run of this test left behind when it crashed (its pid is gone). */
static void
reap_stale(void)
{
  const char *netns_list[] = { "ip", "netns", "list", NULL };
  const char *links[] = { "ip", "-o", "link", "show", NULL };
  const char *rules[] = { "iptables", "-w", "10", "-t", "nat", "-S", "PREROUTING", NULL };
  g_autofree char *ns = ecsa_test_spawn_ok(netns_list, TIMEOUT_MS);
  g_autofree char *ls = ecsa_test_spawn_ok(links, TIMEOUT_MS);
  g_autofree char *rs = ecsa_test_spawn_ok(rules, TIMEOUT_MS);
  g_autoptr(GString) batch = g_string_new(NULL);
  g_auto(GStrv) ns_lines = g_strsplit(ns, "\n", -1);
  g_auto(GStrv) link_lines = g_strsplit(ls, "\n", -1);
  g_auto(GStrv) rule_lines = g_strsplit(rs, "\n", -1);
  g_autoptr(GRegex) bridge_re = g_regex_new("^\\d+: ei(\\d+)b:", 0, 0, NULL);
  int pid;
  char name[64];

  for (guint i = 0; ns_lines[i] != NULL; i++)
    if (sscanf(ns_lines[i], "ecsa-t%d-iam-%63s", &pid, name) == 2 && kill(pid, 0) != 0)
      {
        g_auto(GStrv) w = g_strsplit(ns_lines[i], " ", 2);
        const char *pids_argv[] = { "ip", "netns", "pids", w[0], NULL };
        g_autofree char *pids = ecsa_test_spawn_ok(pids_argv, TIMEOUT_MS);
        g_auto(GStrv) pid_list = g_strsplit(pids, "\n", -1);

        for (guint j = 0; pid_list[j] != NULL; j++)
          if (atoi(pid_list[j]) > 0)
            kill(atoi(pid_list[j]), SIGKILL);
        g_string_append_printf(batch, "netns del %s\n", w[0]);
      }
  for (guint i = 0; link_lines[i] != NULL; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      if (g_regex_match(bridge_re, link_lines[i], 0, &match))
        {
          g_autofree char *number = g_match_info_fetch(match, 1);
          pid = atoi(number);
          if (kill(pid, 0) != 0)
            g_string_append_printf(batch, "link del ei%db\n", pid);
        }
    }
  if (batch->len > 0)
    run_ip_batch(batch->str);
  for (guint i = 0; rule_lines[i] != NULL; i++)
    {
      const char *c = strstr(rule_lines[i], "--comment ecsa-t");
      if (c != NULL && sscanf(c, "--comment ecsa-t%d-iam", &pid) == 1 && kill(pid, 0) != 0
          && g_str_has_prefix(rule_lines[i], "-A "))
        {
          g_autofree char *cmd = g_strdup_printf("iptables -w 10 -t nat -D %s", rule_lines[i] + 3);
          const char *argv[] = { "sh", "-c", cmd, NULL };
          run(argv);
        }
    }
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) host_batch = g_string_new(NULL);
  g_autofree char *sysctl = NULL;
  guint16 port;
  g_autoptr(GString) script = g_string_new("set -e\n");
  const char *sh[] = { "sh", "-c", NULL, NULL };
  g_autofree char *pids = NULL;
  g_auto(GStrv) pid_lines = NULL;
  int pid = getpid();

  g_assert_cmpuint(getuid(), ==, 0);
  fx->log = g_string_new(NULL);
  ecsa_log_set_capture(capture_cb, fx->log);
  ecsa_log_set_level(ECSA_LOG_DEBUG);
  reap_stale();

  fx->prefix = g_strdup_printf("ecsa-t%d-iam", pid);
  fx->bridge = g_strdup_printf("ei%db", pid);
  pick_subnet(fx);

  /* the agent's side */
  fx->dir = ecsa_test_mkdtemp();
  fx->audit_path = g_build_filename(fx->dir, "audit.log", NULL);
  fx->manager = ecsa_credentials_manager_new();
  fx->audit = ecsa_audit_log_new(fx->audit_path, FALSE, "ecsa-netns-cluster");
  fx->tasks = ecsa_test_tasks_new();
  fx->server = ecsa_credentials_server_new(fx->manager, fx->audit, ecsa_test_tasks_source(fx->tasks), FALSE);
  g_assert_true(ecsa_credentials_server_listen(fx->server, 0, &error));
  g_assert_no_error(error);
  port = ecsa_credentials_server_get_port(fx->server);

  /* the bridge, the redirect for it, and fifty namespaces */
  g_string_append_printf(host_batch, "link add %s type bridge\naddr add 198.%d.%d.1/24 dev %s\nlink set %s up\n",
                         fx->bridge, fx->subnet_a, fx->subnet_b, fx->bridge, fx->bridge);
  for (guint i = 0; i < N_TASKS; i++)
    {
      Sandbox *b = &fx->boxes[i];

      b->netns = g_strdup_printf("%s-%u", fx->prefix, i);
      b->host_veth = g_strdup_printf("ei%dh%u", pid, i);
      b->ip = g_strdup_printf("198.%d.%d.%u", fx->subnet_a, fx->subnet_b, i + 10);
      g_string_append_printf(host_batch,
                             "netns add %s\nlink add %s type veth peer name eth0 netns %s\n"
                             "link set %s master %s\nlink set %s up\n",
                             b->netns, b->host_veth, b->netns, b->host_veth, fx->bridge, b->host_veth);
    }
  run_ip_batch(host_batch->str);

  sysctl = g_strdup_printf("/proc/sys/net/ipv4/conf/%s/route_localnet", fx->bridge);
  ecsa_test_write_file(sysctl, "1");
  fx->dnat_rule = g_strdup_printf("%u", port);
  {
    g_autofree char *to = g_strdup_printf("127.0.0.1:%u", port);
    const char *argv[] = { "iptables",
                           "-w",
                           "10",
                           "-t",
                           "nat",
                           "-I",
                           "PREROUTING",
                           "1",
                           "-i",
                           fx->bridge,
                           "-d",
                           "169.254.170.2",
                           "-p",
                           "tcp",
                           "--dport",
                           "80",
                           "-m",
                           "comment",
                           "--comment",
                           fx->prefix,
                           "-j",
                           "DNAT",
                           "--to-destination",
                           to,
                           NULL };
    run(argv);
    fx->iptables_added = TRUE;
  }

  /* one shell configures every namespace and starts its "container" process (spawning a hundred
   * processes from the test itself costs seconds on a loaded machine) */
  for (guint i = 0; i < N_TASKS; i++)
    {
      const Sandbox *b = &fx->boxes[i];
      g_string_append_printf(script,
                             "ip -n %s -batch - <<'EOF'\nlink set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n"
                             "route add 169.254.170.2/32 via 198.%d.%d.1\nEOF\n"
                             "nsenter --net=/run/netns/%s busybox sleep 600 </dev/null >/dev/null 2>&1 &\n"
                             "echo \"%u $!\"\n",
                             b->netns, b->ip, fx->subnet_a, fx->subnet_b, b->netns, i);
    }
  sh[2] = script->str;
  pids = ecsa_test_spawn_ok(sh, TIMEOUT_MS);
  pid_lines = g_strsplit(pids, "\n", -1);
  g_assert_cmpuint(g_strv_length(pid_lines), ==, N_TASKS);

  for (guint i = 0; i < N_TASKS; i++)
    {
      Sandbox *b = &fx->boxes[i];
      g_autofree char *json = NULL;
      g_autoptr(JsonParser) parser = json_parser_new();
      guint index;
      int sleeper;

      g_assert_cmpint(sscanf(pid_lines[i], "%u %d", &index, &sleeper), ==, 2);
      g_assert_cmpuint(index, ==, i);
      b->sleeper = sleeper;

      /* the task, its "container" (the namespace's process) and its credentials */
      b->arn = g_strdup_printf("arn:aws:ecs:us-west-2:123456789012:task/%s-%02u", fx->prefix, i);
      b->credentials_id = g_uuid_string_random();
      b->seed = g_strdup_printf("t%02uq%08x", i, g_random_int());
      b->docker_id = g_strdup_printf("%064x", i + 1);
      ecsa_test_tasks_add(fx->tasks, b->arn, "netns-family", "1", "bridge", "RUNNING", "RUNNING");
      ecsa_test_tasks_set_credentials(fx->tasks, b->arn, b->credentials_id, NULL);
      ecsa_test_tasks_add_container(fx->tasks, b->arn, "app", b->docker_id, b->netns, b->sleeper);
      json = ecsa_test_iam_credentials_json(b->credentials_id, b->seed);
      json_parser_load_from_data(parser, json, -1, &error);
      g_assert_no_error(error);
      g_assert_true(ecsa_credentials_manager_set_from_acs(
        fx->manager, json_node_get_object(json_parser_get_root(parser)), b->arn, ECSA_CREDENTIALS_ROLE_TASK, &error));
      g_assert_no_error(error);
    }
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_autoptr(GString) host_batch = g_string_new(NULL);

  for (guint i = 0; i < N_TASKS; i++)
    {
      Sandbox *b = &fx->boxes[i];

      if (b->sleeper > 0)
        kill(b->sleeper, SIGKILL);
      if (b->netns != NULL)
        g_string_append_printf(host_batch, "netns del %s\n", b->netns);
      g_free(b->netns);
      g_free(b->host_veth);
      g_free(b->ip);
      g_free(b->arn);
      g_free(b->credentials_id);
      g_free(b->seed);
      g_free(b->docker_id);
    }
  g_string_append_printf(host_batch, "link del %s\n", fx->bridge);
  run_ip_batch(host_batch->str);
  if (fx->iptables_added)
    {
      g_autofree char *to = g_strdup_printf("127.0.0.1:%s", fx->dnat_rule);
      const char *argv[] = { "iptables",
                             "-w",
                             "10",
                             "-t",
                             "nat",
                             "-D",
                             "PREROUTING",
                             "-i",
                             fx->bridge,
                             "-d",
                             "169.254.170.2",
                             "-p",
                             "tcp",
                             "--dport",
                             "80",
                             "-m",
                             "comment",
                             "--comment",
                             fx->prefix,
                             "-j",
                             "DNAT",
                             "--to-destination",
                             to,
                             NULL };
      run(argv);
    }

  ecsa_credentials_server_stop(fx->server);
  g_clear_object(&fx->server);
  g_clear_object(&fx->audit);
  g_clear_object(&fx->manager);
  g_clear_pointer(&fx->tasks, ecsa_test_tasks_free);
  ecsa_log_set_capture(NULL, NULL);
  g_string_free(fx->log, TRUE);
  ecsa_test_rmdir_recursive(fx->dir);
  g_free(fx->dir);
  g_free(fx->audit_path);
  g_free(fx->prefix);
  g_free(fx->bridge);
  g_free(fx->dnat_rule);
}

/* From inside each namespace, as a process in a container does it: two HTTP/1.0 GETs with busybox nc,
 * for the task's own ID and for its neighbour's, all namespaces at once (one shell starts them). */
#define SEPARATOR "=====SEPARATOR====="

static void
run_requests(Fixture *fx, char **own, char **other)
{
  g_autoptr(GString) script = g_string_new(NULL);
  const char *sh[] = { "sh", "-c", NULL, NULL };

  for (guint i = 0; i < N_TASKS; i++)
    {
      const Sandbox *b = &fx->boxes[i];
      const Sandbox *next = &fx->boxes[(i + 1) % N_TASKS];

      g_string_append_printf(script,
                             "( printf 'GET /v2/credentials/%s HTTP/1.0\\r\\n\\r\\n' | "
                             "nsenter --net=/run/netns/%s busybox nc -w 20 169.254.170.2 80; echo; echo " SEPARATOR "; "
                             "printf 'GET /v2/credentials/%s HTTP/1.0\\r\\n\\r\\n' | "
                             "nsenter --net=/run/netns/%s busybox nc -w 20 169.254.170.2 80 ) >%s/out.%u 2>&1 &\n",
                             b->credentials_id, b->netns, next->credentials_id, b->netns, fx->dir, i);
    }
  g_string_append(script, "wait\n");
  sh[2] = script->str;
  g_free(ecsa_test_spawn_ok(sh, TIMEOUT_MS));

  for (guint i = 0; i < N_TASKS; i++)
    {
      g_autofree char *path = g_strdup_printf("%s/out.%u", fx->dir, i);
      g_autofree char *text = NULL;
      const char *cut;

      g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
      cut = strstr(text, "\n" SEPARATOR "\n");
      if (cut == NULL)
        g_error("task %u: no separator in the requests' output: %s", i, g_strescape(text, NULL));
      own[i] = g_strndup(text, cut - text);
      other[i] = g_strdup(cut + strlen("\n" SEPARATOR "\n"));
    }
}

static void
test_fifty(Fixture *fx, gconstpointer data)
{
  char *own[N_TASKS] = { NULL };
  char *other[N_TASKS] = { NULL };
  g_autoptr(GTimer) timer = g_timer_new();
  g_autofree char *audit = NULL;
  g_auto(GStrv) lines = NULL;
  guint ok_lines = 0, refused_lines = 0;

  /* every task asks for its own credentials and for its neighbour's, all at once */
  run_requests(fx, own, other);
  g_test_message("%u requests from %u namespaces in %.2f s", 2 * N_TASKS, N_TASKS, g_timer_elapsed(timer, NULL));

  for (guint i = 0; i < N_TASKS; i++)
    {
      const Sandbox *b = &fx->boxes[i];
      const Sandbox *next = &fx->boxes[(i + 1) % N_TASKS];
      g_autofree char *upper = g_ascii_strup(b->seed, -1);
      g_autofree char *own_secret = g_strdup_printf("\"SecretAccessKey\":\"secret-%s-", b->seed);
      g_autofree char *own_key = g_strdup_printf("\"AccessKeyId\":\"ASIATEST%sKEYID\"", upper);
      g_autofree char *next_secret = g_strdup_printf("secret-%s-", next->seed);

      if (!g_str_has_prefix(own[i], "HTTP/1.0 200"))
        g_error("task %u did not get its credentials: %s", i, own[i]);
      g_assert_true(ecsa_test_contains(own[i], own_secret));
      g_assert_true(ecsa_test_contains(own[i], own_key));
      /* nothing of any other task in the answer */
      for (guint j = 0; j < N_TASKS; j++)
        {
          g_autofree char *secret = g_strdup_printf("secret-%s-", fx->boxes[j].seed);
          if (j != i)
            g_assert_false(ecsa_test_contains(own[i], secret));
        }
      if (!g_str_has_prefix(other[i], "HTTP/1.0 400"))
        g_error("task %u was not refused task %u's credentials: %s", i, (i + 1) % N_TASKS, other[i]);
      g_assert_true(ecsa_test_contains(
        other[i], "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}"));
      g_assert_false(ecsa_test_contains(other[i], next_secret));
      g_free(own[i]);
      g_free(other[i]);
    }

  /* the audit log: who asked, whose credentials, what answer */
  ecsa_audit_log_flush(fx->audit);
  g_file_get_contents(fx->audit_path, &audit, NULL, NULL);
  g_assert_nonnull(audit);
  lines = g_strsplit(g_strchomp(audit), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 2 * N_TASKS);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
      gboolean found = FALSE;

      g_assert_cmpuint(g_strv_length(f), ==, 10);
      g_assert_cmpstr(f[3], ==, "\"/v2/credentials\"");
      for (guint j = 0; j < N_TASKS && !found; j++)
        {
          g_autofree char *source = g_strdup_printf("%s:", fx->boxes[j].ip);
          if (!g_str_has_prefix(f[2], source))
            continue;
          found = TRUE;
          if (g_strcmp0(f[1], "200") == 0)
            {
              g_assert_cmpstr(f[5], ==, fx->boxes[j].arn);
              ok_lines++;
            }
          else
            {
              /* the refusal names whose credentials were asked for */
              g_assert_cmpstr(f[1], ==, "400");
              g_assert_cmpstr(f[5], ==, fx->boxes[(j + 1) % N_TASKS].arn);
              refused_lines++;
            }
        }
      g_assert_true(found);
    }
  g_assert_cmpuint(ok_lines, ==, N_TASKS);
  g_assert_cmpuint(refused_lines, ==, N_TASKS);

  /* no secret and no credentials ID in the agent's log or the audit log */
  for (guint i = 0; i < N_TASKS; i++)
    {
      g_autofree char *secret = g_strdup_printf("secret-%s-", fx->boxes[i].seed);
      g_autofree char *token = g_strdup_printf("token-%s-", fx->boxes[i].seed);
      const char *texts[] = { fx->log->str, audit };

      for (guint t = 0; t < G_N_ELEMENTS(texts); t++)
        {
          g_assert_false(ecsa_test_contains(texts[t], secret));
          g_assert_false(ecsa_test_contains(texts[t], token));
          g_assert_false(ecsa_test_contains(texts[t], fx->boxes[i].credentials_id));
        }
    }
  g_assert_true(ecsa_test_contains(fx->log->str, "refused the credentials of task"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */

  g_test_add("/credentials-netns/fifty-tasks", Fixture, NULL, fixture_setup, test_fifty, fixture_teardown);
  return g_test_run();
}
