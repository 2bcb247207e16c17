/* ecsa-registry-auth.h: the registry-auth plugin kind (ECSA_PLUGIN_KIND_REGISTRY_AUTH).
 *
 * Before pulling an image the core picks an auth plugin by type, as agent v1.16.2 does: the
 * container's registryAuthentication.type from ACS ("ecr") when present, else ECS_ENGINE_AUTH_TYPE
 * ("docker", "dockercfg"). The plugin returns credentials for that image, or NULL with no error for
 * an anonymous pull. The core sends them to Docker as X-Registry-Auth and never logs or stores them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_REGISTRY_AUTH_VTABLE_VERSION 1

/* What the core knows about one pull. Valid for the duration of get_credentials_async(); copy what
 * must outlive it. */
typedef struct
{
  guint32 struct_size;
  guint32 use_execution_role; /* boolean: ECR pull with the task's execution role */
  const char *image;          /* the image reference as in the task ("repo/name:tag") */
  const char *registry;       /* host[:port] of the registry, "index.docker.io" for Docker Hub */
  const char *auth_type;      /* the type that selected this plugin */
  /* ECR (registryAuthentication.ecrAuthData), NULL otherwise */
  const char *ecr_registry_id;
  const char *ecr_region;
  const char *ecr_endpoint_override;
  /* The execution role's credentials when use_execution_role, else NULL: the plugin asks
   * host->aws_credentials_async for the instance's. */
  const EcsaAwsCredentials *execution_credentials;
  const EcsaTaskView *task; /* may be NULL (a pull outside a task) */
} EcsaAuthRequest;

/* Credentials for one pull; secrets. Allocate with g_new0/g_strdup, set struct_size =
 * sizeof (EcsaRegistryCredentials); the core frees them with ecsa_registry_credentials_free()
 * (which wipes them). */
typedef struct
{
  guint32 struct_size;
  guint32 padding_;
  char *username;
  char *password;
  char *email;          /* optional */
  char *server_address; /* the registry as the credentials name it */
  char *identity_token; /* optional: an OAuth refresh token instead of username/password */
} EcsaRegistryCredentials;

static inline void
ecsa_registry_credentials_free (EcsaRegistryCredentials *c)
{
  char **fields[5];
  guint i;

  if (c == NULL)
    return;
  fields[0] = &c->username;
  fields[1] = &c->password;
  fields[2] = &c->email;
  fields[3] = &c->server_address;
  fields[4] = &c->identity_token;
  for (i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (*fields[i] != NULL)
        {
          volatile char *p = *fields[i];
          while (*p != '\0')
            *p++ = '\0';
          g_free (*fields[i]);
        }
    }
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaRegistryCredentials, ecsa_registry_credentials_free)

typedef struct
{
  guint32 version; /* ECSA_REGISTRY_AUTH_VTABLE_VERSION the plugin was built with */
  guint32 padding_;
  const char *auth_type; /* "ecr", "docker", "dockercfg": the type this plugin serves */

  /* since 1: credentials for req->image. The result is an EcsaRegistryCredentials* (NULL for an
   * anonymous pull); errors use ECSA_ERROR_AUTH (refused), ECSA_ERROR_RETRY (transient),
   * ECSA_ERROR_INVALID_DATA (bad auth data). Must not be NULL. */
  void (*get_credentials_async) (gpointer state, const EcsaAuthRequest *req, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
  EcsaRegistryCredentials *(*get_credentials_finish) (gpointer state, GAsyncResult *result, GError **error);

  /* since 1: the registry refused credentials this plugin gave for req: forget any cached copy.
   * May be NULL. */
  void (*invalidate) (gpointer state, const EcsaAuthRequest *req);

  gpointer reserved[4];
} EcsaRegistryAuthVTable;

#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (EcsaRegistryAuthVTable) == 72);
#endif

G_END_DECLS
