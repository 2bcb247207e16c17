/* ecsa-log.c: the log writer (levels, stdout + ECS_LOGFILE, redaction, journald fields).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log.h"

#include "ecsa-utils.h"

#include <json-glib/json-glib.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_FILE_KEEP 24 /* archives kept, as seelog's maxrolls="24" in agent v1.16.2 */
#define SECRET_MIN_LEN 4

typedef struct
{
  char *value;
  guint refs;
} Secret;

/* All state is behind `lock`: GTask threads log too. */
static GMutex lock;
static _Thread_local gboolean in_writer; /* this thread is inside ecsa_log_writer() */
static gboolean initialized;
static int level = ECSA_LOG_INFO;
static int console_fd = STDOUT_FILENO;
static char *file_path;
static int file_fd = -1;
static gint64 file_hour = -1; /* unix hours of the period file_fd belongs to */
static char *journal_socket;  /* explicit (tests) */
static gboolean journal_detected;
static int journal_fd = -1;
static GPtrArray *secrets; /* Secret*, longest first */
static EcsaLogCaptureFunc capture_func;
static gpointer capture_data;

/* ---------------------------------------------------------------------------------------------
 * Levels
 * ------------------------------------------------------------------------------------------- */
static const char *const level_names[] = { "crit", "error", "warn", "info", "debug" };
static const char *const level_labels[] = { "CRITICAL", "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_priorities[] = { "2", "3", "4", "6", "7" }; /* syslog(3) */

gboolean
ecsa_log_level_from_string(const char *text, int *out_level)
{
  static const struct
  {
    const char *name;
    int level;
  } names[] = {
    { "crit", ECSA_LOG_CRIT },   { "critical", ECSA_LOG_CRIT },   { "error", ECSA_LOG_ERROR },
    { "warn", ECSA_LOG_WARN },   { "warning", ECSA_LOG_WARN },    { "info", ECSA_LOG_INFO },
    { "debug", ECSA_LOG_DEBUG }, { "none", ECSA_LOG_LEVEL_NONE }, { "off", ECSA_LOG_LEVEL_NONE },
  };

  const char *start = text;
  gsize len;

  if (text == NULL)
    return FALSE;
  while (g_ascii_isspace(*start))
    start++;
  len = strlen(start);
  while (len > 0 && g_ascii_isspace(start[len - 1]))
    len--;
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
    {
      if (strlen(names[i].name) == len && g_ascii_strncasecmp(start, names[i].name, len) == 0)
        {
          *out_level = names[i].level;
          return TRUE;
        }
    }
  return FALSE;
}

const char *
ecsa_log_level_to_string(int lvl)
{
  if (lvl < ECSA_LOG_CRIT || lvl > ECSA_LOG_DEBUG)
    return "none";
  return level_names[lvl];
}

void
ecsa_log_set_level(int lvl)
{
  g_return_if_fail(lvl >= ECSA_LOG_LEVEL_NONE && lvl <= ECSA_LOG_DEBUG);
  g_atomic_int_set(&level, lvl);
}

int
ecsa_log_get_level(void)
{
  return g_atomic_int_get(&level);
}

gboolean
ecsa_log_level_enabled(EcsaLogLevel lvl)
{
  return (int)lvl <= g_atomic_int_get(&level);
}

static EcsaLogLevel
level_from_glib(GLogLevelFlags flags)
{
  if (flags & G_LOG_LEVEL_ERROR)
    return ECSA_LOG_CRIT;
  if (flags & G_LOG_LEVEL_CRITICAL)
    return ECSA_LOG_ERROR;
  if (flags & G_LOG_LEVEL_WARNING)
    return ECSA_LOG_WARN;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return ECSA_LOG_INFO;
  return ECSA_LOG_DEBUG;
}

static GLogLevelFlags
level_to_glib(EcsaLogLevel lvl)
{
  switch (lvl)
    {
    case ECSA_LOG_CRIT: /* not G_LOG_LEVEL_ERROR: that one aborts */
    case ECSA_LOG_ERROR:
      return G_LOG_LEVEL_CRITICAL;
    case ECSA_LOG_WARN:
      return G_LOG_LEVEL_WARNING;
    case ECSA_LOG_INFO:
      return G_LOG_LEVEL_INFO;
    case ECSA_LOG_DEBUG:
    default:
      return G_LOG_LEVEL_DEBUG;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Redaction
 * ------------------------------------------------------------------------------------------- */
typedef struct
{
  GRegex *aws_key_id;   /* AKIA.../ASIA... */
  GRegex *secret_key;   /* 40 base64 characters, mixed case */
  GRegex *json_member;  /* "key": "value" */
  GRegex *json_escaped; /* \"key\": \"value\" (JSON inside a JSON string) */
  GRegex *header;       /* Authorization: ... to the end of the line */
  GRegex *key_value;    /* key=value, key: value */
  GRegex *url_password; /* scheme://user:password@ */
} Patterns;

/* Runs on a thread of its own: PCRE2's compiler takes about 20 KiB of stack, and a thread's stack
 * goes when the thread ends, while the main thread's pages, once touched, stay for good. */
static gpointer
compile_patterns(gpointer data)
{
  Patterns *pp = data;
  Patterns p = { 0 };

  /* Interpreted, not JIT-compiled (G_REGEX_OPTIMIZE): PCRE2's JIT maps writable and
   * executable memory (64 KiB, half of it resident for these seven). may_match() keeps most
   * lines away from the regexes. */
  const GRegexCompileFlags f = 0;
  p.aws_key_id = g_regex_new("(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16}"
                             "(?![A-Z0-9])",
                             f, 0, NULL);
  p.secret_key = g_regex_new("(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", f, 0, NULL);
  p.json_member = g_regex_new("\"([^\"\\\\]{1,128})\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"", f, 0, NULL);
  p.json_escaped
    = g_regex_new("\\\\\"([^\"\\\\]{1,128})\\\\\"\\s*:\\s*\\\\\"((?:[^\"\\\\]|\\\\[^\"])*)\\\\\"", f, 0, NULL);
  p.header = g_regex_new("(?<![A-Za-z0-9_-])((?:proxy-)?authorization|x-amz-security-token|x-amz-signature|"
                         "x-amz-credential|x-registry-auth)([ \\t]*:[ \\t]*)([^\\r\\n]*)",
                         f | G_REGEX_CASELESS, 0, NULL);
  /* Only keys that may name a secret are matched (the callback decides): a match consumes its
   * value, and must not swallow a secret's key=value that follows an ordinary one. */
  p.key_value = g_regex_new("(?<![A-Za-z0-9_.-])(?=[A-Za-z0-9_.-]*(?i:pass|pwd|secret|token|signature|private|"
                            "session|credential|auth|access|apikey))([A-Za-z][A-Za-z0-9_.-]{0,127})(\\s*[=:]\\s*)"
                            "(\"(?:[^\"\\\\]|\\\\.)*\"|'[^']*'|[^\\s&,;\"'(){}\\[\\]<>]+)",
                            f, 0, NULL);
  p.url_password = g_regex_new("([A-Za-z][A-Za-z0-9+.-]*://[^/\\s:@]+):([^/\\s@]+)@", f, 0, NULL);
  *pp = p;
  return NULL;
}

static const Patterns *
patterns_get(void)
{
  static Patterns p;
  static gsize once;

  if (g_once_init_enter(&once))
    {
      g_thread_join(g_thread_new("ecsa-regex", compile_patterns, &p));
      g_assert(p.aws_key_id && p.secret_key && p.json_member && p.json_escaped && p.header && p.key_value
               && p.url_password);
      g_once_init_leave(&once, 1);
    }
  return &p;
}

/* Does this key (JSON member, variable, header or option name) name a secret? */
static gboolean
key_is_secret(const char *key, gssize len)
{
  static const char *const contains[]
    = { "password", "passwd", "secret", "token", "signature", "privatekey", "xamzcredential", "sessionkey" };
  static const char *const suffixes[]
    = { "auth", "authdata", "authorization", "apikey", "accesskey", "accesskeyid", "passphrase" };
  static const char *const exact[] = { "pass", "pwd" };
  const char *end = len < 0 ? key + strlen(key) : key + len;
  g_autofree char *compact = g_malloc((gsize)(end - key) + 1);
  gsize n = 0;

  for (const char *c = key; c < end; c++)
    if (g_ascii_isalnum(*c))
      compact[n++] = g_ascii_tolower(*c);
  compact[n] = '\0';
  if (n == 0)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS(contains); i++)
    if (strstr(compact, contains[i]) != NULL)
      return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS(suffixes); i++)
    if (g_str_has_suffix(compact, suffixes[i]))
      return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS(exact); i++)
    if (strcmp(compact, exact[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
replace_all_cb(const GMatchInfo *info, GString *result, gpointer user_data)
{
  g_string_append(result, ECSA_LOG_REDACTED);
  return FALSE;
}

static gboolean
replace_secret_key_cb(const GMatchInfo *info, GString *result, gpointer user_data)
{
  g_autofree char *m = g_match_info_fetch(info, 0);
  gboolean upper = FALSE, lower = FALSE, other = FALSE;

  for (const char *c = m; *c; c++)
    {
      upper |= g_ascii_isupper(*c);
      lower |= g_ascii_islower(*c);
      other |= g_ascii_isdigit(*c) || *c == '/' || *c == '+';
    }
  g_string_append(result, (upper && lower && other) ? ECSA_LOG_REDACTED : m);
  return FALSE;
}

/* Redact the value (group `value_group`) of every match whose key (group 1) names a secret, or of
 * every match when `any_key`. A match whose key does not name a secret is skipped past its key only:
 * its value is scanned again, so an ordinary key can never hide a secret key=value behind it (and
 * redacting twice changes nothing). Quotes around a value are kept. */
static char *
replace_keyed(GRegex *re, char *text, int value_group, gboolean any_key)
{
  const gssize len = (gssize)strlen(text);
  GString *out = NULL;
  gssize copied = 0, start = 0;

  while (start <= len)
    {
      g_autoptr(GMatchInfo) info = NULL;
      g_autofree char *key = NULL;
      int kstart, kend, vstart, vend;

      if (!g_regex_match_full(re, text, len, (int)start, 0, &info, NULL))
        break;
      g_match_info_fetch_pos(info, 1, &kstart, &kend);
      g_match_info_fetch_pos(info, value_group, &vstart, &vend);
      if (vend - vstart >= 2 && (text[vstart] == '"' || text[vstart] == '\'') && text[vend - 1] == text[vstart])
        {
          vstart++;
          vend--;
        }
      key = g_strndup(text + kstart, (gsize)(kend - kstart));
      if ((any_key || key_is_secret(key, -1)) && vend > vstart
          && !(vend - vstart == (int)strlen(ECSA_LOG_REDACTED)
               && strncmp(text + vstart, ECSA_LOG_REDACTED, strlen(ECSA_LOG_REDACTED)) == 0))
        {
          if (out == NULL)
            out = g_string_sized_new((gsize)len + 16);
          g_string_append_len(out, text + copied, vstart - copied);
          g_string_append(out, ECSA_LOG_REDACTED);
          copied = vend;
          start = vend;
        }
      else
        start = kend > start ? kend : start + 1;
    }
  if (out == NULL)
    return text;
  g_string_append(out, text + copied);
  g_free(text);
  return g_string_free(out, FALSE);
}

static gboolean
replace_url_password_cb(const GMatchInfo *info, GString *result, gpointer user_data)
{
  g_autofree char *prefix = g_match_info_fetch(info, 1);

  g_string_append_printf(result, "%s:" ECSA_LOG_REDACTED "@", prefix);
  return FALSE;
}

static char *
regex_replace(GRegex *re, char *text, GRegexEvalCallback cb, gpointer data)
{
  char *out = g_regex_replace_eval(re, text, -1, 0, 0, cb, data, NULL);

  if (out == NULL) /* invalid UTF-8 is matched byte-wise by the caller's sanitising; keep text */
    return text;
  g_free(text);
  return out;
}

/* Necessary conditions, cheap to test, for a rule to match: a rule whose condition fails cannot
 * match, and its regex is not run. Each is implied by its pattern in patterns_get(). */
typedef enum
{
  RULE_HEADER,
  RULE_JSON_MEMBER,
  RULE_JSON_ESCAPED,
  RULE_KEY_VALUE,
  RULE_URL_PASSWORD,
  RULE_AWS_KEY_ID,
  RULE_SECRET_KEY,
} Rule;

static gboolean
contains_any(const char *haystack, const char *const *needles)
{
  for (; *needles != NULL; needles++)
    if (strstr(haystack, *needles) != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
contains_any_ci(const char *text, const char *const *lower_needles)
{
  g_autofree char *lower = g_ascii_strdown(text, -1);

  return contains_any(lower, lower_needles);
}

/* The secret-key rule matches exactly 40 of [A-Za-z0-9/+] with none of those nor '=' on either
 * side: a maximal run of exactly 40, not next to '='. (Task ARNs and Docker IDs make longer runs.) */
static gboolean
has_secret_key_run(const char *text)
{
  gsize run = 0;

  for (const char *c = text;; c++)
    if (*c != '\0' && (g_ascii_isalnum(*c) || *c == '/' || *c == '+'))
      run++;
    else
      {
        if (run == 40 && *c != '=' && (c - 40 == text || c[-41] != '='))
          return TRUE;
        if (*c == '\0')
          return FALSE;
        run = 0;
      }
}

static gboolean
may_match(Rule rule, const char *text)
{
  /* The header rule is caseless in UTF-8 mode, where U+017F matches "s" and U+212A "k": its
   * words are cut before any "s" or "k". The key-value rule's key is ASCII ([A-Za-z0-9_.-]). */
  static const char *const header_words[] = { "authorization", "x-amz-", "x-regi", NULL };
  static const char *const key_words[] = { "pass",    "pwd",        "secret", "token",  "signature", "private",
                                           "session", "credential", "auth",   "access", "apikey",    NULL };
  static const char *const key_id_prefixes[]
    = { "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA", NULL };

  switch (rule)
    {
    case RULE_HEADER:
      return strchr(text, ':') != NULL && contains_any_ci(text, header_words);
    case RULE_JSON_MEMBER:
      return strchr(text, ':') != NULL && strchr(text, '"') != NULL;
    case RULE_JSON_ESCAPED:
      return strchr(text, ':') != NULL && strstr(text, "\\\"") != NULL;
    case RULE_KEY_VALUE:
      return (strchr(text, '=') != NULL || strchr(text, ':') != NULL) && contains_any_ci(text, key_words);
    case RULE_URL_PASSWORD:
      return strstr(text, "://") != NULL && strchr(text, '@') != NULL;
    case RULE_AWS_KEY_ID:
      return contains_any(text, key_id_prefixes);
    case RULE_SECRET_KEY:
      return has_secret_key_run(text);
    default:
      return TRUE;
    }
}

static char *
replace_known_secrets_locked(const char *text)
{
  GString *s = NULL;

  if (secrets == NULL || secrets->len == 0)
    return g_strdup(text);
  s = g_string_new(text);
  for (guint i = 0; i < secrets->len; i++)
    {
      const Secret *secret = g_ptr_array_index(secrets, i);
      g_string_replace(s, secret->value, ECSA_LOG_REDACTED, 0);
    }
  return g_string_free(s, FALSE);
}

static char *
redact_locked(const char *text)
{
  const Patterns *p = patterns_get();
  char *out;

  if (text == NULL)
    return NULL;
  out = replace_known_secrets_locked(text);
  if (!g_utf8_validate(out, -1, NULL))
    {
      char *valid = g_utf8_make_valid(out, -1);
      g_free(out);
      out = valid;
    }
  /* One rule's replacement can bring a later match within reach of an earlier rule (a shorter
   * text): repeat until nothing changes, so that the result is stable (bounded). */
  for (int round = 0; round < 4; round++)
    {
      g_autofree char *before = g_strdup(out);

      if (may_match(RULE_HEADER, out))
        out = replace_keyed(p->header, out, 3, TRUE);
      if (may_match(RULE_JSON_MEMBER, out))
        out = replace_keyed(p->json_member, out, 2, FALSE);
      if (may_match(RULE_JSON_ESCAPED, out))
        out = replace_keyed(p->json_escaped, out, 2, FALSE);
      if (may_match(RULE_KEY_VALUE, out))
        out = replace_keyed(p->key_value, out, 3, FALSE);
      if (may_match(RULE_URL_PASSWORD, out))
        out = regex_replace(p->url_password, out, replace_url_password_cb, NULL);
      if (may_match(RULE_AWS_KEY_ID, out))
        out = regex_replace(p->aws_key_id, out, replace_all_cb, NULL);
      if (may_match(RULE_SECRET_KEY, out))
        out = regex_replace(p->secret_key, out, replace_secret_key_cb, NULL);
      if (strcmp(before, out) == 0)
        break;
    }
  return out;
}

char *
ecsa_log_redact(const char *text)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  return redact_locked(text);
}

static int
secret_cmp_longest_first(gconstpointer a, gconstpointer b)
{
  const Secret *sa = *(const Secret *const *)a;
  const Secret *sb = *(const Secret *const *)b;
  gsize la = strlen(sa->value), lb = strlen(sb->value);

  return la == lb ? strcmp(sa->value, sb->value) : (la > lb ? -1 : 1);
}

static void
secret_free(gpointer data)
{
  Secret *s = data;

  ecsa_free_secret(s->value);
  g_free(s);
}

void
ecsa_log_add_secret(const char *secret)
{
  g_autoptr(GMutexLocker) locker = NULL;
  Secret *s;

  if (secret == NULL || strlen(secret) < SECRET_MIN_LEN)
    return;
  locker = g_mutex_locker_new(&lock);
  if (secrets == NULL)
    secrets = g_ptr_array_new_with_free_func(secret_free);
  for (guint i = 0; i < secrets->len; i++)
    {
      Secret *known = g_ptr_array_index(secrets, i);
      if (strcmp(known->value, secret) == 0)
        {
          known->refs++;
          return;
        }
    }
  s = g_new0(Secret, 1);
  s->value = g_strdup(secret);
  s->refs = 1;
  g_ptr_array_add(secrets, s);
  g_ptr_array_sort(secrets, secret_cmp_longest_first);
}

static void
add_json_secrets(JsonNode *node, const char *key)
{
  if (JSON_NODE_HOLDS_OBJECT(node))
    {
      JsonObject *object = json_node_get_object(node);
      g_autoptr(GList) members = json_object_get_members(object);
      for (GList *l = members; l != NULL; l = l->next)
        add_json_secrets(json_object_get_member(object, l->data), l->data);
    }
  else if (JSON_NODE_HOLDS_ARRAY(node))
    {
      JsonArray *array = json_node_get_array(node);
      for (guint i = 0; i < json_array_get_length(array); i++)
        add_json_secrets(json_array_get_element(array, i), key);
    }
  else if (key != NULL && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
           && key_is_secret(key, -1))
    {
      const char *value = json_node_get_string(node);
      ecsa_log_add_secret(value);
      if (g_ascii_strcasecmp(key, "auth") == 0)
        {
          /* dockercfg: base64 of "user:password" */
          gsize len = 0;
          g_autofree guchar *decoded = g_base64_decode(value, &len);
          g_autofree char *text = decoded != NULL ? g_strndup((const char *)decoded, len) : NULL;
          const char *colon = text != NULL ? strchr(text, ':') : NULL;
          if (colon != NULL)
            ecsa_log_add_secret(colon + 1);
        }
    }
}

void
ecsa_log_add_secrets_from_json(const char *json)
{
  g_autoptr(JsonParser) parser = NULL;

  if (ecsa_str_empty(json))
    return;
  ecsa_log_add_secret(json);
  parser = json_parser_new_immutable();
  if (json_parser_load_from_data(parser, json, -1, NULL) && json_parser_get_root(parser) != NULL)
    add_json_secrets(json_parser_get_root(parser), NULL);
}

void
ecsa_log_remove_secret(const char *secret)
{
  g_autoptr(GMutexLocker) locker = NULL;

  if (secret == NULL || strlen(secret) < SECRET_MIN_LEN)
    return;
  locker = g_mutex_locker_new(&lock);
  for (guint i = 0; secrets != NULL && i < secrets->len; i++)
    {
      Secret *known = g_ptr_array_index(secrets, i);
      if (strcmp(known->value, secret) == 0)
        {
          if (--known->refs == 0)
            g_ptr_array_remove_index(secrets, i);
          return;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Outputs
 * ------------------------------------------------------------------------------------------- */
static void
write_all(int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write(fd, data, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return; /* nowhere left to report it */
        }
      data += n;
      len -= (gsize)n;
    }
}

static char *
archive_name(const char *path, gint64 hour)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(hour * 3600);
  g_autofree char *stamp = g_date_time_format(dt, "%Y-%m-%d-%H");

  return g_strdup_printf("%s.%s", path, stamp);
}

static gboolean
is_archive_of(const char *name, const char *base)
{
  gsize blen = strlen(base);

  /* base.YYYY-MM-DD-HH */
  if (strncmp(name, base, blen) != 0 || name[blen] != '.' || strlen(name + blen + 1) != 13)
    return FALSE;
  for (const char *c = name + blen + 1; *c; c++)
    if (!g_ascii_isdigit(*c) && *c != '-')
      return FALSE;
  return TRUE;
}

static int
archive_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
prune_archives_locked(void)
{
  g_autofree char *dirname = g_path_get_dirname(file_path);
  g_autofree char *base = g_path_get_basename(file_path);
  g_autoptr(GDir) dir = g_dir_open(dirname, 0, NULL);
  g_autoptr(GPtrArray) archives = g_ptr_array_new_with_free_func(g_free);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name(dir)) != NULL)
    if (is_archive_of(name, base))
      g_ptr_array_add(archives, g_strdup(name));
  if (archives->len <= LOG_FILE_KEEP)
    return;
  g_ptr_array_sort(archives, archive_cmp); /* the stamp sorts by time */
  for (guint i = 0; i + LOG_FILE_KEEP < archives->len; i++)
    {
      g_autofree char *victim = g_build_filename(dirname, g_ptr_array_index(archives, i), NULL);
      g_unlink(victim);
    }
}

static gboolean
open_file_locked(GError **error)
{
  struct stat st;
  g_autofree char *dirname = g_path_get_dirname(file_path);
  int fd;

  if (g_mkdir_with_parents(dirname, 0755) < 0)
    {
      int errsv = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "cannot create directory '%s': %s", dirname,
                  g_strerror(errsv));
      return FALSE;
    }
  fd = g_open(file_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "cannot open '%s': %s", file_path,
                  g_strerror(errsv));
      return FALSE;
    }
  file_fd = fd;
  /* A file left by an earlier run belongs to the hour it was last written in. */
  if (fstat(fd, &st) == 0 && st.st_size > 0)
    file_hour = st.st_mtime / 3600;
  else
    file_hour = g_get_real_time() / G_USEC_PER_SEC / 3600;
  return TRUE;
}

static void
roll_file_locked(gint64 now_hour)
{
  g_autofree char *archive = archive_name(file_path, file_hour);

  ecsa_clear_fd(&file_fd, NULL);
  if (g_rename(file_path, archive) < 0 && errno != ENOENT)
    {
      /* keep appending to the old file rather than losing lines */
    }
  if (!open_file_locked(NULL))
    return;
  file_hour = now_hour;
  prune_archives_locked();
}

gboolean
ecsa_log_set_file(const char *path, GError **error)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  ecsa_clear_fd(&file_fd, NULL);
  g_clear_pointer(&file_path, g_free);
  file_hour = -1;
  if (ecsa_str_empty(path))
    return TRUE;
  file_path = g_strdup(path);
  if (!open_file_locked(error))
    {
      g_clear_pointer(&file_path, g_free);
      return FALSE;
    }
  return TRUE;
}

void
ecsa_log_set_console(int fd)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  console_fd = fd;
}

void
ecsa_log_set_journal_socket(const char *path)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  g_clear_pointer(&journal_socket, g_free);
  ecsa_clear_fd(&journal_fd, NULL);
  journal_socket = g_strdup(path);
}

