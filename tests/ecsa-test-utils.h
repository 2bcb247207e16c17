/* ecsa-test-utils.h: helpers shared by the test programs.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Run the main context until *flag is TRUE, failing the test after timeout_ms. */
void ecsa_test_wait_for_flag (GMainContext *context, const gboolean *flag, guint timeout_ms);

/* A fresh temporary directory, removed (recursively) by ecsa_test_rmdir_recursive. */
char *ecsa_test_mkdtemp (void);
void ecsa_test_rmdir_recursive (const char *path);

G_END_DECLS
