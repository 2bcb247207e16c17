/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-auth.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#define HUB_KEY "index.docker.io/v1/"

typedef struct
{
  char *key;  /* normalised: no scheme, host in lower case */
  char *host; /* the key up to its first '/' */
  char *username;
  char *password;
  char *email;
  char *server_address;
} AuthEntry;

struct _EcsaDockerAuthMap
{
  GPtrArray *entries; /* AuthEntry* */
  AuthEntry *hub;     /* borrowed from entries, or NULL */
};

void
ecsa_docker_auth_wipe (char *secret)
{
  volatile char *p = secret;

  if (p == NULL)
    return;
  while (*p != '\0')
    *p++ = '\0';
}

static void
auth_entry_free (AuthEntry *e)
{
  if (e == NULL)
    return;
  ecsa_docker_auth_wipe (e->username);
  ecsa_docker_auth_wipe (e->password);
  ecsa_docker_auth_wipe (e->email);
  g_free (e->key);
  g_free (e->host);
  g_free (e->username);
  g_free (e->password);
  g_free (e->email);
  g_free (e->server_address);
  g_free (e);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuthEntry, auth_entry_free)

void
ecsa_docker_auth_map_free (EcsaDockerAuthMap *map)
{
  if (map == NULL)
    return;
  g_ptr_array_unref (map->entries);
  g_free (map);
}

guint
ecsa_docker_auth_map_size (const EcsaDockerAuthMap *map)
{
  return map->entries->len;
}

static gboolean
is_hub_host (const char *host)
{
  return g_strcmp0 (host, "docker.io") == 0 || g_strcmp0 (host, "index.docker.io") == 0
         || g_strcmp0 (host, "registry-1.docker.io") == 0;
}

/* "https://Registry.Example.com/v1/" -> key "registry.example.com/v1/", host "registry.example.com" */
static void
normalise_key (const char *raw, char **out_key, char **out_host)
{
  const char *rest = raw;
  const char *slash;
  g_autofree char *host = NULL;

  if (g_str_has_prefix (rest, "https://"))
    rest += strlen ("https://");
  else if (g_str_has_prefix (rest, "http://"))
    rest += strlen ("http://");
  slash = strchr (rest, '/');
  host = g_ascii_strdown (rest, slash != NULL ? (gssize) (slash - rest) : -1);
  *out_key = g_strconcat (host, slash != NULL ? slash : "", NULL);
  *out_host = g_steal_pointer (&host);
}

/* Strict standard base64, as Go's base64.StdEncoding (which skips CR and LF only). */
static guchar *
decode_base64_strict (const char *text, gsize *out_len)
{
  g_autoptr(GString) clean = g_string_new (NULL);
  const char *p;
  gsize pad = 0;

  for (p = text; *p != '\0'; p++)
    {
      if (*p == '\r' || *p == '\n')
        continue;
      if (*p == '=')
        pad++;
      else if (pad > 0 || !(g_ascii_isalnum (*p) || *p == '+' || *p == '/'))
        return NULL;
      g_string_append_c (clean, *p);
    }
  if (clean->len % 4 != 0 || pad > 2)
    return NULL;
  {
    guchar *out = g_base64_decode (clean->str, out_len);
    ecsa_docker_auth_wipe (clean->str);
    return out;
  }
}

static void
wipe_json_string (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    ecsa_docker_auth_wipe ((char *) json_node_get_string (node));
}

/* Go's encoding/json matches field names without case; null leaves a field unset. */
static gboolean
get_string_field (JsonObject *object, const char *field, const char *registry, char **out_value, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);
  GList *l;

  for (l = members; l != NULL; l = l->next)
    {
      JsonNode *node;

      if (g_ascii_strcasecmp (l->data, field) != 0)
        continue;
      node = json_object_get_member (object, l->data);
      if (JSON_NODE_HOLDS_NULL (node))
        continue;
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                       "ECS_ENGINE_AUTH_DATA: registry '%s': '%s' must be a string", registry, field);
          return FALSE;
        }
      g_free (*out_value);
      *out_value = g_strdup (json_node_get_string (node));
    }
  return TRUE;
}

static AuthEntry *
parse_docker_entry (const char *registry, JsonObject *object, GError **error)
{
  g_autoptr(AuthEntry) e = g_new0 (AuthEntry, 1);

  if (!get_string_field (object, "username", registry, &e->username, error)
      || !get_string_field (object, "password", registry, &e->password, error)
      || !get_string_field (object, "email", registry, &e->email, error)
      || !get_string_field (object, "serveraddress", registry, &e->server_address, error))
    return NULL;
  return g_steal_pointer (&e);
}

