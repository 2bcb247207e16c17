/* ecsa-docker-auth.h: ECS_ENGINE_AUTH_DATA for the "docker" and "dockercfg" auth plugins.
 *
 * Formats, as agent v1.16.2 documents them (agent/engine/dockerauth/doc.go):
 *   docker:    {"my.registry.example.com": {"username": "u", "password": "p", "email": "e"},
 *               "https://index.docker.io/v1/": {...}}
 *   dockercfg: the contents of a ~/.dockercfg: {"https://myregistry.com/v1/": {"auth": "<base64 user:pass>",
 *               "email": "e"}}; the newer ~/.docker/config.json wrapper {"auths": {...}} is accepted too.
 * Keys are registry URLs: an http:// or https:// prefix is dropped, the host is compared without
 * case; "docker.io", "index.docker.io" and "registry-1.docker.io" all name Docker Hub.
 *
 * Matching an image (v1.16.2's rules, made deterministic): Docker Hub images (no registry host in
 * the name, or one of the Hub's names) use the Hub's entry; other images use the longest key that
 * is a prefix of the image at a path boundary ("registry.tld/team" for "registry.tld/team/app:1"),
 * else the key equal to the image's registry host, else any key on that host. No match: anonymous.
 *
 * Errors never quote a secret: they name ECS_ENGINE_AUTH_DATA, the registry key and the field.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef struct _EcsaDockerAuthMap EcsaDockerAuthMap;

/* Called for an entry that is skipped (v1.16.2 skips malformed dockercfg entries and goes on). */
typedef void (*EcsaDockerAuthWarnFunc) (const char *message, gpointer user_data);

/* auth_type is "docker" or "dockercfg". Returns NULL with ECSA_ERROR_INVALID_DATA when the data
 * as a whole is unusable. */
EcsaDockerAuthMap *ecsa_docker_auth_map_parse (const char *auth_type, const char *data, EcsaDockerAuthWarnFunc warn,
                                               gpointer warn_data, GError **error);
void ecsa_docker_auth_map_free (EcsaDockerAuthMap *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaDockerAuthMap, ecsa_docker_auth_map_free)

guint ecsa_docker_auth_map_size (const EcsaDockerAuthMap *map);

/* Credentials for pulling `image`, or NULL for an anonymous pull. Free with
 * ecsa_registry_credentials_free(). */
EcsaRegistryCredentials *ecsa_docker_auth_map_lookup (const EcsaDockerAuthMap *map, const char *image);

/* The registry host of an image reference as Docker splits it ("docker.io" for Hub images). */
char *ecsa_docker_auth_image_registry (const char *image);

/* Overwrite a string's bytes with zeros (before freeing a secret). NULL is fine. */
void ecsa_docker_auth_wipe (char *secret);

G_END_DECLS
