/* test-log-options.c: the value parsers shared by the log-driver plugins follow Go's and
 * docker/go-units' rules, which dockerd applies to the same strings.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log-options.h"

static void
test_bool (void)
{
  const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
  const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
  const char *const bad[] = { "", "yes", "on", "tRUE", "2", " true" };
  gboolean b;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      b = FALSE;
      g_assert_true (ecsa_log_options_parse_bool (yes[i], &b));
      g_assert_true (b);
      g_assert_true (ecsa_log_options_parse_bool (no[i], &b));
      g_assert_false (b);
      g_assert_false (ecsa_log_options_parse_bool (bad[i], &b));
    }
}

static void
test_int (void)
{
  gint64 v = 0;

  g_assert_true (ecsa_log_options_parse_int ("42", &v));
  g_assert_cmpint (v, ==, 42);
  g_assert_true (ecsa_log_options_parse_int ("-7", &v));
  g_assert_cmpint (v, ==, -7);
  g_assert_true (ecsa_log_options_parse_int ("+7", &v));
  g_assert_cmpint (v, ==, 7);
  g_assert_true (ecsa_log_options_parse_int ("9223372036854775807", &v));
  g_assert_cmpint (v, ==, G_MAXINT64);
  g_assert_true (ecsa_log_options_parse_int ("-9223372036854775808", &v));
  g_assert_cmpint (v, ==, G_MININT64);
  g_assert_false (ecsa_log_options_parse_int ("9223372036854775808", &v));
  g_assert_false (ecsa_log_options_parse_int ("", &v));
  g_assert_false (ecsa_log_options_parse_int ("-", &v));
  g_assert_false (ecsa_log_options_parse_int ("1.0", &v));
  g_assert_false (ecsa_log_options_parse_int ("0x10", &v));
  g_assert_false (ecsa_log_options_parse_int (" 1", &v));
}

static void
test_size (void)
{
  static const struct
  {
    const char *text;
    gboolean binary;
    gint64 bytes; /* -1: refused */
  } cases[] = {
    { "10", FALSE, 10 },       { "10k", FALSE, 10000 },         { "10K", TRUE, 10240 },
    { "10kb", FALSE, 10000 },  { "10KiB", FALSE, 10000 },       { "1.5m", FALSE, 1500000 },
    { "1 g", FALSE, 1000000000 }, { "2m", TRUE, 2097152 },      { "1p", TRUE, 1125899906842624 },
    { "10i", FALSE, 10 },      { "10b", FALSE, 10 },            { "", FALSE, -1 },
    { "k", FALSE, -1 },        { "-1m", FALSE, -1 },            { "1.2.3m", FALSE, -1 },
    { "1.m", FALSE, -1 },      { "10x", FALSE, -1 },            { "10  m", FALSE, -1 },
    { "10mbb", FALSE, -1 },    { "1e3", FALSE, -1 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gint64 v = -42;
      gboolean ok = ecsa_log_options_parse_size (cases[i].text, cases[i].binary, &v);

      g_test_message ("'%s' -> %d %" G_GINT64_FORMAT, cases[i].text, ok, v);
      if (cases[i].bytes < 0)
        g_assert_false (ok);
      else
        {
          g_assert_true (ok);
          g_assert_cmpint (v, ==, cases[i].bytes);
        }
    }
}

static void
test_duration (void)
{
  static const struct
  {
    const char *text;
    gint64 usec; /* G_MININT64: refused */
  } cases[] = {
    { "0", 0 },
    { "1s", 1000000 },
    { "1.5s", 1500000 },
    { "500ms", 500000 },
    { "1m30s", 90000000 },
    { "2h", 7200000000 },
    { "-1s", -1000000 },
    { "100us", 100 },
    { "100\xc2\xb5s", 100 },
    { "1000ns", 1 },
    { ".5s", 500000 },
    { "1.s", 1000000 },
    { "", G_MININT64 },
    { "1000", G_MININT64 },
    { "1y", G_MININT64 },
    { "s", G_MININT64 },
    { ".s", G_MININT64 },
    { "1ms2", G_MININT64 },
    { "1mx", G_MININT64 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gint64 v = 42;
      gboolean ok = ecsa_log_options_parse_duration (cases[i].text, &v);

      g_test_message ("'%s' -> %d %" G_GINT64_FORMAT, cases[i].text, ok, v);
      if (cases[i].usec == G_MININT64)
        g_assert_false (ok);
      else
        {
          g_assert_true (ok);
          g_assert_cmpint (v, ==, cases[i].usec);
        }
    }
}

static void
test_address (void)
{
  g_autoptr(EcsaLogAddress) a = NULL;
  g_autoptr(GError) error = NULL;

  a = ecsa_log_address_parse ("udp://127.0.0.1:514", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a->scheme, ==, "udp");
  g_assert_cmpstr (a->host, ==, "127.0.0.1");
  g_assert_cmpint (a->port, ==, 514);
  g_clear_pointer (&a, ecsa_log_address_free);

  a = ecsa_log_address_parse ("tcp+tls://[::1]:6514", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a->host, ==, "::1");
  g_assert_cmpint (a->port, ==, 6514);
  g_clear_pointer (&a, ecsa_log_address_free);

  a = ecsa_log_address_parse ("unixgram:///dev/log", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a->path, ==, "/dev/log");
  g_clear_pointer (&a, ecsa_log_address_free);

  a = ecsa_log_address_parse ("fluentd.local", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a->scheme, ==, "tcp");
  g_assert_cmpstr (a->host, ==, "fluentd.local");
  g_assert_cmpint (a->port, ==, -1);
  g_clear_pointer (&a, ecsa_log_address_free);

  a = ecsa_log_address_parse ("fluentd.local:24224", FALSE, &error);
  g_assert_null (a);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_clear_error (&error);

  a = ecsa_log_address_parse ("udp://user@127.0.0.1:1", FALSE, &error);
  g_assert_null (a);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
}

static void
test_validate_sorted_first_error (void)
{
  static const EcsaLogOption none[] = { { NULL } };
  g_autoptr(GHashTable) options = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;

  /* several unknown options: the first in sorted order is reported, whatever the hash order */
  g_hash_table_insert (options, "zeta", "1");
  g_hash_table_insert (options, "alpha", "1");
  g_hash_table_insert (options, "mid", "1");
  g_assert_false (ecsa_log_options_validate ("x", options, none, 0, &error));
  g_assert_cmpstr (error->message, ==, "option 'alpha': unknown option for this driver");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/log-options/bool", test_bool);
  g_test_add_func ("/log-options/int", test_int);
  g_test_add_func ("/log-options/size", test_size);
  g_test_add_func ("/log-options/duration", test_duration);
  g_test_add_func ("/log-options/address", test_address);
  g_test_add_func ("/log-options/validate-sorted", test_validate_sorted_first_error);
  return g_test_run ();
}
