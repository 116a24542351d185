#pragma once
// Real-time scheduling for the audio thread on a Linux board.

#include <string>

namespace neurorave::module {

// Puts the calling thread under SCHED_FIFO at `priority` (1..99) and locks the process's
// memory so that no page fault stalls the audio. Returns "" on success, else why not
// (typically the rtprio / memlock limits of the user: see README, "The embedded module").
std::string make_realtime(int priority);
// Back to the normal time-sharing policy for the calling thread.
void make_normal();

}  // namespace neurorave::module
