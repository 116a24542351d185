#pragma once
// Force-included (-include) into every unit of the checked core and of the tests when
// NEURORAVE_TESTS_EIGEN_CHECKS is on (see CMakeLists.txt), before Eigen is seen.
//
// Eigen's assertions then stay on in release builds:
//  - with EIGEN_RUNTIME_NO_MALLOC, a heap allocation made by Eigen while
//    Eigen::internal::set_is_malloc_allowed(false) is in force fails an assertion;
//    it is counted (and its call stack printed once), so a test can check the count;
//  - any other failed assertion (a block out of range, sizes that do not match) is
//    a bug in the core: it is printed and the process aborts.

namespace neurorave_tests {

void eigen_assertion_failed(const char* condition, const char* file, int line);

// Forbidden Eigen heap allocations seen since the last reset.
int eigen_malloc_count();
void reset_eigen_malloc_count();

}  // namespace neurorave_tests

#define eigen_assert(x) \
  ((x) ? static_cast<void>(0) : ::neurorave_tests::eigen_assertion_failed(#x, __FILE__, __LINE__))
