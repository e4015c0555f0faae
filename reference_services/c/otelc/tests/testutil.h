/* Minimal test helpers: CHECK records failures, TEST_MAIN_END prints a summary. */
#ifndef OTELC_TESTUTIL_H
#define OTELC_TESTUTIL_H
#include <stdio.h>
#include <string.h>

static int t_checks, t_failures;
#define CHECK(cond)                                                              \
  do {                                                                           \
    t_checks++;                                                                  \
    if (!(cond)) {                                                               \
      t_failures++;                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
    }                                                                            \
  } while (0)
#define CHECK_STR(a, b)                                                          \
  do {                                                                           \
    const char *a_ = (a), *b_ = (b);                                             \
    t_checks++;                                                                  \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                     \
      t_failures++;                                                              \
      fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,           \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
    }                                                                            \
  } while (0)
#define TEST_RESULT(name)                                                        \
  (printf("%s: %d checks, %d failed\n", name, t_checks, t_failures), t_failures ? 1 : 0)
#endif
