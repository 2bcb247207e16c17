/* fuzz-aws-metadata.c: libFuzzer harness for the answers the agent reads from AWS endpoints: the
 * instance identity document and the instance-role credentials of instance metadata, and the ECS
 * JSON API's error bodies. The first byte selects the parser; the rest is the input.
 *
 *   build-fuzz/tests/fuzz/fuzz-aws-metadata tests/fuzz/corpus/aws-metadata
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-aws-credentials.h"
#include "ecsa-ecs-client.h"
#include "ecsa-imds.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (size < 1)
    return 0;
  text = g_strndup ((const char *) data + 1, size - 1);
  switch (data[0] % 3)
    {
    case 0:
      {
        g_autoptr(EcsaInstanceIdentity) identity = ecsa_instance_identity_parse (text, &error);
        g_assert_true ((identity != NULL) != (error != NULL));
        if (identity != NULL)
          g_assert_true (identity->instance_id != NULL && identity->region != NULL);
      }
      break;
    case 1:
      {
        g_autoptr(EcsaAwsCredentials) creds = ecsa_aws_credentials_parse_role (text, &error);
        g_assert_true ((creds != NULL) != (error != NULL));
        if (creds != NULL)
          g_assert_true (*creds->access_key_id != '\0' && *creds->secret_access_key != '\0');
      }
      break;
    default:
      {
        g_autoptr(GBytes) body = g_bytes_new (data + 1, size - 1);
        g_autoptr(GError) e = ecsa_ecs_client_error_from_response ("Fuzz", 400 + (size % 200), body,
                                                                  size > 2 && data[1] == 'h' ? text : NULL);
        g_assert_nonnull (e);
        g_assert_true (e->domain == ECSA_ECS_CLIENT_ERROR);
        ecsa_ecs_client_error_code (e);
      }
      break;
    }
  return 0;
}
