#include "model/provenance.h"

namespace maptrail::model {

void Provenance::split_at(uint64_t at) {
  auto it = spans_.upper_bound(at);
  if (it == spans_.begin()) return;
  --it;
  if (it->first < at && at < it->second.hi) {
    Entry right = it->second;
    it->second.hi = at;
    spans_.emplace(at, std::move(right));
  }
}

// Neighbours with the same origins become one span again, so the map stays as small as the
// history it describes, however often the kernel split and merged the VMAs.
void Provenance::coalesce_around(uint64_t lo, uint64_t hi) {
  auto it = spans_.lower_bound(lo);
  if (it != spans_.begin()) --it;
  while (it != spans_.end() && it->first <= hi) {
    auto next = std::next(it);
    if (next == spans_.end()) break;
    if (it->second.hi == next->first && it->second.created == next->second.created &&
        it->second.last == next->second.last) {
      it->second.hi = next->second.hi;
      spans_.erase(next);
    } else {
      it = next;
    }
  }
}

std::vector<Provenance::Span> Provenance::removed(uint64_t lo, uint64_t hi) {
  if (hi <= lo) return {};
  split_at(lo);
  split_at(hi);
  auto first = spans_.lower_bound(lo), last = spans_.lower_bound(hi);
  std::vector<Span> gone;
  for (auto it = first; it != last; ++it)
    gone.push_back({it->first, it->second.hi, it->second.created, it->second.last});
  spans_.erase(first, last);
  return gone;
}

std::vector<Provenance::Span> Provenance::created(uint64_t lo, uint64_t hi,
                                                  std::shared_ptr<const Origin> by) {
  if (hi <= lo) return {};
  auto replaced = removed(lo, hi);
  spans_.emplace(lo, Entry{hi, by, by});
  coalesce_around(lo, hi);
  return replaced;
}

void Provenance::seeded(uint64_t lo, uint64_t hi) {
  if (hi <= lo) return;
  removed(lo, hi);
  spans_.emplace(lo, Entry{hi, nullptr, nullptr});
  coalesce_around(lo, hi);
}

void Provenance::replace_creators(
    const std::function<std::shared_ptr<const Origin>(const std::shared_ptr<const Origin>&)>& f) {
  for (auto& [lo, entry] : spans_)
    if (entry.created) entry.created = f(entry.created);
}

void Provenance::changed(uint64_t lo, uint64_t hi, std::shared_ptr<const Origin> by) {
  if (hi <= lo) return;
  split_at(lo);
  split_at(hi);
  for (auto it = spans_.lower_bound(lo); it != spans_.end() && it->first < hi; ++it)
    it->second.last = by;
  coalesce_around(lo, hi);
}

std::vector<Provenance::Span> Provenance::moved(uint64_t from, uint64_t to, uint64_t length,
                                                std::shared_ptr<const Origin> by) {
  if (length == 0) return {};
  auto pieces = in_range(from, from + length);
  removed(from, from + length);
  auto replaced = removed(to, to + length);
  for (const auto& p : pieces)
    spans_.emplace(p.lo - from + to, Entry{p.hi - from + to, p.created, by});
  coalesce_around(to, to + length);
  return replaced;
}

std::vector<Provenance::Span> Provenance::in_range(uint64_t lo, uint64_t hi) const {
  std::vector<Span> out;
  auto it = spans_.upper_bound(lo);
  if (it != spans_.begin()) --it;
  for (; it != spans_.end() && it->first < hi; ++it) {
    if (it->second.hi <= lo) continue;
    out.push_back({std::max(lo, it->first), std::min(hi, it->second.hi), it->second.created,
                   it->second.last});
  }
  return out;
}

}  // namespace maptrail::model
