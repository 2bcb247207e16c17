/* ecsa-test-asan.h: UNDER_ASAN is defined when the test is built with AddressSanitizer (GCC's
 * __SANITIZE_ADDRESS__ or clang's __has_feature), for tests that measure the heap.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