void
ecsa_log_set_capture(EcsaLogCaptureFunc func, gpointer user_data)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  capture_func = func;
  capture_data = user_data;
}

/* journald's native protocol: one datagram of KEY=VALUE lines; a value holding a newline is sent as
 * KEY\n<64-bit little-endian length><value>\n. */
static void
journal_append_field(GString *dgram, const char *key, const char *value, gssize len)
{
  gsize n = len < 0 ? strlen(value) : (gsize)len;

  if (memchr(value, '\n', n) == NULL)
    {
      g_string_append(dgram, key);
      g_string_append_c(dgram, '=');
      g_string_append_len(dgram, value, n);
      g_string_append_c(dgram, '\n');
    }
  else
    {
      guint64 le = GUINT64_TO_LE((guint64)n);
      g_string_append(dgram, key);
      g_string_append_c(dgram, '\n');
      g_string_append_len(dgram, (const char *)&le, sizeof le);
      g_string_append_len(dgram, value, n);
      g_string_append_c(dgram, '\n');
    }
}

static gboolean
journal_send_locked(const GString *dgram)
{
  const char *path = journal_socket != NULL ? journal_socket : "/run/systemd/journal/socket";
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  if (strlen(path) >= sizeof addr.sun_path)
    return FALSE;
  strcpy(addr.sun_path, path);
  if (journal_fd < 0)
    journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (journal_fd < 0)
    return FALSE;
  return sendto(journal_fd, dgram->str, dgram->len, MSG_NOSIGNAL, (struct sockaddr *)&addr, sizeof addr) >= 0;
}

