#include "trace/consumer_priority.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace maptrail::trace {

namespace {

// True if this process may leave SCHED_IDLE again (CAP_SYS_NICE in its effective set).
bool can_raise_priority() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE);
}

}  // namespace

void ConsumerPriority::adopt_current_thread() {
  if (tid_ != 0 || !can_raise_priority()) return;
  pid_t tid = gettid();
  int policy = sched_getscheduler(tid);
  if (policy != SCHED_OTHER && policy != SCHED_BATCH) return;
  own_policy_ = policy;
  tid_ = tid;
  lower();
}

// The nice value survives the changes of policy: SCHED_IDLE ignores it and keeps it.
void ConsumerPriority::raise() {
  if (!lowered_.exchange(false)) return;
  sched_param param{};
  if (sched_setscheduler(tid_, own_policy_, &param) == 0) {
    raises_++;
  } else {
    lowered_ = true;  // it stays idle; the next mark tries again
  }
}

void ConsumerPriority::lower() {
  if (tid_ == 0 || lowered_) return;
  sched_param param{};
  if (sched_setscheduler(tid_, SCHED_IDLE, &param) == 0) lowered_ = true;
}

}  // namespace maptrail::trace
