#include "trace/consumer_priority.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace maptrail::trace {

bool can_raise_priority() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE);
}

void ConsumerPriority::adopt_current_thread(int polite_nice) {
  if (tid_ != 0 || polite_nice <= 0 || polite_nice > 19 || !can_raise_priority()) return;
  pid_t tid = gettid();
  errno = 0;
  int own = getpriority(PRIO_PROCESS, tid);
  if (errno != 0 || own >= polite_nice) return;  // already as polite as asked
  polite_nice_ = polite_nice;
  own_nice_ = own;
  tid_ = tid;
  lower();
}

void ConsumerPriority::raise() {
  if (!lowered_.exchange(false)) return;
  if (setpriority(PRIO_PROCESS, tid_, own_nice_) == 0) {
    raises_++;
  } else {
    lowered_ = true;  // it stays niced; the next mark tries again
  }
}

void ConsumerPriority::lower() {
  if (tid_ == 0 || lowered_) return;
  if (setpriority(PRIO_PROCESS, tid_, polite_nice_) == 0) lowered_ = true;
}

}  // namespace maptrail::trace
