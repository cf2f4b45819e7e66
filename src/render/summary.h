// The end-of-trace summary: what was seen, how much was mapped, and what was lost.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "event/event.h"

namespace maptrail::render {

// "406 mmap, 406 munmap": the non-zero loss counters by name.
std::string loss_breakdown(const std::array<uint64_t, MT_LOSS_SLOTS>& lost);

// {"mmap": 406, "munmap": 406}: the non-zero loss counters by name.
nlohmann::json loss_json(const std::array<uint64_t, MT_LOSS_SLOTS>& lost);

class TraceSummary {
 public:
  void add(const event::Event& e);  // every event, shown or filtered out
  void set_duration(double seconds) { seconds_ = seconds; }
  // Windows the model read again from /proc because a record of another thread whose call
  // returned later had been applied before them (engine::Counters::windows_out_of_order).
  void set_windows_out_of_order(uint64_t n) { windows_out_of_order_ = n; }
  // Windows neither applied nor read again: a newer read had shown their ranges already
  // (engine::Counters::windows_already_read).
  void set_windows_already_read(uint64_t n) { windows_already_read_ = n; }
  void set_decode_errors(uint64_t n, std::string last_error) {
    decode_errors_ = n;
    last_decode_error_ = std::move(last_error);
  }

  // One check of a model against /proc (trace --verify-every).
  void add_verify(bool done, bool exact) {
    verify_checks_++;
    if (!done)
      verify_failed_++;
    else if (exact)
      verify_exact_++;
  }

  std::string text() const;
  nlohmann::json json() const;

  uint64_t lost_total() const { return lost_total_; }
  uint64_t events() const { return events_; }

 private:
  double seconds_ = 0;
  uint64_t events_ = 0;
  std::map<std::string, uint64_t> by_kind_;
  std::map<std::string, uint64_t> failed_by_kind_;
  uint64_t mapped_anon_ = 0, mapped_file_ = 0, unmapped_ = 0;
  uint64_t incomplete_windows_ = 0;
  uint64_t windows_out_of_order_ = 0;
  uint64_t windows_already_read_ = 0;
  uint64_t stacks_shortened_ = 0;
  std::array<uint64_t, MT_LOSS_SLOTS> lost_{};
  uint64_t lost_total_ = 0;
  uint64_t decode_errors_ = 0;
  uint64_t verify_checks_ = 0, verify_exact_ = 0, verify_failed_ = 0;
  std::string last_decode_error_;
  std::map<uint32_t, std::string> processes_;  // pid -> last comm
};

}  // namespace maptrail::render