/* ---------------------------------------------------------------------------------------------
 * The writer
 * ------------------------------------------------------------------------------------------- */
static gboolean
domain_is_ours(const char *domain)
{
  return domain == NULL || g_str_has_prefix(domain, "ecsa");
}

/* GLib convention for other libraries' debug output: only when G_MESSAGES_DEBUG names the domain. */
static gboolean
foreign_debug_wanted(const char *domain)
{
  const char *env = g_getenv("G_MESSAGES_DEBUG");
  g_auto(GStrv) names = NULL;

  if (env == NULL)
    return FALSE;
  names = g_strsplit_set(env, " ,", -1);
  for (guint i = 0; names[i] != NULL; i++)
    if (strcmp(names[i], "all") == 0 || g_strcmp0(names[i], domain) == 0)
      return TRUE;
  return FALSE;
}

static char *
one_line(const char *text)
{
  GString *s = g_string_sized_new(strlen(text) + 8);

  for (const char *c = text; *c; c++)
    {
      switch (*c)
        {
        case '\n':
          g_string_append(s, "\\n");
          break;
        case '\r':
          g_string_append(s, "\\r");
          break;
        case '\t':
          g_string_append_c(s, ' ');
          break;
        default:
          if ((guchar)*c < 0x20 || *c == 0x7f)
            g_string_append_printf(s, "\\x%02x", (guchar)*c);
          else
            g_string_append_c(s, *c);
        }
    }
  return g_string_free(s, FALSE);
}

