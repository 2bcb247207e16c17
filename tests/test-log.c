/* test-log.c: the log writer: levels, line format, domains, ECS_LOGFILE and its rolling, journald
 * fields, G_IO_ERROR_CANCELLED, and redaction of every kind of secret.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log.h"

#include "ecsa-test-utils.h"
#include "ecsa-utils.h"

#include <glib/gstdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <utime.h>

/* ---------------------------------------------------------------------------------------------
 * Capture
 * ------------------------------------------------------------------------------------------- */
typedef struct
{
  GMutex lock;
  GPtrArray *lines;
} Capture;

static Capture capture;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  Capture *c = user_data;

  g_mutex_lock(&c->lock);
  g_ptr_array_add(c->lines, g_strdup(line));
  g_mutex_unlock(&c->lock);
}

static void
capture_reset(void)
{
  ecsa_log_shutdown();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */
  g_mutex_lock(&capture.lock);
  g_ptr_array_set_size(capture.lines, 0);
  g_mutex_unlock(&capture.lock);
  ecsa_log_set_capture(capture_cb, &capture);
}

static const char *
captured(guint i)
{
  g_assert_cmpuint(i, <, capture.lines->len);
  return g_ptr_array_index(capture.lines, i);
}

/* ---------------------------------------------------------------------------------------------
 * Redaction
 * ------------------------------------------------------------------------------------------- */
typedef struct
{
  const char *name;
  const char *input;
  const char *expected;
} RedactCase;

