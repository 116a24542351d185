#pragma once
// Counting the heap traffic of real-time code (used by test_realtime.cpp and
// test_descriptors.cpp). Two independent counters watch between start() and stop():
//  - every global operator new / delete of the program is replaced, in heap_watch.cpp,
//    by a counting one (all the usual overloads: sized, array, aligned, nothrow);
//  - Eigen allocates with std::malloc, not operator new. With the checked core
//    (NEURORAVE_TESTS_EIGEN_CHECKS, see CMakeLists.txt) Eigen is built with
//    EIGEN_RUNTIME_NO_MALLOC, and every allocation it makes while
//    set_is_malloc_allowed(false) is in force is counted (eigen_checks.hpp).

#include <doctest/doctest.h>

namespace neurorave_tests {

struct Heap {
  long news = 0, deletes = 0, eigen_mallocs = 0;
  long total() const { return news + deletes + eigen_mallocs; }
};

// Counts the heap traffic between start() and stop(). Nothing in between may use
// doctest's CHECK (it allocates): collect results, check after stop().
class HeapWatch {
 public:
  void start();
  Heap stop();
};

}  // namespace neurorave_tests

#define CHECK_NO_HEAP(heap)                                                 \
  do {                                                                      \
    const ::neurorave_tests::Heap h_ = (heap);                              \
    INFO("operator new: " << h_.news << ", operator delete: " << h_.deletes \
                          << ", Eigen malloc: " << h_.eigen_mallocs);       \
    CHECK(h_.total() == 0);                                                 \
  } while (false)
