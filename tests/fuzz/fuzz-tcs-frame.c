/* fuzz-tcs-frame.c: libFuzzer harness for what TCS sends the agent (HeartbeatMessage,
 * AckPublishMetric, StopTelemetrySessionMessage, exceptions, anything): fed to a real TCS session.
 * The bytes also go through the frame signer as a payload (a TCS frame is "headers CRLF CRLF
 * envelope").
 *
 *   build-fuzz/tests/fuzz/fuzz-tcs-frame tests/fuzz/corpus/tcs-frame
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-tcs-session.h"

#include <stdint.h>
#include <string.h>

static EcsaTcsSession *session;

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  return G_LOG_WRITER_HANDLED;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const EcsaAwsCredentials creds = { sizeof (EcsaAwsCredentials), 0, "AKIDFUZZ", "fuzz-secret", "", 0, "" };
  g_autoptr(GBytes) envelope = NULL;
  g_autoptr(GBytes) frame = NULL;

  if (session == NULL)
    {
      static EcsaConfig config;
      g_autoptr(EcsaAwsCredentialsProvider) credentials = NULL;
      g_autoptr(EcsaEcsClient) client = NULL;

      g_log_set_writer_func (quiet_writer, NULL, NULL);
      config.cluster = (char *) "fuzz";
      config.aws_region = (char *) "us-west-2";
      config.api_endpoint = (char *) "http://127.0.0.1:9";
      credentials = ecsa_aws_credentials_provider_new (NULL);
      client = ecsa_ecs_client_new (&config, credentials, NULL, NULL);
      session = ecsa_tcs_session_new (client, NULL);
    }
  ecsa_ws_session_feed (ECSA_WS_SESSION (session), (const char *) data, size);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  envelope = g_bytes_new (data, size);
  frame = ecsa_tcs_sign_frame ("https://127.0.0.1:8443/ws?cluster=c&containerInstance=ci", envelope, "us-west-2",
                               &creds, NULL, NULL);
  g_assert_nonnull (frame);
  g_assert_cmpuint (g_bytes_get_size (frame), >, size);
  return 0;
}
