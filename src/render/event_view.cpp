#include "render/event_view.h"

#include <time.h>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace maptrail::render {

TraceClock TraceClock::now() {
  timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  int64_t mono_ns = int64_t(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
  int64_t real_ns = int64_t(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
  return TraceClock{uint64_t(mono_ns), real_ns - mono_ns};
}

std::string rfc3339_ns(uint64_t wall_ns) {
  time_t seconds = wall_ns / 1'000'000'000;
  struct tm utc;
  gmtime_r(&seconds, &utc);
  return fmt::format(FMT_COMPILE("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z"), utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     wall_ns % 1'000'000'000);
}

std::string clock_time_us(uint64_t wall_ns) {
  // Every line of the log asks, many times a second: the local time of the same second is
  // worked out once (localtime_r takes a lock and looks at the time zone each call).
  thread_local time_t cached_second = -1;
  thread_local struct tm local;
  time_t seconds = wall_ns / 1'000'000'000;
  if (seconds != cached_second) {
    localtime_r(&seconds, &local);
    cached_second = seconds;
  }
  return fmt::format(FMT_COMPILE("{:02}:{:02}:{:02}.{:06}"), local.tm_hour, local.tm_min,
                     local.tm_sec, (wall_ns % 1'000'000'000) / 1000);
}

}  // namespace maptrail::render