static const RedactCase redact_cases[] = {
  { "aws-key-id", "using AKIAIOSFODNN7EXAMPLE for ecs", "using <redacted> for ecs" },
  { "aws-session-key-id", "creds ASIAY34FZKBOKMUTVV7A expire", "creds <redacted> expire" },
  { "aws-key-id-in-url", "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101", "X-Amz-Credential=<redacted>" },
  { "secret-key-free-text", "got wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY back", "got <redacted> back" },
  { "secret-key-whole-line", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "<redacted>" },
  { "plain-long-run", "task/bench1/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "task/bench1/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  { "json-credentials",
    "{\"AccessKeyId\":\"ASIAY34FZKBOKMUTVV7A\",\"SecretAccessKey\":\"wJalrXUtnFEMI/"
    "K7MDENG\",\"Token\":\"FQoGZXIvYXdz\","
    "\"Expiration\":\"2024-01-01T00:00:00Z\",\"RoleArn\":\"arn:aws:iam::123456789012:role/r\"}",
    "{\"AccessKeyId\":\"<redacted>\",\"SecretAccessKey\":\"<redacted>\",\"Token\":\"<redacted>\","
    "\"Expiration\":\"2024-01-01T00:00:00Z\",\"RoleArn\":\"arn:aws:iam::123456789012:role/r\"}" },
  { "json-acs-credentials",
    "\"roleCredentials\": {\"accessKeyId\": \"AKID\", \"secretAccessKey\": \"s3cr3t\", \"sessionToken\": \"t0k\", "
    "\"credentialsId\": \"cid-1\"}",
    "\"roleCredentials\": {\"accessKeyId\": \"<redacted>\", \"secretAccessKey\": \"<redacted>\", \"sessionToken\": "
    "\"<redacted>\", \"credentialsId\": \"cid-1\"}" },
  { "json-escaped-quote-in-secret", "{\"password\":\"a\\\"b\",\"user\":\"u\"}",
    "{\"password\":\"<redacted>\",\"user\":\"u\"}" },
  { "json-inside-json-string", "{\"env\":\"{\\\"password\\\":\\\"hunter22\\\",\\\"user\\\":\\\"u\\\"}\"}",
    "{\"env\":\"{\\\"password\\\":\\\"<redacted>\\\",\\\"user\\\":\\\"u\\\"}\"}" },
  { "key-value-env", "AWS_SECRET_ACCESS_KEY=abc123 AWS_SESSION_TOKEN=xyz789 AWS_DEFAULT_REGION=us-west-2",
    "AWS_SECRET_ACCESS_KEY=<redacted> AWS_SESSION_TOKEN=<redacted> AWS_DEFAULT_REGION=us-west-2" },
  { "key-value-access-key-id", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE ECS_CLUSTER=c",
    "AWS_ACCESS_KEY_ID=<redacted> ECS_CLUSTER=c" },
  { "key-value-quoted", "password='pa ss' token=\"t o k\" user=me",
    "password='<redacted>' token=\"<redacted>\" user=me" },
  { "key-colon-value", "Password: hunter22, next", "Password: <redacted>, next" },
  { "engine-auth-data-plain", "ECS_ENGINE_AUTH_DATA=c29tZXRoaW5n ECS_ENGINE_AUTH_TYPE=docker",
    "ECS_ENGINE_AUTH_DATA=<redacted> ECS_ENGINE_AUTH_TYPE=docker" },
  { "engine-auth-data-docker",
    "ECS_ENGINE_AUTH_DATA={\"https://index.docker.io/v1/"
    "\":{\"username\":\"me\",\"password\":\"pw123\",\"email\":\"e@x\"}}",
    "ECS_ENGINE_AUTH_DATA={\"https://index.docker.io/v1/\":{\"username\":\"me\",\"password\":\"<redacted>\","
    "\"email\":\"e@x\"}}" },
  { "engine-auth-data-dockercfg", "{\"https://r.example:5000\":{\"auth\":\"dXNlcjpwYXNz\",\"email\":\"\"}}",
    "{\"https://r.example:5000\":{\"auth\":\"<redacted>\",\"email\":\"\"}}" },
  { "authorization-header",
    "GET / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/ecs/"
    "aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
    "\r\nHost: ecs.us-east-1.amazonaws.com\r\n",
    "GET / HTTP/1.1\r\nAuthorization: <redacted>\r\nHost: ecs.us-east-1.amazonaws.com\r\n" },
  { "authorization-basic", "authorization: Basic dXNlcjpwYXNz", "authorization: <redacted>" },
  { "security-token-header", "X-Amz-Security-Token: FQoGZXIvYXdzEHoaDFAKE//token==\nX-Amz-Date: 20240101T000000Z",
    "X-Amz-Security-Token: <redacted>\nX-Amz-Date: 20240101T000000Z" },
  { "security-token-query", "wss://acs.example/ws?X-Amz-Security-Token=FQoGZX%2Fabc&X-Amz-Date=20240101T000000Z",
    "wss://acs.example/ws?X-Amz-Security-Token=<redacted>&X-Amz-Date=20240101T000000Z" },
  { "registry-auth-header",
    "X-Registry-Auth: eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ==", "X-Registry-Auth: <redacted>" },
  { "url-password", "pulling from https://user:pa55word@registry.example:5000/v2/",
    "pulling from https://user:<redacted>@registry.example:5000/v2/" },
  { "splunk-token-option", "log option splunk-token=1234-abcd-5678", "log option splunk-token=<redacted>" },
  /* ordinary lines stay as they are */
  { "plain-task-arn", "task 'arn:aws:ecs:us-west-2:123456789012:task/1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901' RUNNING",
    "task 'arn:aws:ecs:us-west-2:123456789012:task/1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901' RUNNING" },
  { "plain-digest", "image sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef pulled",
    "image sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef pulled" },
  { "plain-sha1", "commit 0123456789abcdef0123456789abcdef01234567",
    "commit 0123456789abcdef0123456789abcdef01234567" },
  { "plain-auth-type", "ECS_ENGINE_AUTH_TYPE=dockercfg ECS_CLUSTER=prod",
    "ECS_ENGINE_AUTH_TYPE=dockercfg ECS_CLUSTER=prod" },
  { "plain-credentials-endpoint", "awslogs-credentials-endpoint=/v2/credentials/abc",
    "awslogs-credentials-endpoint=/v2/credentials/abc" },
  { "plain-url", "connecting to https://ecs.us-west-2.amazonaws.com:443/",
    "connecting to https://ecs.us-west-2.amazonaws.com:443/" },
  { "empty", "", "" },
};

static void
test_redact_case(gconstpointer data)
{
  const RedactCase *c = data;
  g_autofree char *out = ecsa_log_redact(c->input);

  g_assert_cmpstr(out, ==, c->expected);
}

static void
test_redact_null(void)
{
  g_assert_null(ecsa_log_redact(NULL));
}

/* Redaction maps no memory both writable and executable (PCRE2's JIT would): every rule has run
 * (the cases above, and these lines) and /proc/self/maps has no rwx mapping. */
static void
test_redact_no_jit(void)
{
  static const char *const lines[] = {
    "Authorization: Basic dXNlcjpwYXNz",
    "{\"password\":\"pw\"}",
    "{\"env\":\"{\\\"token\\\":\\\"t\\\"}\"}",
    "password=pw",
    "https://u:p@h/",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  };
  g_autofree char *maps = NULL;
  g_auto(GStrv) entries = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(lines); i++)
    {
      g_autofree char *out = ecsa_log_redact(lines[i]);

      g_assert_nonnull(strstr(out, "<redacted>"));
    }
  g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
  entries = g_strsplit(maps, "\n", -1);
  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit_set(entries[i], " ", 3);

      if (fields[0] != NULL && fields[1] != NULL && strncmp(fields[1], "rwx", 3) == 0)
        g_error("writable and executable mapping: %s", entries[i]);
    }
}

