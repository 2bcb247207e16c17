/* Registry auth "docker": ECS_ENGINE_AUTH_TYPE=docker, credentials from ECS_ENGINE_AUTH_DATA (formats and
 * registry matching in plugins/common/ecsa-docker-auth.h). The data is parsed once at load; a
 * plugin whose ECS_ENGINE_AUTH_TYPE is another type is not enabled. The plugin itself is
 * plugins/common/ecsa-docker-auth-plugin.h, shared with auth-dockercfg.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-auth-plugin.h"

ECSA_DOCKER_AUTH_PLUGIN_DEFINE (auth_docker, "docker")
