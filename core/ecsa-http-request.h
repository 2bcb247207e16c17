/* ecsa-http-request.h: reading HTTP request targets the way agent v1.16.2's servers (Go net/http)
 * read them, so that the credentials endpoint (51679) and the introspection API (51678) answer odd
 * requests with the same status codes.
 *
 * These are pure functions on untrusted input (fuzzed: tests/fuzz/fuzz-http-request.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Parse a raw (still percent-encoded) query string as Go's url.ParseQuery does: pairs are
 * separated by '&' or ';', "key" alone means an empty value, '+' is a space, a pair whose key or
 * value has a bad %-escape is skipped, and a decoded NUL byte makes the pair unusable (skipped).
 * Returns a table key -> first value (both owned by the table); never NULL. `raw_query` may be NULL. */
GHashTable *ecsa_http_query_parse(const char *raw_query);

/* Go's url.QueryUnescape: NULL when an escape is malformed or decodes to NUL. */
char *ecsa_http_query_unescape(const char *text, gssize length);

/* Go's ServeMux cleanPath: the canonical form of an absolute path ("//a/./b/../c/" -> "/a/c/").
 * The trailing slash is kept; "" becomes "/". */
char *ecsa_http_clean_path(const char *path);

/* Go's http.Redirect body for a GET or HEAD ("<a href=\"...\">Moved Permanently</a>.\n\n"), with
 * the location HTML-escaped. */
char *ecsa_http_redirect_body(const char *location);

/* A JSON string as Go's encoding/json writes it: HTML-safe (<, >, & as \u003c \u003e \u0026), U+2028
 * and U+2029 escaped, invalid UTF-8 replaced by \ufffd. Appended with its quotes. */
void ecsa_http_append_json_string(GString *out, const char *text);

/* A response computed by one of the servers' routers, before it goes on the wire. */
typedef struct
{
  guint status;
  char *content_type; /* NULL: no Content-Type (an empty body) */
  GBytes *body;       /* never NULL */
  char *location;     /* redirects only */
  gboolean nosniff;   /* X-Content-Type-Options: nosniff (Go's http.Error) */
} EcsaHttpResponse;

EcsaHttpResponse *ecsa_http_response_new(guint status, const char *content_type, GBytes *body);
EcsaHttpResponse *ecsa_http_response_new_text(guint status, const char *content_type, const char *text);
/* Go's ServeMux redirect: 301 to `location`, with the short HTML note for GET. */
EcsaHttpResponse *ecsa_http_response_new_redirect(const char *method, const char *location);
/* Go's NotFound: 404 "404 page not found\n". */
EcsaHttpResponse *ecsa_http_response_new_not_found(void);
void ecsa_http_response_free(EcsaHttpResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaHttpResponse, ecsa_http_response_free)

/* The canonical form of `path` differs from it: the 301 target ("<clean path>[?<raw query>]"),
 * else NULL. */
char *ecsa_http_redirect_target(const char *path, const char *raw_query);

/* Seconds a connection may stay silent (reading a request, or idle between two), like v1.16.2's 5 s
 * read and write timeouts. */
#define ECSA_HTTP_SERVER_TIMEOUT_S 5

/* A SoupServer for the agent's endpoints: no Server header, connections closed after
 * ECSA_HTTP_SERVER_TIMEOUT_S of silence. */
SoupServer *ecsa_http_server_new(void);

/* Connections waiting to be accepted (Go listens with the kernel's maximum; GLib's default is 10,
 * which drops SYNs when a burst of containers asks at once). */
#define ECSA_HTTP_LISTEN_BACKLOG 1024

/* Listen on `address` with ECSA_HTTP_LISTEN_BACKLOG. An IPv6 address listens on IPv6 only. Returns
 * the port actually bound (`address` may carry port 0), or 0 with `error` set. */
guint16 ecsa_http_server_listen(SoupServer *server, GSocketAddress *address, GError **error);

/* Listen now, or keep trying with v1.16.2's backoff (1 s .. 1 min, x2, 20% jitter): as in v1.16.2,
 * a port that is taken never stops the agent; each failure is logged (error), and the success after
 * one (info). `what` names the server in those lines. Freeing stops the retries. */
typedef gboolean (*EcsaHttpListenFunc)(gpointer server, GError **error);
typedef struct _EcsaHttpListenRetry EcsaHttpListenRetry;
EcsaHttpListenRetry *ecsa_http_listen_retry_start(const char *what, EcsaHttpListenFunc listen, gpointer server);
gboolean ecsa_http_listen_retry_is_listening(EcsaHttpListenRetry *retry);
void ecsa_http_listen_retry_free(EcsaHttpListenRetry *retry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaHttpListenRetry, ecsa_http_listen_retry_free)

/* Put `response` on `msg` (status, Content-Type, Location, body). */
void ecsa_http_response_apply(const EcsaHttpResponse *response, SoupServerMessage *msg);

/* The request's path (decoded) and raw query. libsoup puts the query into the path of an HTTP/1.0
 * request without a Host header; this splits it off again. */
void ecsa_http_request_target(SoupServerMessage *msg, char **out_path, char **out_raw_query);

/* "ip:port" of the client, as Go's Request.RemoteAddr. */
char *ecsa_http_remote_address(SoupServerMessage *msg);

G_END_DECLS