static gboolean
stdout_is_journal(void)
{
  const char *env = g_getenv("JOURNAL_STREAM");
  struct stat st;
  guint64 dev, ino;

  if (env == NULL || sscanf(env, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, &dev, &ino) != 2)
    return FALSE;
  if (fstat(STDOUT_FILENO, &st) < 0)
    return FALSE;
  return (guint64)st.st_dev == dev && (guint64)st.st_ino == ino;
}

static void
emit_locked(EcsaLogLevel lvl, const char *domain, const char *message, const GLogField *fields, gsize n_fields)
{
  g_autofree char *redacted = redact_locked(message != NULL ? message : "");
  g_autofree char *flat = one_line(redacted);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *line = NULL;
  gboolean sent_to_journal = FALSE;

  /* The core's own domain is implied; any other (a plugin, GLib, libsoup) is named. */
  if (domain == NULL || strcmp(domain, "ecsa") == 0)
    line = g_strdup_printf("%s [%s] %s\n", stamp, level_labels[lvl], flat);
  else
    line = g_strdup_printf("%s [%s] %s: %s\n", stamp, level_labels[lvl], domain, flat);

  if (journal_socket != NULL || journal_detected)
    {
      g_autoptr(GString) dgram = g_string_sized_new(256);

      journal_append_field(dgram, "MESSAGE", redacted, -1);
      journal_append_field(dgram, "PRIORITY", level_priorities[lvl], -1);
      journal_append_field(dgram, "SYSLOG_IDENTIFIER", "ecs-agent", -1);
      journal_append_field(dgram, ECSA_LOG_FIELD_LEVEL, level_names[lvl], -1);
      if (domain != NULL)
        journal_append_field(dgram, "GLIB_DOMAIN", domain, -1);
      for (gsize i = 0; i < n_fields; i++)
        {
          const char *key = fields[i].key;
          if (strcmp(key, "MESSAGE") == 0 || strcmp(key, "PRIORITY") == 0 || strcmp(key, "GLIB_DOMAIN") == 0
              || strcmp(key, ECSA_LOG_FIELD_LEVEL) == 0 || strcmp(key, "GLIB_OLD_LOG_API") == 0)
            continue;
          if (fields[i].length < 0)
            {
              g_autofree char *v = redact_locked(fields[i].value);
              journal_append_field(dgram, key, v, -1);
            }
          /* binary fields (length >= 0) are not forwarded: they cannot be redacted */
        }
      sent_to_journal = journal_send_locked(dgram);
    }

  if (console_fd >= 0 && !sent_to_journal)
    write_all(console_fd, line, strlen(line));
  if (file_fd >= 0)
    {
      gint64 now_hour = g_date_time_to_unix(now) / 3600;
      if (now_hour != file_hour)
        roll_file_locked(now_hour);
      if (file_fd >= 0)
        write_all(file_fd, line, strlen(line));
    }
  if (capture_func != NULL)
    capture_func(lvl, line, capture_data);
}

