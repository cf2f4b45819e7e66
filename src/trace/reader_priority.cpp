#include "trace/reader_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace maptrail::trace {

void ReaderPriority::adopt_current_thread() {
  pid_t tid = gettid();
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) {
    can_raise_ = false;
    return;
  }
  own_nice_ = nice;
  tid_ = tid;
}

void ReaderPriority::after_pass(bool pressed, std::chrono::steady_clock::time_point now) {
  if (tid_ == 0) return;
  if (pressed) {
    last_pressed_ = now;
    if (raised_ || !can_raise_) return;
    // Without CAP_SYS_NICE the kernel refuses: the reader keeps its share, as before.
    if (setpriority(PRIO_PROCESS, tid_, std::max(-20, own_nice_ - kRaiseBy)) != 0) {
      can_raise_ = false;
      return;
    }
    raised_ = true;
    raises_++;
  } else if (raised_ && now - last_pressed_ >= kQuiet) {
    if (setpriority(PRIO_PROCESS, tid_, own_nice_) == 0) raised_ = false;
  }
}

}  // namespace maptrail::trace