static void
test_redact_known_secrets(void)
{
  g_autofree char *before = NULL;
  g_autofree char *during = NULL;
  g_autofree char *twice = NULL;
  g_autofree char *after = NULL;
  g_autofree char *shorty = NULL;

  capture_reset();
  before = ecsa_log_redact("registry said: bad credentials for hunter2-registry-pw");
  g_assert_cmpstr(before, ==, "registry said: bad credentials for hunter2-registry-pw");
  ecsa_log_add_secret("hunter2-registry-pw");
  ecsa_log_add_secret("hunter2-registry-pw"); /* counted */
  ecsa_log_add_secret("hunter2");             /* shorter one inside the longer: longest first */
  during = ecsa_log_redact("registry said: bad credentials for hunter2-registry-pw (hunter2)");
  g_assert_cmpstr(during, ==, "registry said: bad credentials for <redacted> (<redacted>)");
  ecsa_log_remove_secret("hunter2-registry-pw");
  twice = ecsa_log_redact("x hunter2-registry-pw");
  g_assert_cmpstr(twice, ==, "x <redacted>");
  ecsa_log_remove_secret("hunter2-registry-pw");
  ecsa_log_remove_secret("hunter2");
  after = ecsa_log_redact("x hunter2-registry-pw");
  g_assert_cmpstr(after, ==, "x hunter2-registry-pw");
  ecsa_log_add_secret("abc"); /* too short to mask without destroying ordinary text */
  shorty = ecsa_log_redact("abc def");
  g_assert_cmpstr(shorty, ==, "abc def");
}

static void
test_redact_in_lines(void)
{
  capture_reset();
  ecsa_log_add_secret("task-secret-value-42");
  ecsa_log_warn("pull failed with AKIAIOSFODNN7EXAMPLE and task-secret-value-42 and password=pw1");
  g_assert_cmpuint(capture.lines->len, ==, 1);
  g_assert_null(strstr(captured(0), "AKIAIOSFODNN7EXAMPLE"));
  g_assert_null(strstr(captured(0), "task-secret-value-42"));
  g_assert_null(strstr(captured(0), "pw1"));
  g_assert_nonnull(strstr(captured(0), "password=<redacted>"));
}

/* ---------------------------------------------------------------------------------------------
 * Levels, format, domains
 * ------------------------------------------------------------------------------------------- */
