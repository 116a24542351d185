#include "realtime.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <cstring>

namespace neurorave::module {

std::string make_realtime(int priority) {
  sched_param param{};
  param.sched_priority = priority;
  const int error = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  if (error != 0)
    return std::string("SCHED_FIFO priority ") + std::to_string(priority) + ": " +
           std::strerror(error) + " (raise the rtprio limit, or run as the systemd service)";
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    return std::string("mlockall: ") + std::strerror(errno) + " (raise the memlock limit)";
  return "";
}

void make_normal() {
  const sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &param);
}

}  // namespace neurorave::module
