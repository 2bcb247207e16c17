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

/* A TCP port on 127.0.0.1 that nothing listens on now (for a server of the test to bind next). */
guint16 ecsa_test_free_port (void);

G_END_DECLS
