// The C library's allocator, set up for maptrail's record stream.
#pragma once

namespace maptrail::util {

// One reader thread decodes every record into fresh vectors (the stack copy, the window)
// that the main thread frees after handling it. With glibc's defaults the reader's
// allocations land in an arena of its own whose top is trimmed and regrown as the backlog
// fills and drains (munmap, then page faults on the next burst), and large buffers are
// mmapped and unmapped each time: during JVM starts that doubled maptrail's CPU (see
// docs/BENCHMARKS.md). One arena, a 64 MiB trim threshold and a 16 MiB mmap threshold
// keep that memory in use instead. Call before any thread starts. A failure leaves the
// defaults: it costs CPU, nothing else.
void tune_allocator_for_record_stream();

}  // namespace maptrail::util