static void
test_level_parse(void)
{
  int level = -42;

  g_assert_true(ecsa_log_level_from_string("crit", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_CRIT);
  g_assert_true(ecsa_log_level_from_string("ERROR", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_ERROR);
  g_assert_true(ecsa_log_level_from_string(" warn ", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_WARN);
  g_assert_true(ecsa_log_level_from_string("info", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_INFO);
  g_assert_true(ecsa_log_level_from_string("Debug", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_DEBUG);
  g_assert_true(ecsa_log_level_from_string("none", &level));
  g_assert_cmpint(level, ==, ECSA_LOG_LEVEL_NONE);
  level = -42;
  g_assert_false(ecsa_log_level_from_string("verbose", &level));
  g_assert_false(ecsa_log_level_from_string("", &level));
  g_assert_false(ecsa_log_level_from_string(NULL, &level));
  g_assert_cmpint(level, ==, -42);
  g_assert_cmpstr(ecsa_log_level_to_string(ECSA_LOG_WARN), ==, "warn");
  g_assert_cmpstr(ecsa_log_level_to_string(ECSA_LOG_LEVEL_NONE), ==, "none");
}

static void
test_levels_filter(void)
{
  capture_reset();
  ecsa_log_set_level(ECSA_LOG_WARN);
  ecsa_log_debug("d");
  ecsa_log_info("i");
  g_message("m");
  g_info("gi");
  ecsa_log_warn("w");
  g_warning("gw");
  ecsa_log_error("e");
  g_critical("gc");
  ecsa_log_crit("c");
  g_assert_cmpuint(capture.lines->len, ==, 5);
  g_assert_nonnull(strstr(captured(0), " [WARN] w\n"));
  g_assert_nonnull(strstr(captured(1), " [WARN] gw\n"));
  g_assert_nonnull(strstr(captured(2), " [ERROR] e\n"));
  g_assert_nonnull(strstr(captured(3), " [ERROR] gc\n"));
  g_assert_nonnull(strstr(captured(4), " [CRITICAL] c\n"));

  ecsa_log_set_level(ECSA_LOG_LEVEL_NONE);
  ecsa_log_crit("silent");
  g_assert_cmpuint(capture.lines->len, ==, 5);

  ecsa_log_set_level(ECSA_LOG_DEBUG);
  ecsa_log_debug("d2");
  g_debug("gd2");
  g_assert_cmpuint(capture.lines->len, ==, 7);
  g_assert_nonnull(strstr(captured(5), " [DEBUG] d2\n"));
  g_assert_true(ecsa_log_level_enabled(ECSA_LOG_DEBUG));
}

static void
test_line_format(void)
{
  g_autoptr(GRegex) re = g_regex_new("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z \\[INFO\\] "
                                     "first\\\\nsecond\\\\tthird\\\\x01\n$",
                                     0, 0, NULL);

  capture_reset();
  ecsa_log_info("first\nsecond\\tthird\001");
  g_assert_cmpuint(capture.lines->len, ==, 1);
  /* one line per event: control characters escaped, exactly one newline at the end */
  g_assert_cmpint(strchr(captured(0), '\n') - captured(0), ==, (int)strlen(captured(0)) - 1);
  if (!g_regex_match(re, captured(0), 0, NULL))
    g_error("unexpected line: %s", captured(0));
}

static void
test_domains(void)
{
  capture_reset();
  /* a plugin logging through GLib with its own G_LOG_DOMAIN, and through the host's log slot */
  g_log("ecsa-log-awslogs", G_LOG_LEVEL_WARNING, "via g_log token=abc");
  ecsa_log_write(ECSA_LOG_ERROR, "ecsa-log-awslogs", "via host slot token=abc");
  ecsa_log_write(ECSA_LOG_INFO, NULL, "core");
  ecsa_log_at(ECSA_LOG_INFO, "ecsa", "core too");
  g_log_structured("ecsa-net-cni", G_LOG_LEVEL_MESSAGE, "ECSA_LEVEL", "crit", "MESSAGE", "%s", "structured crit");
  g_assert_cmpuint(capture.lines->len, ==, 5);
  g_assert_nonnull(strstr(captured(0), " [WARN] ecsa-log-awslogs: via g_log token=<redacted>\n"));
  g_assert_nonnull(strstr(captured(1), " [ERROR] ecsa-log-awslogs: via host slot token=<redacted>\n"));
  g_assert_nonnull(strstr(captured(2), " [INFO] core\n"));
  g_assert_nonnull(strstr(captured(3), " [INFO] core too\n"));
  g_assert_nonnull(strstr(captured(4), " [CRITICAL] ecsa-net-cni: structured crit\n"));
}

static void
test_foreign_debug(void)
{
  capture_reset();
  ecsa_log_set_level(ECSA_LOG_DEBUG);
  g_unsetenv("G_MESSAGES_DEBUG");
  g_log("GLib-GIO", G_LOG_LEVEL_DEBUG, "noise");
  g_log("libsoup", G_LOG_LEVEL_WARNING, "libsoup warning");
  g_assert_cmpuint(capture.lines->len, ==, 1);
  g_assert_nonnull(strstr(captured(0), "[WARN] libsoup: libsoup warning"));
  g_setenv("G_MESSAGES_DEBUG", "GLib-GIO", TRUE);
  g_log("GLib-GIO", G_LOG_LEVEL_DEBUG, "wanted");
  g_unsetenv("G_MESSAGES_DEBUG");
  g_assert_cmpuint(capture.lines->len, ==, 2);
  g_assert_nonnull(strstr(captured(1), "[DEBUG] GLib-GIO: wanted"));
}

static void
test_cancelled_not_logged(void)
{
  g_autoptr(GError) cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  g_autoptr(GError) failed = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");

  capture_reset();
  ecsa_log_gerror(ECSA_LOG_ERROR, cancelled, "pulling '%s'", "busybox");
  g_assert_cmpuint(capture.lines->len, ==, 0);
  ecsa_log_gerror(ECSA_LOG_ERROR, failed, "pulling '%s'", "busybox");
  g_assert_cmpuint(capture.lines->len, ==, 1);
  g_assert_nonnull(strstr(captured(0), " [ERROR] pulling 'busybox': timed out\n"));
}

/* ---------------------------------------------------------------------------------------------
 * Outputs
 * ------------------------------------------------------------------------------------------- */
static void
test_log_file(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "sub", "ecs-agent.log", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;

  capture_reset();
  g_assert_true(ecsa_log_set_file(path, &error));
  g_assert_no_error(error);
  ecsa_log_info("to the file with AWS_SECRET_ACCESS_KEY=verysecret");
  ecsa_log_debug("filtered");
  g_assert_true(ecsa_log_set_file(NULL, &error)); /* closes */
  ecsa_log_info("not in the file");
  g_assert_true(g_file_get_contents(path, &contents, NULL, &error));
  lines = g_strsplit(contents, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 2);
  g_assert_nonnull(strstr(lines[0], "[INFO] to the file with AWS_SECRET_ACCESS_KEY=<redacted>"));
  g_assert_cmpstr(lines[1], ==, "");

  /* a directory where the file should be: an error naming the path, and logging goes on */
  g_assert_false(ecsa_log_set_file(dir, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
  g_assert_nonnull(strstr(error->message, dir));
  ecsa_test_rmdir_recursive(dir);
}

static void
test_log_file_roll(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "ecs-agent.log", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) d = NULL;
  g_autofree char *archived = NULL;
  g_autofree char *current = NULL;
  const gint64 old = 1700000000; /* 2023-11-14T22:13:20Z */
  struct utimbuf times = { .actime = old, .modtime = old };
  g_autofree char *archive = g_build_filename(dir, "ecs-agent.log.2023-11-14-22", NULL);
  guint n_archives = 0;
  const char *name;

  capture_reset();
  /* 30 archives from earlier hours: only the newest 24 are kept after a roll */
  for (int h = 0; h < 30; h++)
    {
      g_autofree char *p = g_strdup_printf("%s.2023-11-%02d-%02d", path, 1 + h / 24, h % 24);
      g_assert_true(g_file_set_contents(p, "old\n", -1, &error));
    }
  g_assert_true(g_file_set_contents(path, "line from an earlier hour\n", -1, &error));
  g_assert_cmpint(utime(path, &times), ==, 0);

  g_assert_true(ecsa_log_set_file(path, &error));
  ecsa_log_info("this hour");
  g_assert_true(ecsa_log_set_file(NULL, &error));

  g_assert_true(g_file_get_contents(archive, &archived, NULL, &error));
  g_assert_cmpstr(archived, ==, "line from an earlier hour\n");
  g_assert_true(g_file_get_contents(path, &current, NULL, &error));
  g_assert_nonnull(strstr(current, "[INFO] this hour\n"));
  g_assert_null(strstr(current, "earlier"));

  d = g_dir_open(dir, 0, &error);
  g_assert_no_error(error);
  while ((name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, "ecs-agent.log."))
      n_archives++;
  g_assert_cmpuint(n_archives, ==, 24);
  g_assert_true(g_file_test(archive, G_FILE_TEST_EXISTS)); /* the newest survives */
  ecsa_test_rmdir_recursive(dir);
}

typedef struct
{
  char *key;
  GBytes *value;
} JournalField;

static GHashTable *
parse_journal_datagram(const guint8 *data, gsize len)
{
  GHashTable *fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  gsize pos = 0;

  while (pos < len)
    {
      const guint8 *nl = memchr(data + pos, '\n', len - pos);
      const guint8 *eq = memchr(data + pos, '=', len - pos);
      g_assert_nonnull(nl);
      if (eq != NULL && eq < nl)
        {
          g_hash_table_insert(fields, g_strndup((const char *)data + pos, (gsize)(eq - data - pos)),
                              g_strndup((const char *)eq + 1, (gsize)(nl - eq - 1)));
          pos = (gsize)(nl - data) + 1;
        }
      else
        {
          char *key = g_strndup((const char *)data + pos, (gsize)(nl - data - pos));
          guint64 le;
          gsize n;
          pos = (gsize)(nl - data) + 1;
          g_assert_cmpuint(pos + 8, <=, len);
          memcpy(&le, data + pos, 8);
          n = (gsize)GUINT64_FROM_LE(le);
          pos += 8;
          g_assert_cmpuint(pos + n + 1, <=, len);
          g_hash_table_insert(fields, key, g_strndup((const char *)data + pos, n));
          pos += n;
          g_assert_cmpint(data[pos], ==, '\n');
          pos++;
        }
    }
  return fields;
}

static void
test_journald_fields(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "journal.sock", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  ecsa_autofd int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  guint8 buf[8192];
  ssize_t n;
  g_autoptr(GHashTable) fields = NULL;
  g_autoptr(GHashTable) multi = NULL;

  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpuint(strlen(path), <, sizeof addr.sun_path);
  strcpy(addr.sun_path, path);
  g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);

  capture_reset();
  ecsa_log_set_journal_socket(path);
  g_log_structured("ecsa-engine", G_LOG_LEVEL_WARNING, "TASK_ARN", "arn:aws:ecs:us-west-2:1:task/t1", "SECRETISH",
                   "token=abc", "MESSAGE", "container '%s' stopped, password=%s", "web", "pw123");
  n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  g_assert_cmpint(n, >, 0);
  fields = parse_journal_datagram(buf, (gsize)n);
  g_assert_cmpstr(g_hash_table_lookup(fields, "MESSAGE"), ==, "container 'web' stopped, password=<redacted>");
  g_assert_cmpstr(g_hash_table_lookup(fields, "PRIORITY"), ==, "4");
  g_assert_cmpstr(g_hash_table_lookup(fields, "ECSA_LEVEL"), ==, "warn");
  g_assert_cmpstr(g_hash_table_lookup(fields, "SYSLOG_IDENTIFIER"), ==, "ecs-agent");
  g_assert_cmpstr(g_hash_table_lookup(fields, "GLIB_DOMAIN"), ==, "ecsa-engine");
  g_assert_cmpstr(g_hash_table_lookup(fields, "TASK_ARN"), ==, "arn:aws:ecs:us-west-2:1:task/t1");
  g_assert_cmpstr(g_hash_table_lookup(fields, "SECRETISH"), ==, "token=<redacted>");
  /* the line went to journald, not to the console; the capture still sees it */
  g_assert_cmpuint(capture.lines->len, ==, 1);

  ecsa_log_error("two\nlines");
  n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  g_assert_cmpint(n, >, 0);
  multi = parse_journal_datagram(buf, (gsize)n);
  g_assert_cmpstr(g_hash_table_lookup(multi, "MESSAGE"), ==, "two\nlines");
  g_assert_cmpstr(g_hash_table_lookup(multi, "PRIORITY"), ==, "3");

  ecsa_log_set_journal_socket(NULL);
  ecsa_test_rmdir_recursive(dir);
}

typedef struct
{
  int id;
} ThreadArg;

static gpointer
log_thread(gpointer data)
{
  ThreadArg *arg = data;

  for (int i = 0; i < 200; i++)
    ecsa_log_info("thread %d line %d secret=s%d", arg->id, i, i);
  return NULL;
}

static void
test_threads(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *path = g_build_filename(dir, "threads.log", NULL);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  GThread *threads[4];
  ThreadArg args[4];

  capture_reset();
  g_assert_true(ecsa_log_set_file(path, NULL));
  for (int t = 0; t < 4; t++)
    {
      args[t].id = t;
      threads[t] = g_thread_new("log", log_thread, &args[t]);
    }
  for (int t = 0; t < 4; t++)
    g_thread_join(threads[t]);
  ecsa_log_set_file(NULL, NULL);
  g_assert_cmpuint(capture.lines->len, ==, 800);
  g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
  lines = g_strsplit(contents, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 801);
  for (guint i = 0; i < 800; i++)
    {
      g_assert_nonnull(strstr(lines[i], "[INFO] thread "));
      g_assert_nonnull(g_str_has_suffix(lines[i], "secret=<redacted>") ? lines[i] : NULL);
    }
  ecsa_test_rmdir_recursive(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* g_warning()/g_critical() are part of what is tested: not fatal here */
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_log_init();
  g_mutex_init(&capture.lock);
  capture.lines = g_ptr_array_new_with_free_func(g_free);

  for (gsize i = 0; i < G_N_ELEMENTS(redact_cases); i++)
    {
      g_autofree char *path = g_strdup_printf("/log/redact/%s", redact_cases[i].name);
      g_test_add_data_func(path, &redact_cases[i], test_redact_case);
    }
  g_test_add_func("/log/redact/null", test_redact_null);
  g_test_add_func("/log/redact/no-jit", test_redact_no_jit);
  g_test_add_func("/log/redact/known-secrets", test_redact_known_secrets);
  g_test_add_func("/log/redact/in-lines", test_redact_in_lines);
  g_test_add_func("/log/level/parse", test_level_parse);
  g_test_add_func("/log/level/filter", test_levels_filter);
  g_test_add_func("/log/format/one-line", test_line_format);
  g_test_add_func("/log/format/domains", test_domains);
  g_test_add_func("/log/format/foreign-debug", test_foreign_debug);
  g_test_add_func("/log/cancelled-not-logged", test_cancelled_not_logged);
  g_test_add_func("/log/file/write", test_log_file);
  g_test_add_func("/log/file/roll", test_log_file_roll);
  g_test_add_func("/log/journald/fields", test_journald_fields);
  g_test_add_func("/log/threads", test_threads);

  {
    int rc = g_test_run();
    ecsa_log_shutdown();
    g_ptr_array_unref(capture.lines);
    return rc;
  }
}
