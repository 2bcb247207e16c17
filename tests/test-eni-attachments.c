/* test-eni-attachments.c: ACS AttachTaskNetworkInterfacesMessage handling, the interface watch
 * (real veth interfaces appear with the attachment's MAC address), reporting with retries, expiry
 * and the checkpoint (also emptied by forget_all). The report goes through a recording submitter
 * where the agent plugs the ECS client. Interfaces are named et<pid>[az] and removed at teardown.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-eni-attachments.h"
#include "ecsa-log.h"
#include "ecsa-plugin.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <string.h>
#include <unistd.h>

typedef struct
{
  char *dir;
  EcsaStateStore *store;
  EcsaEniAttachments *att;
  char *mac;
  char *ifname;
  char *peer;
  GPtrArray *submitted; /* "task attachment status" */
  guint fail_next;      /* submissions to fail before succeeding */
} Fixture;

static void
submit_async(gpointer user_data, const char *task_arn, const char *attachment_arn, const char *status,
             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer callback_data)
{
  Fixture *fx = user_data;
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, callback_data);

  g_ptr_array_add(fx->submitted, g_strdup_printf("%s %s %s", task_arn, attachment_arn, status));
  if (fx->fail_next > 0)
    {
      fx->fail_next--;
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_RETRY, "ECS is unavailable (test)");
      return;
    }
  g_task_return_boolean(task, TRUE);
}

static gboolean
submit_finish(gpointer user_data, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static const EcsaEniAttachmentSubmitter submitter = { submit_async, submit_finish };

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  int pid = (int)getpid();

  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO);
  /* interfaces a crashed run left (its PID is gone) */
  ecsa_netplug_sh(NULL, "for l in $(ip -br link | sed -n 's/^\\(et[0-9]*a\\)@.*/\\1/p'); do "
                        "pid=${l#et}; pid=${pid%%a}; [ -d /proc/$pid ] || ip link del $l; done");
  fx->dir = ecsa_test_mkdtemp();
  fx->store = ecsa_state_store_new(fx->dir, TRUE);
  g_assert_true(ecsa_state_store_load(fx->store, &error));
  fx->mac = g_strdup_printf("0a:ec:5b:%02x:%02x:%02x", (pid >> 16) & 0xff, (pid >> 8) & 0xff, pid & 0xff);
  fx->ifname = g_strdup_printf("et%da", pid);
  fx->peer = g_strdup_printf("et%dz", pid);
  fx->submitted = g_ptr_array_new_with_free_func(g_free);
  fx->att = ecsa_eni_attachments_new(fx->store);
  ecsa_eni_attachments_set_submitter(fx->att, &submitter, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_autofree char *links = NULL;

  ecsa_eni_attachments_free(fx->att);
  ecsa_netplug_iterate(100);
  ecsa_netplug_sh(NULL, "ip link del %s 2>/dev/null", fx->ifname);
  ecsa_netplug_sh(&links, "ip -br link");
  g_assert_null(strstr(links, fx->ifname));
  g_object_unref(fx->store);
  ecsa_test_rmdir_recursive(fx->dir);
  g_free(fx->dir);
  g_free(fx->mac);
  g_free(fx->ifname);
  g_free(fx->peer);
  g_ptr_array_unref(fx->submitted);
}

static JsonObject *
message(JsonParser *parser, const char *mac, gint64 timeout_ms)
{
  g_autofree char *text = g_strdup_printf(
    "{\"type\":\"AttachTaskNetworkInterfacesMessage\",\"messageId\":\"msg-1\","
    "\"clusterArn\":\"arn:aws:ecs:us-west-2:123456789012:cluster/default\","
    "\"containerInstanceArn\":\"arn:aws:ecs:us-west-2:123456789012:container-instance/ci-1\","
    "\"taskArn\":\"arn:aws:ecs:us-west-2:123456789012:task/t-1\",\"waitTimeoutMs\":%" G_GINT64_FORMAT ","
    "\"elasticNetworkInterfaces\":[{\"attachmentArn\":\"arn:aws:ecs:us-west-2:123456789012:attachment/a-1\","
    "\"ec2Id\":\"eni-1\",\"macAddress\":\"%s\",\"ipv4Addresses\":[{\"primary\":true,\"privateAddress\":\"10.0.0.5\"}]}]"
    "}",
    timeout_ms, mac);

  g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
  return json_node_get_object(json_parser_get_root(parser));
}

static void
add_interface(Fixture *fx)
{
  g_assert_cmpint(
    ecsa_netplug_sh(NULL, "ip link add %s address %s type veth peer name %s", fx->ifname, fx->mac, fx->peer), ==, 0);
}

