#pragma once

namespace maptrail::cli {

// Parses the command line and runs the chosen command; returns the exit status.
int run(int argc, char** argv);

}  // namespace maptrail::cli
