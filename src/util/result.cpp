#include "util/result.h"

#include <cstring>

namespace maptrail {

Error Error::from_errno(std::string what, int e) {
  return Error{e, what + ": " + std::strerror(e)};
}

}  // namespace maptrail
