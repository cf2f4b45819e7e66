// Looks up a few kernel symbols in /proc/kallsyms (a 5 MB file: scanned once, by hand).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace maptrail::trace {

// Addresses of the named symbols; missing or hidden (kptr_restrict) ones are absent.
std::map<std::string, uint64_t> find_kernel_symbols(const std::vector<std::string>& names);

}  // namespace maptrail::trace