GLogWriterOutput
ecsa_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  g_autoptr(GMutexLocker) locker = NULL;
  const char *message = NULL, *domain = NULL, *ecsa_level = NULL;
  EcsaLogLevel lvl = level_from_glib(log_level);
  int parsed;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
        message = fields[i].value;
      else if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
        domain = fields[i].value;
      else if (strcmp(fields[i].key, ECSA_LOG_FIELD_LEVEL) == 0 && fields[i].length < 0)
        ecsa_level = fields[i].value;
    }
  if (ecsa_level != NULL && ecsa_log_level_from_string(ecsa_level, &parsed) && parsed >= ECSA_LOG_CRIT)
    lvl = parsed;
  if (!ecsa_log_level_enabled(lvl))
    return G_LOG_WRITER_HANDLED;
  if (lvl == ECSA_LOG_DEBUG && !domain_is_ours(domain) && !foreign_debug_wanted(domain))
    return G_LOG_WRITER_HANDLED;

  /* A library warning raised while this thread writes (GRegex, GDateTime...) would deadlock on
   * the lock: such nested events are dropped. */
  if (in_writer)
    return G_LOG_WRITER_HANDLED;
  in_writer = TRUE;
  locker = g_mutex_locker_new(&lock);
  emit_locked(lvl, domain, message, fields, n_fields);
  g_clear_pointer(&locker, g_mutex_locker_free);
  in_writer = FALSE;
  return G_LOG_WRITER_HANDLED;
}

