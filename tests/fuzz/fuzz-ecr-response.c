/* fuzz-ecr-response.c: answers to ECR GetAuthorizationToken (untrusted, from the network) as the
 * ecr auth plugin reads them (plugins/auth-ecr/ecsa-ecr-api.c). The first byte picks the HTTP
 * status class (200, 4xx, 5xx); the rest is the body. Invariants: no crash or leak; a parsed token
 * has a username, a password and a proxy endpoint; every error is ECSA_ERROR with a message.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-ecr-api.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const guint statuses[] = { 200, 400, 403, 422, 500, 503 };
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  guint status;

  if (size == 0)
    return 0;
  status = statuses[data[0] % G_N_ELEMENTS (statuses)];
  body = g_bytes_new (data + 1, size - 1);
  if (status == 200)
    {
      g_autoptr(EcsaEcrToken) token = ecsa_ecr_parse_token (body, &error);
      if (token == NULL)
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == ECSA_ERROR);
          return 0;
        }
      g_assert_nonnull (token->username);
      g_assert_nonnull (token->password);
      g_assert_nonnull (token->proxy_endpoint);
      (void) ecsa_ecr_proxy_endpoint_covers (token->proxy_endpoint, "123456789012.dkr.ecr.us-west-2.amazonaws.com/a");
      (void) ecsa_ecr_proxy_endpoint_covers (token->proxy_endpoint, "");
      return 0;
    }
  error = ecsa_ecr_error_from_response (status, body);
  g_assert_nonnull (error);
  g_assert_true (error->domain == ECSA_ERROR);
  g_assert_nonnull (error->message);
  return 0;
}
