#include "util/allocator.h"

#include <malloc.h>

namespace maptrail::util {

void tune_allocator_for_record_stream() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
}

}  // namespace maptrail::util