void
ecsa_log_write(EcsaLogLevel lvl, const char *domain, const char *message)
{
  const GLogField fields[] = {
    { "MESSAGE", message != NULL ? message : "", -1 },
    { "GLIB_DOMAIN", domain != NULL ? domain : "ecsa", -1 },
    { ECSA_LOG_FIELD_LEVEL, ecsa_log_level_to_string(CLAMP((int)lvl, ECSA_LOG_CRIT, ECSA_LOG_DEBUG)), -1 },
  };

  if (!ecsa_log_level_enabled(lvl))
    return;
  g_log_structured_array(level_to_glib(lvl), fields, G_N_ELEMENTS(fields));
}

void
ecsa_log_at(EcsaLogLevel lvl, const char *domain, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (!ecsa_log_level_enabled(lvl))
    return;
  va_start(args, format);
  message = g_strdup_vprintf(format, args);
  va_end(args);
  ecsa_log_write(lvl, domain, message);
}

void
ecsa_log_gerror_at(EcsaLogLevel lvl, const char *domain, const GError *error, const char *format, ...)
{
  g_autofree char *prefix = NULL;
  g_autofree char *message = NULL;
  va_list args;

  if (error != NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!ecsa_log_level_enabled(lvl))
    return;
  va_start(args, format);
  prefix = g_strdup_vprintf(format, args);
  va_end(args);
  message = error != NULL ? g_strdup_printf("%s: %s", prefix, error->message) : g_steal_pointer(&prefix);
  ecsa_log_write(lvl, domain, message);
}

void
ecsa_log_init(void)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  if (initialized)
    return;
  initialized = TRUE;
  journal_detected = stdout_is_journal();
  patterns_get();
  g_log_set_writer_func(ecsa_log_writer, NULL, NULL);
}

void
ecsa_log_shutdown(void)
{
  g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&lock);

  ecsa_clear_fd(&file_fd, NULL);
  ecsa_clear_fd(&journal_fd, NULL);
  g_clear_pointer(&file_path, g_free);
  g_clear_pointer(&journal_socket, g_free);
  g_clear_pointer(&secrets, g_ptr_array_unref);
  file_hour = -1;
  console_fd = STDOUT_FILENO;
  capture_func = NULL;
  capture_data = NULL;
  g_atomic_int_set(&level, ECSA_LOG_INFO);
}
