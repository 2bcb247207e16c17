/* ecsa-test-plugins.h: helpers for the plugin tests (log drivers, registry auth).
 *
 *  - a test EcsaPluginHost (config, logging, timers, instance credentials, SigV4), so a plugin runs
 *    through its static library and ecsa_plugin_<id>_get_descriptor() without the loader;
 *  - capture of every log line (g_log and host->log) to assert that no secret was logged;
 *  - SigV4 signing and verification (the core's ecsa-sigv4);
 *  - HTTP fakes (SoupServer) running in their own thread, recording requests;
 *  - a synchronous Docker Engine API client for test set-up and checks;
 *  - the real registry (Debian's docker-registry, htpasswd + TLS) in a network namespace;
 *  - iptables guards (169.254.0.0/16 REJECT) and the 169.254.170.2 redirect.
 * Every name created carries ecsa_test_plugins_prefix() ("ecsa-t<pid>-plugins") and is removed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* g_test_init + log capture. Call first in main(). */
void ecsa_test_plugins_init (int *argc, char ***argv);
const char *ecsa_test_plugins_prefix (void);

/* Fails the test if any captured log line contains `secret`. */
void ecsa_test_assert_no_secret (const char *secret);
/* TRUE when some captured log line contains `fragment`. */
gboolean ecsa_test_log_contains (const char *fragment);
void ecsa_test_log_clear (void);

/* ---- the test host ------------------------------------------------------------------------- */
typedef struct
{
  EcsaPluginHost host; /* first: plugins get &h->host */
  GHashTable *config;  /* char* -> char* */
  char *region;
  /* what aws_credentials_async answers; access_key_id NULL: an error */
  char *access_key_id;
  char *secret_access_key;
  char *session_token;
  guint aws_credentials_calls;
  guint sigv4_calls;
} EcsaTestHost;

EcsaTestHost *ecsa_test_host_new (void);
void ecsa_test_host_free (EcsaTestHost *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestHost, ecsa_test_host_free)
void ecsa_test_host_set_config (EcsaTestHost *h, const char *key, const char *value);
void ecsa_test_host_set_region (EcsaTestHost *h, const char *region);
void ecsa_test_host_set_instance_credentials (EcsaTestHost *h, const char *access_key_id, const char *secret,
                                              const char *token);

/* ---- plugin descriptors ----------------------------------------------------------------------- */
/* The common checks on a descriptor: ABI, size, kind, name, capabilities, vtable version, reserved. */
void ecsa_test_check_descriptor (const EcsaPluginDescriptor *d, EcsaPluginKind kind, const char *name,
                                 const char *const *capabilities);

/* A loaded plugin: init() with `host`; shutdown() on free. */
typedef struct
{
  const EcsaPluginDescriptor *desc;
  gpointer state;
} EcsaTestPlugin;
EcsaTestPlugin *ecsa_test_plugin_init (const EcsaPluginDescriptor *d, EcsaTestHost *host, GError **error);
void ecsa_test_plugin_free (EcsaTestPlugin *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestPlugin, ecsa_test_plugin_free)

/* An option map (owning keys and values) from "k", "v", ..., NULL. */
GHashTable *ecsa_test_options_new (const char *const *kv);

/* fill_defaults (when set) then validate_options, as the core does before a create. */
gboolean ecsa_test_log_prepare (EcsaTestPlugin *p, const EcsaTaskView *task, const EcsaContainerView *container,
                                GHashTable *options, GError **error);

/* Table-driven option checks: each case is registered as "<prefix>/<name>". */
typedef struct
{
  const char *name;
  const char *const *options;  /* k, v, ..., NULL */
  const char *error_fragment;  /* NULL: the options must be accepted */
  const char *secret;          /* when set, must not appear in the error */
} EcsaTestLogCase;
void ecsa_test_add_log_cases (const char *prefix, const EcsaPluginDescriptor *d, const EcsaTestLogCase *cases,
                              guint n_cases);

/* A task view with one container, for fill_defaults. */
typedef struct
{
  EcsaTaskView task;
  EcsaContainerView container;
  const EcsaContainerView *containers[2];
  GHashTable *log_options;
} EcsaTestTaskView;
void ecsa_test_task_view_init (EcsaTestTaskView *v, const char *arn, const char *container_name,
                               const char *execution_credentials_id, const char *logs_auth_strategy);
void ecsa_test_task_view_clear (EcsaTestTaskView *v);

/* Wait on the default main context until *flag, or fail after timeout_ms naming `what`. */
void ecsa_test_wait (const gboolean *flag, guint timeout_ms, const char *what);

/* Registry-auth call, run to completion on the main context. */
EcsaRegistryCredentials *ecsa_test_get_credentials (EcsaTestPlugin *p, const EcsaAuthRequest *req, GError **error);

/* ---- SigV4 (core/ecsa-sigv4) ------------------------------------------------------------------ */
gboolean ecsa_test_sigv4_sign (SoupMessage *msg, GBytes *body, const char *service, const char *region,
                               const EcsaAwsCredentials *credentials, GError **error);
/* Verify a received request. `secret_for_key` maps access key IDs to "<secret>" or
 * "<secret>\n<session token>" (a token is then required). On success
 * *out_access_key_id and *out_scope ("<date>/<region>/<service>/aws4_request") are set. */
gboolean ecsa_test_sigv4_verify (const char *method, const char *path, const char *query,
                                 SoupMessageHeaders *headers, GBytes *body, GHashTable *secret_for_key,
                                 char **out_access_key_id, char **out_scope, GError **error);

/* ---- HTTP fakes in a thread ------------------------------------------------------------------- */
typedef struct
{
  char *method;
  char *path;
  char *query; /* NULL when none */
  SoupMessageHeaders *headers;
  GBytes *body;
} EcsaTestHttpRequest;