static void
wait_sent(Fixture *fx, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

  while (!ecsa_eni_attachments_is_sent(fx->att, fx->mac))
    {
      g_assert_cmpint(g_get_monotonic_time(), <, deadline);
      ecsa_netplug_iterate(20);
    }
}

/* Wait until the checkpoint file has the section with `fragment` (read as a file: a second store
 * on the directory would clean up the first one's temporary file). */
static gboolean
checkpoint_has(Fixture *fx, const char *fragment)
{
  g_autofree char *path = g_build_filename(fx->dir, ECSA_STATE_STORE_FILE, NULL);

  for (int i = 0; i < 250; i++)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents(path, &text, NULL, NULL) && strstr(text, ECSA_ENI_ATTACHMENTS_SECTION) != NULL
          && strstr(text, fragment) != NULL)
        return TRUE;
      ecsa_netplug_iterate(20);
    }
  return FALSE;
}

static void
test_validation(Fixture *fx, gconstpointer data)
{
  static const struct
  {
    const char *json;
    const char *error;
  } cases[] = {
    { "{}", "'messageId' not set" },
    { "{\"messageId\":\"m\"}", "'clusterArn' not set" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\"}", "'containerInstanceArn' not set" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}", "'elasticNetworkInterfaces'" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"elasticNetworkInterfaces\":[{},{}]}",
      "incorrect number of ENIs" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"elasticNetworkInterfaces\":[{}]}",
      "'macAddress' not listed" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
      "\"elasticNetworkInterfaces\":[{\"macAddress\":\"zz\"}]}",
      "'macAddress' 'zz' is not a MAC address" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
      "\"elasticNetworkInterfaces\":[{\"macAddress\":\"0a:00:00:00:00:01\"}]}",
      "'taskArn' not set" },
    { "{\"messageId\":\"m\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"taskArn\":\"t\","
      "\"elasticNetworkInterfaces\":[{\"macAddress\":\"0a:00:00:00:00:01\"}],\"waitTimeoutMs\":0}",
      "invalid 'waitTimeoutMs'" },
  };
  g_autoptr(JsonParser) ok = json_parser_new();
  g_autofree char *id = NULL;

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new();
      g_autoptr(GError) error = NULL;
      char *out = NULL;

      g_assert_true(json_parser_load_from_data(parser, cases[i].json, -1, NULL));
      g_assert_false(ecsa_eni_attachments_handle_acs_message(
        fx->att, json_node_get_object(json_parser_get_root(parser)), &out, &error));
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull(strstr(error->message, cases[i].error));
      g_assert_null(out);
    }
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 0);
  g_assert_true(ecsa_eni_attachments_handle_acs_message(fx->att, message(ok, "0A:00:00:00:00:01", 60000), &id, NULL));
  g_assert_cmpstr(id, ==, "msg-1");
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 1);
  /* a repeated message is acked again and changes nothing */
  g_clear_pointer(&id, g_free);
  g_assert_true(ecsa_eni_attachments_handle_acs_message(fx->att, message(ok, "0a:00:00:00:00:01", 60000), &id, NULL));
  g_assert_cmpstr(id, ==, "msg-1");
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 1);
}

static void
test_attached_after_message(Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  g_assert_true(ecsa_eni_attachments_start(fx->att, &error));
  g_assert_no_error(error);
  g_assert_true(ecsa_eni_attachments_handle_acs_message(fx->att, message(parser, fx->mac, 20000), NULL, &error));
  ecsa_netplug_iterate(300);
  g_assert_cmpuint(fx->submitted->len, ==, 0); /* nothing on the host yet */

  /* the ENI appears: reported ATTACHED from the rtnetlink event (no reconciliation: 30 s away) */
  add_interface(fx);
  wait_sent(fx, 5000);
  g_assert_cmpuint(fx->submitted->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(fx->submitted, 0), ==,
                  "arn:aws:ecs:us-west-2:123456789012:task/t-1 arn:aws:ecs:us-west-2:123456789012:attachment/a-1 "
                  "ATTACHED");
  g_assert_true(checkpoint_has(fx, "\"attachSent\":true"));

  /* the interface coming and going again reports nothing more */
  ecsa_netplug_sh(NULL, "ip link set %s down; ip link set %s up", fx->ifname, fx->ifname);
  ecsa_netplug_iterate(300);
  g_assert_cmpuint(fx->submitted->len, ==, 1);

  /* the task is cleaned up: the attachment goes */
  ecsa_eni_attachments_forget_task(fx->att, "arn:aws:ecs:us-west-2:123456789012:task/t-1");
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 0);
}

