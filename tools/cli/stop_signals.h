#pragma once
// Ctrl-C (SIGINT) and SIGTERM during a training loop. The handler only records the signal; the loop reads
// stop_signal() between steps, finishes the step in progress, saves what it has, and exits with 128 + the signal.
// A second Ctrl-C kills at once (SA_RESETHAND), so the user is never stuck behind a slow save; the last complete
// checkpoint is then what stays on disk.

#include <csignal>

namespace tern::cli {

// Installs the handler for its lifetime and restores the previous dispositions after.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// The signal caught since the last StopSignals was installed; 0 when none.
int stop_signal();
// Records `sig` as if it had been caught: a rank told by another that the job stops.
void note_stop_signal(int sig);

}  // namespace tern::cli