static AuthEntry *
parse_dockercfg_entry (const char *registry, JsonObject *object, EcsaDockerAuthWarnFunc warn, gpointer warn_data,
                       GError **error)
{
  g_autoptr(AuthEntry) e = g_new0 (AuthEntry, 1);
  g_autofree char *auth = NULL;
  g_autofree guchar *decoded = NULL;
  g_autofree char *message = NULL;
  gsize len = 0;
  char *colon;

  if (!get_string_field (object, "auth", registry, &auth, error)
      || !get_string_field (object, "email", registry, &e->email, error))
    return NULL;
  if (auth != NULL)
    decoded = decode_base64_strict (auth, &len);
  ecsa_docker_auth_wipe (auth);
  if (decoded == NULL)
    {
      message = g_strdup_printf ("ECS_ENGINE_AUTH_DATA: registry '%s': 'auth' is %s, ignoring this registry",
                                 registry, auth == NULL ? "missing" : "not valid base64");
      warn (message, warn_data);
      return g_steal_pointer (&e); /* an entry without credentials: skipped by the caller */
    }
  colon = memchr (decoded, ':', len);
  if (colon == NULL || memchr (decoded, '\0', len) != NULL)
    {
      memset (decoded, 0, len);
      message = g_strdup_printf (
        "ECS_ENGINE_AUTH_DATA: registry '%s': 'auth' must be base64 of 'username:password', ignoring this registry",
        registry);
      warn (message, warn_data);
      return g_steal_pointer (&e);
    }
  e->username = g_strndup ((const char *) decoded, (gsize) (colon - (char *) decoded));
  e->password = g_strndup (colon + 1, len - (gsize) (colon - (char *) decoded) - 1);
  memset (decoded, 0, len);
  return g_steal_pointer (&e);
}

static const char *
json_error_reason (const GError *error)
{
  if (error->domain != JSON_PARSER_ERROR)
    return "it is not valid JSON";
  switch (error->code)
    {
    case JSON_PARSER_ERROR_TRAILING_COMMA:
      return "a trailing comma";
    case JSON_PARSER_ERROR_MISSING_COMMA:
      return "a missing comma";
    case JSON_PARSER_ERROR_MISSING_COLON:
      return "a missing colon";
    case JSON_PARSER_ERROR_INVALID_BAREWORD:
      return "an unquoted word";
    case JSON_PARSER_ERROR_EMPTY_MEMBER_NAME:
      return "an empty member name";
    case JSON_PARSER_ERROR_INVALID_DATA:
      return "invalid UTF-8 or an invalid escape";
    default:
      return "a syntax error";
    }
}

EcsaDockerAuthMap *
ecsa_docker_auth_map_parse (const char *auth_type, const char *data, EcsaDockerAuthWarnFunc warn, gpointer warn_data,
                            GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  g_autoptr(EcsaDockerAuthMap) map = g_new0 (EcsaDockerAuthMap, 1);
  g_autoptr(GList) members = NULL;
  gboolean dockercfg = g_strcmp0 (auth_type, "dockercfg") == 0;
  JsonNode *root;
  JsonObject *object;
  GList *l;

  map->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) auth_entry_free);
  if (data == NULL || *data == '\0')
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                   "ECS_ENGINE_AUTH_DATA is empty, but ECS_ENGINE_AUTH_TYPE is '%s'", auth_type);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, -1, &local_error))
    {
      /* json-glib's own message quotes the text near the error ("unexpected identifier `hunter2'"),
       * which may be a password: keep only its position, "<data>:LINE:COLUMN: ..." */
      const char *colon = strchr (local_error->message, ':');
      guint line = 0, column = 0;

      if (colon == NULL || sscanf (colon, ":%u:%u:", &line, &column) != 2)
        line = column = 0;
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                   "ECS_ENGINE_AUTH_DATA is not valid JSON: %s at line %u, column %u", json_error_reason (local_error),
                   line, column);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                   "ECS_ENGINE_AUTH_DATA must be a JSON object mapping registries to credentials ('%s' format)",
                   auth_type);
      return NULL;
    }
  object = json_node_get_object (root);
  /* ~/.docker/config.json wraps the ~/.dockercfg map in "auths" */
  if (dockercfg && json_object_get_size (object) >= 1 && json_object_has_member (object, "auths")
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "auths")))
    object = json_object_get_object_member (object, "auths");

  members = json_object_get_members (object);
  for (l = members; l != NULL; l = l->next)
    {
      const char *registry = l->data;
      JsonNode *node = json_object_get_member (object, registry);
      g_autoptr(AuthEntry) entry = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                       "ECS_ENGINE_AUTH_DATA: registry '%s' must map to an object of credentials", registry);
          return NULL;
        }
      if (dockercfg)
        entry = parse_dockercfg_entry (registry, json_node_get_object (node), warn, warn_data, error);
      else
        entry = parse_docker_entry (registry, json_node_get_object (node), error);
      wipe_json_string (json_node_get_object (node), "password");
      wipe_json_string (json_node_get_object (node), "auth");
      if (entry == NULL)
        return NULL;
      if (entry->username == NULL && entry->password == NULL)
        {
          if (!dockercfg)
            {
              g_autofree char *message = g_strdup_printf (
                "ECS_ENGINE_AUTH_DATA: registry '%s' has no username or password, ignoring this registry", registry);
              warn (message, warn_data);
            }
          continue;
        }
      normalise_key (registry, &entry->key, &entry->host);
      if (entry->username == NULL)
        entry->username = g_strdup ("");
      if (entry->password == NULL)
        entry->password = g_strdup ("");
      if (is_hub_host (entry->host) && (map->hub == NULL || g_strcmp0 (entry->key, HUB_KEY) == 0))
        map->hub = entry;
      g_ptr_array_add (map->entries, g_steal_pointer (&entry));
    }
  return g_steal_pointer (&map);
}