static void
test_present_before_message_and_retry(Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  add_interface(fx);
  g_assert_true(ecsa_eni_attachments_start(fx->att, &error));
  fx->fail_next = 1; /* ECS refuses the first report: retried after a second */
  g_assert_true(ecsa_eni_attachments_handle_acs_message(fx->att, message(parser, fx->mac, 20000), NULL, &error));
  wait_sent(fx, 10000);
  g_assert_cmpuint(fx->submitted->len, ==, 2);
}

static void
test_expiry(Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

  g_assert_true(ecsa_eni_attachments_start(fx->att, &error));
  g_assert_true(ecsa_eni_attachments_handle_acs_message(fx->att, message(parser, fx->mac, 300), NULL, &error));
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 1);
  while (ecsa_eni_attachments_count(fx->att) > 0)
    {
      g_assert_cmpint(g_get_monotonic_time(), <, deadline);
      ecsa_netplug_iterate(20);
    }
  /* too late now: the interface appearing is not reported */
  add_interface(fx);
  ecsa_netplug_iterate(300);
  g_assert_cmpuint(fx->submitted->len, ==, 0);
}

static void
test_restore(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaEniAttachments) restored = NULL;
  g_autoptr(EcsaStateStore) store = NULL;
  g_autofree char *path = NULL;
  g_autofree char *file = NULL;
  gint64 later = g_get_real_time() / 1000 + 20000;
  gint64 earlier = g_get_real_time() / 1000 - 1000;

  /* an agent restart: one attachment waiting, one expired meanwhile, one already reported */
  ecsa_eni_attachments_free(fx->att);
  fx->att = NULL;
  path = g_build_filename(fx->dir, ECSA_STATE_STORE_FILE, NULL);
  file = g_strdup_printf(
    "{\"version\":1,\"sections\":{\"" ECSA_ENI_ATTACHMENTS_SECTION "\":["
    "{\"taskArn\":\"task/waiting\",\"attachmentArn\":\"att/1\",\"macAddress\":\"%s\",\"attachSent\":false,"
    "\"expiresAtMs\":%" G_GINT64_FORMAT "},"
    "{\"taskArn\":\"task/expired\",\"attachmentArn\":\"att/"
    "2\",\"macAddress\":\"0a:00:00:00:00:02\",\"attachSent\":false,"
    "\"expiresAtMs\":%" G_GINT64_FORMAT "},"
    "{\"taskArn\":\"task/sent\",\"attachmentArn\":\"att/3\",\"macAddress\":\"0a:00:00:00:00:03\",\"attachSent\":true,"
    "\"expiresAtMs\":%" G_GINT64_FORMAT "}]}}",
    fx->mac, later, earlier, earlier);
  g_assert_true(g_file_set_contents(path, file, -1, NULL));
  store = ecsa_state_store_new(fx->dir, TRUE);
  g_assert_true(ecsa_state_store_load(store, &error));
  g_assert_no_error(error);
  restored = ecsa_eni_attachments_new(store);
  g_assert_cmpuint(ecsa_eni_attachments_count(restored), ==, 2);
  g_assert_true(ecsa_eni_attachments_is_sent(restored, "0a:00:00:00:00:03"));
  g_assert_false(ecsa_eni_attachments_is_sent(restored, fx->mac));

  /* the waiting one is reported once its interface is there */
  ecsa_eni_attachments_set_submitter(restored, &submitter, fx);
  g_assert_true(ecsa_eni_attachments_start(restored, &error));
  add_interface(fx);
  fx->att = g_steal_pointer(&restored);
  wait_sent(fx, 5000);
  g_assert_cmpstr(g_ptr_array_index(fx->submitted, 0), ==, "task/waiting att/1 ATTACHED");

  /* the checkpoint was another EC2 instance's (the engine reset): every attachment goes, saved */
  ecsa_eni_attachments_forget_all(fx->att);
  g_assert_cmpuint(ecsa_eni_attachments_count(fx->att), ==, 0);
  g_assert_true(checkpoint_has(fx, "\"" ECSA_ENI_ATTACHMENTS_SECTION "\":[]"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add("/eni-attachments/acs/validation", Fixture, NULL, fixture_setup, test_validation, fixture_teardown);
  g_test_add("/eni-attachments/attached-after-message", Fixture, NULL, fixture_setup, test_attached_after_message,
             fixture_teardown);
  g_test_add("/eni-attachments/present-before-message-and-retry", Fixture, NULL, fixture_setup,
             test_present_before_message_and_retry, fixture_teardown);
  g_test_add("/eni-attachments/expiry", Fixture, NULL, fixture_setup, test_expiry, fixture_teardown);
  g_test_add("/eni-attachments/restore", Fixture, NULL, fixture_setup, test_restore, fixture_teardown);
  return g_test_run();
}
