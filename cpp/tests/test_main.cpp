#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#ifdef NEURORAVE_TESTS_EIGEN_CHECKS

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace neurorave_tests {

namespace {
std::atomic<int> malloc_count{0};
std::atomic<bool> stack_printed{false};
}  // namespace

int eigen_malloc_count() { return malloc_count.load(); }
void reset_eigen_malloc_count() { malloc_count.store(0); }

// Must not allocate: it runs where allocation is forbidden.
void eigen_assertion_failed(const char* condition, const char* file, int line) {
  if (std::strstr(condition, "heap allocation is forbidden") != nullptr) {
    malloc_count.fetch_add(1);
    if (!stack_printed.exchange(true)) {
      std::fprintf(stderr, "Eigen heap allocation while forbidden; call stack:\n");
      void* frames[64];
      backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    }
    return;
  }
  std::fprintf(stderr, "%s:%d: Eigen assertion failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace neurorave_tests

#endif