typedef struct _EcsaTestHttpServer EcsaTestHttpServer;

/* Called in the server's thread for each request; set *out_status and *out_body (and the content
 * type). user_data must be safe to read from that thread. */
typedef void (*EcsaTestHttpHandler) (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type,
                                     GBytes **out_body, gpointer user_data);

/* Listen on 127.0.0.1:port (0: ephemeral); tls_cert/tls_key: PEM files for HTTPS, or NULL. */
EcsaTestHttpServer *ecsa_test_http_server_new (guint port, const char *tls_cert, const char *tls_key,
                                               EcsaTestHttpHandler handler, gpointer user_data);
guint ecsa_test_http_server_get_port (EcsaTestHttpServer *s);
char *ecsa_test_http_server_get_url (EcsaTestHttpServer *s); /* "http://127.0.0.1:<port>" */
/* Wait (not on the main context) until n requests arrived; fails the test after timeout_ms. */
void ecsa_test_http_server_wait (EcsaTestHttpServer *s, guint n, guint timeout_ms);
/* Same, while iterating the default main context (for async code under test). */
void ecsa_test_http_server_wait_iterating (EcsaTestHttpServer *s, guint n, guint timeout_ms);
guint ecsa_test_http_server_count (EcsaTestHttpServer *s);
/* A copy of request i (free with ecsa_test_http_request_free). */
EcsaTestHttpRequest *ecsa_test_http_server_get (EcsaTestHttpServer *s, guint i);
void ecsa_test_http_server_free (EcsaTestHttpServer *s);
void ecsa_test_http_request_free (EcsaTestHttpRequest *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestHttpRequest, ecsa_test_http_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestHttpServer, ecsa_test_http_server_free)

/* ---- Docker (synchronous, for tests) ---------------------------------------------------------- */
/* TRUE when dockerd answers /_ping. Tests that need it fail (not skip) when it does not. */
void ecsa_test_require_docker (void);
/* One Engine API call; `path` without the version prefix. Returns the body (maybe empty). */
GBytes *ecsa_test_docker_call (const char *method, const char *path, const char *json_body,
                               const char *registry_auth, guint *out_status);
JsonNode *ecsa_test_docker_json (const char *method, const char *path, const char *json_body, guint *out_status);
/* The X-Registry-Auth header for credentials (URL-safe, padded base64 of the JSON). */
char *ecsa_test_registry_auth_header (const EcsaRegistryCredentials *c);
/* Pull (c may be NULL). TRUE on success; else *out_message holds Docker's error. */
gboolean ecsa_test_docker_pull (const char *image, const EcsaRegistryCredentials *c, char **out_message);
gboolean ecsa_test_docker_push (const char *image, const EcsaRegistryCredentials *c, char **out_message);
void ecsa_test_docker_tag (const char *source, const char *repo, const char *tag);
void ecsa_test_docker_remove_image (const char *image);
/* Create a container running `sh -c script` in the test image with a LogConfig. Returns the ID,
 * or NULL with *out_message holding Docker's error. */
char *ecsa_test_docker_create (const char *name, const char *script, const char *log_type, GHashTable *log_options,
                               char **out_message);
gboolean ecsa_test_docker_start (const char *id, char **out_message);
gint ecsa_test_docker_wait (const char *id);
char *ecsa_test_docker_logs (const char *id); /* stdout+stderr, demultiplexed; NULL on error */
void ecsa_test_docker_remove_container (const char *id);

/* A private CA (dir/ca.pem) and a server certificate it signed (dir/server.pem, dir/server.key) for
 * `ip` and 127.0.0.1, made with certtool. */
void ecsa_test_plugins_make_certificates (const char *dir, const char *ip);

/* ---- the registry in a network namespace ------------------------------------------------------ */
typedef struct
{
  char *netns;
  char *veth_host;
  char *host_ip;
  char *registry_ip;
  char *address;   /* "<registry_ip>:5000" */
  char *workdir;
  char *certs_dir; /* /etc/docker/certs.d/<address> */
  GSubprocess *process;
} EcsaTestPluginsRegistry;

/* users: "user", "password", ..., NULL. Pushes the test image as <address>/<prefix>/busybox:latest
 * with the first user's credentials and removes the local copy. */
EcsaTestPluginsRegistry *ecsa_test_plugins_registry_start (const char *const *users);
char *ecsa_test_plugins_registry_image (EcsaTestPluginsRegistry *r); /* "<address>/<prefix>/busybox:latest" */
void ecsa_test_plugins_registry_stop (EcsaTestPluginsRegistry *r);

/* ---- host network guards ---------------------------------------------------------------------- */
/* REJECT 169.254.0.0/16 (except the local task bridges 169.254.172.0/22) in OUTPUT and FORWARD,
 * so nothing under test can reach the instance metadata service. */
void ecsa_test_guard_link_local (void);
void ecsa_test_unguard_link_local (void);
/* Redirect 169.254.170.2:80 (the credentials endpoint) to 127.0.0.1:51679 for host processes. */
void ecsa_test_redirect_credentials_endpoint (void);
void ecsa_test_unredirect_credentials_endpoint (void);

/* Run `script` (sh) when this process ends, however it ends (an assertion, a kill, a meson
 * timeout): a watchdog in its own session waits on a pipe that only this process holds open.
 * Scripts must be idempotent and quiet: they also run after a clean teardown. */
void ecsa_test_on_exit (const char *script);
/* On exit: remove the containers this process created (label ecsa-test=<prefix>). */
void ecsa_test_remove_containers_on_exit (void);

/* Run a command; fails the test when it fails (unless may_fail). Returns stdout. */
char *ecsa_test_run (gboolean may_fail, const char *const *argv);

G_END_DECLS
