/* fuzz-config.c: libFuzzer harness for the configuration parsers: the JSON config file, every
 * ECS_* value (JSON lists and maps, durations, booleans, integers), Go duration syntax, and the log
 * redaction that runs over every line. The first byte selects the parser; the rest is the input.
 *
 *   meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false (CC=clang)
 *   build-fuzz/tests/fuzz/fuzz-config tests/fuzz/corpus/config
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-config.h"
#include "ecsa-log.h"

#include <stdint.h>

static const char *const env_names[] = {
  "ECS_CLUSTER",
  "AWS_DEFAULT_REGION",
  "DOCKER_HOST",
  "ECS_RESERVED_PORTS",
  "ECS_RESERVED_PORTS_UDP",
  "ECS_ENGINE_AUTH_DATA",
  "ECS_CHECKPOINT",
  "ECS_RESERVED_MEMORY",
  "ECS_AVAILABLE_LOGGING_DRIVERS",
  "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION",
  "ECS_CONTAINER_STOP_TIMEOUT",
  "ECS_NUM_IMAGES_DELETE_PER_CYCLE",
  "ECS_INSTANCE_ATTRIBUTES",
  "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
  "ECS_ENABLE_TASK_CPU_MEM_LIMIT",
  "ECS_IMAGE_CLEANUP_INTERVAL",
};

enum
{
  SEL_FILE = 0,
  SEL_DURATION = 1,
  SEL_REDACT = 2,
  SEL_BOOL = 3,
  SEL_ENV_FIRST = 4,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static gboolean initialized;
  g_autoptr(EcsaConfig) config = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  guint selector;

  if (!initialized)
    {
      ecsa_log_init();
      ecsa_log_set_console(-1);
      ecsa_log_set_level(ECSA_LOG_DEBUG); /* format (and redact) every warning the parsers emit */
      initialized = TRUE;
    }
  if (size == 0)
    return 0;
  selector = data[0] % (SEL_ENV_FIRST + G_N_ELEMENTS(env_names));
  text = g_strndup((const char *)data + 1, size - 1); /* environment values end at a NUL */
  config = ecsa_config_new();

  switch (selector)
    {
    case SEL_FILE:
      ecsa_config_parse_file_data(config, (const char *)data + 1, size - 1, &error);
      break;
    case SEL_DURATION:
      {
        GTimeSpan value, again;
        if (ecsa_config_parse_duration(text, &value, &error))
          {
            g_autofree char *formatted = ecsa_config_duration_to_string(value);
            /* what we print parses back to the same value */
            g_assert_true(ecsa_config_parse_duration(formatted, &again, NULL));
            g_assert_cmpint(again, ==, value);
          }
        break;
      }
    case SEL_REDACT:
      {
        g_autofree char *redacted = ecsa_log_redact(text);
        g_autofree char *twice = ecsa_log_redact(redacted);
        g_assert_nonnull(redacted);
        /* redaction is idempotent: nothing left to find the second time */
        g_assert_cmpstr(twice, ==, redacted);
        break;
      }
    case SEL_BOOL:
      {
        gboolean b;
        ecsa_config_parse_bool(text, &b);
        break;
      }
    default:
      ecsa_config_parse_env_value(config, env_names[selector - SEL_ENV_FIRST], text, &error);
      break;
    }
  {
    g_autofree char *report = ecsa_config_to_string(config);
    g_assert_nonnull(report);
  }
  return 0;
}
