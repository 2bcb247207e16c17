/* ecsa-proxy.h: the HTTP proxy of the agent's own connections, from the environment, as v1.16.2
 * chose it (Go's net/http ProxyFromEnvironment, for the ECS API, ACS, TCS and ECR).
 *
 * - https (and wss) URLs use HTTPS_PROXY (or https_proxy), else HTTP_PROXY (or http_proxy); http
 *   (and ws) URLs use HTTP_PROXY. The upper-case name wins when both are set.
 * - A value without a scheme ("proxy.local:3128") means http://. socks5:// proxies work too.
 * - Never proxied: "localhost" and loopback addresses, and the hosts NO_PROXY (or no_proxy) names:
 *   a comma-separated list where "*" means every host, "example.com" matches it and its subdomains,
 *   ".example.com" its subdomains and itself; a ":port" in an entry is ignored. Names are compared
 *   without case.
 * - NO_PROXY unset: v1.16.2 meant to exclude 169.254.169.254 (instance metadata), 169.254.170.2
 *   (task credentials) and the Docker endpoint's host (wsclient: "Ensure that NO_PROXY gets set"),
 *   but its setenv came after Go had cached the environment. Here they are excluded as it meant.
 *
 * Unlike GIO's default resolver, nothing is loaded for it (no libproxy, no GSettings) and it
 * behaves the same on every host.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ECSA_PROXY_DEFAULT_NO_PROXY "169.254.169.254,169.254.170.2"

#define ECSA_TYPE_PROXY_RESOLVER (ecsa_proxy_resolver_get_type ())
G_DECLARE_FINAL_TYPE (EcsaProxyResolver, ecsa_proxy_resolver, ECSA, PROXY_RESOLVER, GObject)

/* A resolver for these values (NULL or "": unset). `no_proxy` NULL means the default above, with
 * `docker_host` (a host name or address, may be NULL) added. */
EcsaProxyResolver *ecsa_proxy_resolver_new (const char *http_proxy, const char *https_proxy, const char *no_proxy,
                                            const char *docker_host);

/* The resolver for the process's environment (read once; `docker_endpoint` is the configured
 * DOCKER_HOST URL, e.g. "unix:///var/run/docker.sock", whose host is excluded when NO_PROXY is
 * unset). A new reference. */
GProxyResolver *ecsa_proxy_resolver_get_default (const char *docker_endpoint);

/* What the agent's connections use: the default resolver above when HTTP_PROXY or HTTPS_PROXY
 * (or their lower-case forms) is set, else NULL (a new reference, or NULL). A SoupSession whose
 * "proxy-resolver" is NULL, or a GSocketClient with proxies disabled, connects directly without any
 * proxy lookup: with a resolver, GIO builds a GProxyAddressEnumerator for every connection, and that
 * instantiates GIO's own default resolver first, loading every proxy module installed
 * (glib-networking's libproxy and GNOME ones: libproxy brings libstdc++), even to pick the inert
 * one. So a host without a proxy loads none of it. */
GProxyResolver *ecsa_proxy_resolver_get_for_connections (const char *docker_endpoint);
/* The proxy URI for `uri` ("http://proxy:3128"), or NULL for a direct connection. */
char *ecsa_proxy_resolver_lookup_uri (EcsaProxyResolver *self, const char *uri);

/* GIO creates its own default resolver for every connection it makes (a GProxyAddressEnumerator
 * is built with it before the agent's resolver replaces it), although the agent never resolves
 * with it. On a host with the desktop's modules that instantiates libproxy, or GNOME's resolver
 * with GSettings and dconf: two threads, about 150 KiB, and a read of the user's dconf database.
 * This makes it GIO's inert "dummy" one (GIO_USE_PROXY_RESOLVER=dummy) unless the environment
 * already chose. Call first thing in main(), before any thread (it sets an environment variable). */
void ecsa_proxy_use_inert_system_resolver (void);

G_END_DECLS
