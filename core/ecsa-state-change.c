/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-state-change.h"

void
ecsa_network_binding_free (EcsaNetworkBinding *binding)
{
  if (binding == NULL)
    return;
  g_free (binding->bind_ip);
  g_free (binding->protocol);
  g_free (binding);
}

static gpointer
network_binding_copy (gconstpointer src, gpointer user_data)
{
  const EcsaNetworkBinding *b = src;
  EcsaNetworkBinding *copy = g_new0 (EcsaNetworkBinding, 1);

  copy->bind_ip = g_strdup (b->bind_ip);
  copy->container_port = b->container_port;
  copy->host_port = b->host_port;
  copy->protocol = g_strdup (b->protocol);
  return copy;
}

static gpointer
state_change_copy_cb (gconstpointer src, gpointer user_data)
{
  return ecsa_state_change_copy (src);
}

EcsaStateChange *
ecsa_state_change_copy (const EcsaStateChange *change)
{
  EcsaStateChange *copy;

  g_return_val_if_fail (change != NULL, NULL);

  copy = g_new0 (EcsaStateChange, 1);
  copy->kind = change->kind;
  copy->task_arn = g_strdup (change->task_arn);
  copy->container_name = g_strdup (change->container_name);
  copy->status = g_strdup (change->status);
  copy->reason = g_strdup (change->reason);
  copy->has_exit_code = change->has_exit_code;
  copy->exit_code = change->exit_code;
  copy->timestamp = change->timestamp;
  copy->pull_started_at = change->pull_started_at;
  copy->pull_stopped_at = change->pull_stopped_at;
  copy->execution_stopped_at = change->execution_stopped_at;
  if (change->network_bindings != NULL)
    {
      copy->network_bindings = g_ptr_array_copy (change->network_bindings, network_binding_copy, NULL);
      g_ptr_array_set_free_func (copy->network_bindings, (GDestroyNotify) ecsa_network_binding_free);
    }
  if (change->containers != NULL)
    {
      copy->containers = g_ptr_array_copy (change->containers, state_change_copy_cb, NULL);
      g_ptr_array_set_free_func (copy->containers, (GDestroyNotify) ecsa_state_change_free);
    }
  return copy;
}

void
ecsa_state_change_free (EcsaStateChange *change)
{
  if (change == NULL)
    return;
  g_free (change->task_arn);
  g_free (change->container_name);
  g_free (change->status);
  g_free (change->reason);
  g_clear_pointer (&change->network_bindings, g_ptr_array_unref);
  g_clear_pointer (&change->containers, g_ptr_array_unref);
  g_free (change);
}