/* go-dockerclient ParseRepositoryTag: drop "@digest", then a ":tag" that has no '/' after it. */
static char *
image_repository (const char *image)
{
  g_autofree char *repo = g_strdup (image);
  char *at = strchr (repo, '@');
  char *colon;

  if (at != NULL)
    *at = '\0';
  colon = strrchr (repo, ':');
  if (colon != NULL && strchr (colon, '/') == NULL)
    *colon = '\0';
  return g_steal_pointer (&repo);
}

char *
ecsa_docker_auth_image_registry (const char *image)
{
  g_autofree char *repo = image_repository (image);
  const char *slash = strchr (repo, '/');
  g_autofree char *first = NULL;

  if (slash == NULL)
    return g_strdup ("docker.io");
  first = g_strndup (repo, (gsize) (slash - repo));
  if (strchr (first, '.') == NULL && strchr (first, ':') == NULL && g_strcmp0 (first, "localhost") != 0)
    return g_strdup ("docker.io");
  return g_ascii_strdown (first, -1);
}

static EcsaRegistryCredentials *
entry_credentials (const AuthEntry *e, const char *registry)
{
  EcsaRegistryCredentials *c = g_new0 (EcsaRegistryCredentials, 1);

  c->struct_size = sizeof (EcsaRegistryCredentials);
  c->username = g_strdup (e->username);
  c->password = g_strdup (e->password);
  c->email = g_strdup (e->email);
  if (e->server_address != NULL && *e->server_address != '\0')
    c->server_address = g_strdup (e->server_address);
  else if (is_hub_host (registry))
    c->server_address = g_strdup ("https://" HUB_KEY);
  else
    c->server_address = g_strdup (registry);
  return c;
}

EcsaRegistryCredentials *
ecsa_docker_auth_map_lookup (const EcsaDockerAuthMap *map, const char *image)
{
  g_autofree char *registry = ecsa_docker_auth_image_registry (image);
  g_autofree char *image_lower = NULL;
  const AuthEntry *prefix_match = NULL;
  const AuthEntry *host_match = NULL;
  const AuthEntry *any_match = NULL;
  guint i;

  if (is_hub_host (registry))
    return map->hub != NULL ? entry_credentials (map->hub, registry) : NULL;

  /* the registry host compares without case; the path part of the image as written */
  {
    const char *slash = strchr (image, '/');
    g_autofree char *host = g_ascii_strdown (image, slash != NULL ? (gssize) (slash - image) : -1);
    image_lower = g_strconcat (host, slash != NULL ? slash : "", NULL);
  }

  for (i = 0; i < map->entries->len; i++)
    {
      const AuthEntry *e = g_ptr_array_index (map->entries, i);
      gsize klen = strlen (e->key);

      if (g_strcmp0 (e->host, registry) != 0)
        continue;
      if (g_strcmp0 (e->key, registry) == 0)
        host_match = e;
      else if (g_str_has_prefix (image_lower, e->key)
               && (e->key[klen - 1] == '/' || strchr ("/:@", image_lower[klen]) != NULL))
        {
          if (prefix_match == NULL || klen > strlen (prefix_match->key))
            prefix_match = e;
        }
      if (any_match == NULL || klen < strlen (any_match->key)
          || (klen == strlen (any_match->key) && g_strcmp0 (e->key, any_match->key) < 0))
        any_match = e;
    }
  if (prefix_match != NULL)
    return entry_credentials (prefix_match, registry);
  if (host_match != NULL)
    return entry_credentials (host_match, registry);
  if (any_match != NULL)
    return entry_credentials (any_match, registry);
  return NULL;
}
