#include "trace/kallsyms.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace maptrail::trace {

std::map<std::string, uint64_t> find_kernel_symbols(const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> found;
  std::unique_ptr<FILE, decltype(&fclose)> file(fopen("/proc/kallsyms", "re"), &fclose);
  if (!file) return found;
  char line[512];
  while (found.size() < names.size() && fgets(line, sizeof(line), file.get())) {
    // "ffffffff81711d80 T simple_dname" or "... t name\t[module]"
    char* name = strchr(line, ' ');
    if (!name || !(name = strchr(name + 1, ' '))) continue;
    name++;
    size_t len = strcspn(name, " \t\n");
    std::string_view symbol(name, len);
    for (const auto& wanted : names) {
      if (symbol == wanted) {
        uint64_t addr = strtoull(line, nullptr, 16);
        if (addr) found.emplace(wanted, addr);
      }
    }
  }
  return found;
}

}  // namespace maptrail::trace
