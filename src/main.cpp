#include <exception>

#include <fmt/format.h>

#include "cli/app.h"

int main(int argc, char** argv) {
  try {
    return maptrail::cli::run(argc, argv);
  } catch (const std::exception& e) {
    // A bug, not a user error: say so plainly instead of aborting with a core dump.
    fmt::print(stderr, "maptrail: internal error: {}\n", e.what());
    return 70;
  }
}
