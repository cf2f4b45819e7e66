// Decoding of raw kernel records (bpf/events.h). The records are written field by field, in
// the order and at the widths the ABI documents, rather than by filling the C structs: so a
// change to the struct layout that the decoder would silently follow is caught here too.
#include "event/event.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace maptrail::event {
namespace {

constexpr uint64_t P = 4096;
constexpr uint64_t kBase = 0x7f0000000000;

// Little-endian field writer (x86-64 and the BPF target agree on it).
class Bytes {
 public:
  void u8(uint8_t v) { raw(&v, 1); }
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void s32(int32_t v) { raw(&v, 4); }
  void s64(int64_t v) { raw(&v, 8); }
  void zeros(size_t n) { data_.insert(data_.end(), n, 0); }
  // A fixed-size char array: the text, then NULs up to `width` (no NUL when text fills it).
  void chars(const std::string& text, size_t width) {
    size_t n = std::min(text.size(), width);
    raw(text.data(), n);
    zeros(width - n);
  }
  void raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    data_.insert(data_.end(), b, b + n);
  }
  size_t size() const { return data_.size(); }
  std::vector<uint8_t>& data() { return data_; }

 private:
  std::vector<uint8_t> data_;
};

struct Header {
  uint8_t kind = MT_EV_SYSCALL;
  uint8_t syscall = MT_SYS_MMAP;
  uint16_t flags = 0;
  std::optional<uint32_t> size;  // unset: the encoder fills in the real size
  uint32_t pid = 4242, tid = 4243;
  uint64_t mm = 0xffff888012345000;
  uint64_t enter_ns = 1'000'000'000, exit_ns = 1'000'002'500;
  std::string comm = "workload";
};

void write_header(Bytes& b, const Header& h, uint32_t size) {
  b.u8(h.kind);
  b.u8(h.syscall);
  b.u16(h.flags);
  b.u32(size);
  b.u32(h.pid);
  b.u32(h.tid);
  b.u64(h.mm);
  b.u64(h.enter_ns);
  b.u64(h.exit_ns);
  b.chars(h.comm, MT_COMM_LEN);
}

struct RawVma {
  uint64_t start = 0, end = 0, flags = 0x73 /* rw, may rw */, pgoff = 0, ino = 0;
  uint32_t dev = 0;
  uint16_t name_off = 0, name_len = 0;
  uint8_t name_kind = MT_NAME_NONE;
};

struct SyscallRecord {
  Header h;
  uint64_t args[MT_MAX_ARGS] = {0, 4 * 1024 * 1024, 3, 0x22, uint64_t(-1), 0};
  int64_t ret = int64_t(kBase);
  uint64_t start_brk = 0x555555559000, brk = 0x55555557a000, start_stack = 0x7ffffffde000;
  std::vector<Range> ranges;
  std::vector<uint64_t> frames;
  std::vector<RawVma> vmas;
  std::string names;  // the names area, NULs included
  uint64_t sp_word = 0;
  // With h.flags & MT_F_STACK_COPY: the registers and the copied stack after the names.
  std::array<uint64_t, MT_USER_REGS> regs{};
  std::vector<uint8_t> stack;
  // Overrides of the counts, to build inconsistent records.
  int nranges = -1, nvmas = -1, nframes = -1, names_len = -1;

  // Appends a NUL-terminated name to the names area and returns a VMA pointing at it.
  RawVma named(uint64_t start, uint64_t end, const std::string& name, uint8_t kind = MT_NAME_PATH) {
    RawVma v;
    v.start = start;
    v.end = end;
    v.name_kind = kind;
    v.name_off = uint16_t(names.size());
    v.name_len = uint16_t(name.size());
    names += name;
    names += '\0';
    return v;
  }

  std::vector<uint8_t> encode() const {
    size_t size = 184 + frames.size() * 8 + vmas.size() * 56 + names.size();
    const bool copy = h.flags & MT_F_STACK_COPY;
    size_t names_end = size;
    if (copy) size = ((size + 7) & ~size_t(7)) + MT_USER_REGS * 8 + stack.size();
    Bytes b;
    write_header(b, h, h.size.value_or(uint32_t(size)));
    for (uint64_t a : args) b.u64(a);
    b.s64(ret);
    b.u64(start_brk);
    b.u64(brk);
    b.u64(start_stack);
    for (size_t i = 0; i < MT_MAX_RANGES; i++) {
      b.u64(i < ranges.size() ? ranges[i].lo : 0);
      b.u64(i < ranges.size() ? ranges[i].hi : 0);
    }
    b.u8(nranges >= 0 ? nranges : uint8_t(ranges.size()));
    b.u8(nvmas >= 0 ? nvmas : uint8_t(vmas.size()));
    b.u8(nframes >= 0 ? nframes : uint8_t(frames.size()));
    b.u8(0);  // pad0
    b.u16(names_len >= 0 ? names_len : uint16_t(names.size()));
    b.u16(copy ? uint16_t(stack.size()) : 0);
    b.u64(sp_word);
    EXPECT_EQ(b.size(), 184u) << "syscall body layout";
    for (uint64_t f : frames) b.u64(f);
    for (const RawVma& v : vmas) {
      b.u64(v.start);
      b.u64(v.end);
      b.u64(v.flags);
      b.u64(v.pgoff);
      b.u64(v.ino);
      b.u32(v.dev);
      b.u16(v.name_off);
      b.u16(v.name_len);
      b.u8(v.name_kind);
      b.zeros(7);
    }
    b.raw(names.data(), names.size());
    if (copy) {
      b.zeros(((names_end + 7) & ~size_t(7)) - names_end);
      for (uint64_t r : regs) b.u64(r);
      b.raw(stack.data(), stack.size());
    }
    EXPECT_EQ(b.size(), size);
    return b.data();
  }
};

struct TaskRecord {
  Header h;
  uint32_t child_pid = 0, child_tid = 0;
  uint64_t child_mm = 0;
  int32_t exit_code = 0;
  uint32_t filename_len = 0;
  std::string filename;

  std::vector<uint8_t> encode() const {
    Bytes b;
    write_header(b, h, h.size.value_or(56 + 24 + MT_FILENAME_MAX));
    b.u32(child_pid);
    b.u32(child_tid);
    b.u64(child_mm);
    b.s32(exit_code);
    b.u32(filename_len);
    b.chars(filename, MT_FILENAME_MAX);
    EXPECT_EQ(b.size(), 56u + 24 + MT_FILENAME_MAX);
    return b.data();
  }
};

Result<Event> decode_bytes(const std::vector<uint8_t>& bytes) {
  return decode(std::span<const uint8_t>(bytes.data(), bytes.size()));
}

// A realistic mmap record: two frames, three VMAs, two of them with names.
SyscallRecord typical_mmap() {
  SyscallRecord r;
  r.h.flags = MT_F_STACK_FP;
  r.ranges = {{kBase, kBase + 1024 * P}};
  r.frames = {0x7f00aa001234, 0x555555555abc};
  r.sp_word = 0x555555555def;
  RawVma lib = r.named(kBase - 4 * P, kBase, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  lib.flags = 0x75;  // r-x
  lib.pgoff = 0x26;
  lib.ino = 1234567;
  lib.dev = (259u << 20) | 3;
  RawVma anon;
  anon.start = kBase;
  anon.end = kBase + 1024 * P;
  anon.pgoff = kBase >> 12;
  RawVma vdso = r.named(kBase + 1024 * P, kBase + 1026 * P, "[vdso]", MT_NAME_SPECIAL);
  vdso.flags = 0x75;
  r.vmas = {lib, anon, vdso};
  return r;
}

TEST(Decode, SyscallRecordAllFields) {
  SyscallRecord r = typical_mmap();
  r.h.flags = MT_F_STACK_FP | MT_F_WINDOW_HOLE;
  r.args[5] = 0x3000;
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kSyscall);
  EXPECT_EQ(e->syscall, Syscall::kMmap);
  EXPECT_EQ(e->flags, MT_F_STACK_FP | MT_F_WINDOW_HOLE);
  EXPECT_FALSE(e->window_complete());
  EXPECT_EQ(e->pid, 4242u);
  EXPECT_EQ(e->tid, 4243u);
  EXPECT_EQ(e->mm, 0xffff888012345000u);
  EXPECT_EQ(e->enter_ns, 1'000'000'000u);
  EXPECT_EQ(e->exit_ns, 1'000'002'500u);
  EXPECT_EQ(e->latency_ns(), 2500u);
  EXPECT_EQ(e->comm, "workload");
  EXPECT_EQ(e->args[0], 0u);
  EXPECT_EQ(e->args[1], 4u * 1024 * 1024);
  EXPECT_EQ(e->args[2], 3u);
  EXPECT_EQ(e->args[3], 0x22u);
  EXPECT_EQ(e->args[4], uint64_t(-1));
  EXPECT_EQ(e->args[5], 0x3000u);
  EXPECT_EQ(e->ret, int64_t(kBase));
  EXPECT_FALSE(e->failed());
  EXPECT_EQ(e->start_brk, 0x555555559000u);
  EXPECT_EQ(e->brk, 0x55555557a000u);
  EXPECT_EQ(e->start_stack, 0x7ffffffde000u);
  ASSERT_EQ(e->ranges.size(), 1u);
  EXPECT_EQ(e->ranges[0].lo, kBase);
  EXPECT_EQ(e->ranges[0].hi, kBase + 1024 * P);
  EXPECT_EQ(e->frames, (std::vector<uint64_t>{0x7f00aa001234, 0x555555555abc}));
  EXPECT_EQ(e->sp_word, 0x555555555defu);
  EXPECT_EQ(e->child_pid, 0u);
  EXPECT_EQ(e->lost_total, 0u);

  ASSERT_EQ(e->vmas.size(), 3u);
  const WindowVma& lib = e->vmas[0];
  EXPECT_EQ(lib.start, kBase - 4 * P);
  EXPECT_EQ(lib.end, kBase);
  EXPECT_EQ(lib.vm_flags, 0x75u);
  EXPECT_EQ(lib.pgoff, 0x26u);
  EXPECT_EQ(lib.inode, 1234567u);
  EXPECT_EQ(lib.dev, (259u << 20) | 3);
  EXPECT_EQ(lib.name_kind, MT_NAME_PATH);
  EXPECT_EQ(lib.name, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  const WindowVma& anon = e->vmas[1];
  EXPECT_EQ(anon.start, kBase);
  EXPECT_EQ(anon.end, kBase + 1024 * P);
  EXPECT_EQ(anon.vm_flags, 0x73u);
  EXPECT_EQ(anon.pgoff, kBase >> 12);
  EXPECT_EQ(anon.name_kind, MT_NAME_NONE);
  EXPECT_EQ(anon.name, "");
  EXPECT_EQ(e->vmas[2].name_kind, MT_NAME_SPECIAL);
  EXPECT_EQ(e->vmas[2].name, "[vdso]");
}

SyscallRecord with_stack_copy() {
  SyscallRecord r;
  r.h.flags = MT_F_STACK_COPY;
  r.names = "abc";  // the registers start at the next 8-byte boundary
  for (size_t i = 0; i < r.regs.size(); i++) r.regs[i] = 0x1000 + i;
  for (size_t i = 0; i < 200; i++) r.stack.push_back(uint8_t(i * 7));
  return r;
}

TEST(Decode, StackCopyAfterTheNamesAtAnEightByteBoundary) {
  SyscallRecord r = with_stack_copy();
  auto bytes = r.encode();
  auto e = decode(bytes);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->flags, MT_F_STACK_COPY);
  for (size_t i = 0; i < r.regs.size(); i++) EXPECT_EQ(e->user_regs[i], r.regs[i]) << i;
  EXPECT_EQ(e->user_stack, r.stack);
}

// A reader that has fallen behind keeps the record and says the stack was left out.
TEST(Decode, DroppingTheStackCopyKeepsEverythingElseAndSaysSo) {
  SyscallRecord r = with_stack_copy();
  auto bytes = r.encode();
  auto kept = decode(bytes);
  auto dropped = decode(bytes, StackCopy::kDrop);
  ASSERT_TRUE(kept.ok() && dropped.ok());
  EXPECT_TRUE(dropped->user_stack.empty());
  EXPECT_EQ(dropped->flags, MT_F_STACK_COPY | MT_F_STACK_SHORTENED);
  EXPECT_EQ(dropped->user_regs, kept->user_regs);
  EXPECT_EQ(dropped->args, kept->args);
  EXPECT_EQ(dropped->ret, kept->ret);
  // Without a copy there is nothing to drop, and nothing to say.
  SyscallRecord plain;
  auto no_copy = decode(plain.encode(), StackCopy::kDrop);
  ASSERT_TRUE(no_copy.ok());
  EXPECT_EQ(no_copy->flags, 0);
}

// The reader decodes every record into an Event it recycles: nothing of the record before
// may show through, whatever kinds follow each other.
TEST(Decode, IntoAReusedEventGivesWhatAFreshDecodeGives) {
  SyscallRecord stacked = with_stack_copy();
  TaskRecord exec;
  exec.h.kind = MT_EV_EXEC;
  exec.filename = "/usr/bin/true";
  exec.filename_len = uint32_t(exec.filename.size());
  const std::vector<std::vector<uint8_t>> records = {
      typical_mmap().encode(),  stacked.encode(), exec.encode(),
      SyscallRecord{}.encode(), stacked.encode(), typical_mmap().encode()};
  Event reused;
  for (size_t i = 0; i < records.size(); i++) {
    auto fresh = decode_bytes(records[i]);
    ASSERT_TRUE(fresh.ok()) << fresh.error().message;
    auto decoded = decode(std::span<const uint8_t>(records[i]), StackCopy::kKeep, reused);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_TRUE(reused == *fresh) << "record " << i;
  }
  // A bad record after a good one is an error, not the good one again.
  std::vector<uint8_t> truncated = records[0];
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(decode(std::span<const uint8_t>(truncated), StackCopy::kKeep, reused).ok());
}

TEST(Decode, CommFillingAllSixteenBytesHasNoNul) {
  SyscallRecord r = typical_mmap();
  r.h.comm = "abcdefghijklmnop";  // 16 characters, no terminator on the wire
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->comm, "abcdefghijklmnop");
}

TEST(Decode, RecordWithoutFramesVmasOrNames) {
  SyscallRecord r;
  r.h.syscall = MT_SYS_MUNLOCKALL;
  r.h.flags = MT_F_WHOLE_MM;
  r.ret = 0;
  auto bytes = r.encode();
  EXPECT_EQ(bytes.size(), sizeof(mt_syscall_event));
  auto e = decode_bytes(bytes);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->syscall, Syscall::kMunlockall);
  EXPECT_TRUE(e->frames.empty());
  EXPECT_TRUE(e->vmas.empty());
  EXPECT_TRUE(e->ranges.empty());
}

TEST(Decode, NamesAreFoundByOffsetNotByOrder) {
  SyscallRecord r;
  r.ranges = {{kBase, kBase + 4 * P}};
  // The names area holds "second\0first\0"; the VMAs point into it out of order, and two
  // VMAs of the same file share one name, as the BPF side does for consecutive VMAs.
  r.names = std::string("/lib/second.so") + '\0' + "/lib/first.so" + '\0';
  RawVma a{kBase, kBase + P, 0x71, 0, 11, 8, 15, 13, MT_NAME_PATH};
  RawVma b{kBase + P, kBase + 2 * P, 0x75, 1, 11, 8, 15, 13, MT_NAME_PATH};
  RawVma c{kBase + 2 * P, kBase + 3 * P, 0x71, 0, 12, 8, 0, 14, MT_NAME_PATH};
  // Anonymous and unresolved VMAs carry no name even if name_off/len are set.
  RawVma d{kBase + 3 * P, kBase + 4 * P, 0x73, 0, 0, 0, 0, 5, MT_NAME_NONE};
  RawVma f{kBase + 4 * P, kBase + 5 * P, 0x73, 0, 99, 14, 0, 5, MT_NAME_UNRESOLVED};
  r.vmas = {a, b, c, d, f};
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_EQ(e->vmas.size(), 5u);
  EXPECT_EQ(e->vmas[0].name, "/lib/first.so");
  EXPECT_EQ(e->vmas[1].name, "/lib/first.so");
  EXPECT_EQ(e->vmas[2].name, "/lib/second.so");
  EXPECT_EQ(e->vmas[3].name, "");
  EXPECT_EQ(e->vmas[4].name, "");
  EXPECT_EQ(e->vmas[4].name_kind, MT_NAME_UNRESOLVED);
}

TEST(Decode, NameEndingExactlyAtTheEndOfTheNamesArea) {
  SyscallRecord r;
  r.ranges = {{kBase, kBase + P}};
  r.names = "/x";  // no NUL: the name fills the area exactly
  r.vmas = {RawVma{kBase, kBase + P, 0x71, 0, 5, 8, 0, 2, MT_NAME_PATH}};
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->vmas[0].name, "/x");
}

TEST(Decode, TwoRangesAreSortedByStartAndDeduplicated) {
  // mremap that moved a mapping down: the old range is walked first, then the new one, and
  // the VMA between them is seen from both walks.
  SyscallRecord r;
  r.h.syscall = MT_SYS_MREMAP;
  r.args[0] = kBase + 10 * P;
  r.args[1] = 2 * P;
  r.args[2] = 2 * P;
  r.args[3] = 1;
  r.ret = int64_t(kBase + 2 * P);
  r.ranges = {{kBase + 10 * P, kBase + 12 * P}, {kBase + 2 * P, kBase + 4 * P}};
  RawVma old_left{kBase + 8 * P, kBase + 10 * P};
  RawVma old_right{kBase + 12 * P, kBase + 13 * P};
  RawVma middle{kBase + 4 * P, kBase + 8 * P};
  middle.flags = 0x71;
  RawVma moved{kBase + 2 * P, kBase + 4 * P};
  RawVma below{kBase, kBase + 2 * P};
  r.vmas = {old_left, old_right, below, moved, middle, middle};
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::vector<std::pair<uint64_t, uint64_t>> got;
  for (const auto& v : e->vmas) got.emplace_back(v.start, v.end);
  std::vector<std::pair<uint64_t, uint64_t>> want = {{kBase, kBase + 2 * P},
                                                     {kBase + 2 * P, kBase + 4 * P},
                                                     {kBase + 4 * P, kBase + 8 * P},
                                                     {kBase + 8 * P, kBase + 10 * P},
                                                     {kBase + 12 * P, kBase + 13 * P}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(e->vmas[2].vm_flags, 0x71u);
  ASSERT_EQ(e->ranges.size(), 2u);
  EXPECT_EQ(e->ranges[0].lo, kBase + 10 * P);  // ranges keep their order
  EXPECT_EQ(e->ranges[1].lo, kBase + 2 * P);
}

TEST(Decode, SortingKeepsEachVmaWithItsOwnName) {
  SyscallRecord r;
  r.ranges = {{kBase + 4 * P, kBase + 5 * P}, {kBase, kBase + P}};
  RawVma high = r.named(kBase + 4 * P, kBase + 5 * P, "/high");
  RawVma low = r.named(kBase, kBase + P, "/low");
  r.vmas = {high, low};
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_EQ(e->vmas.size(), 2u);
  EXPECT_EQ(e->vmas[0].start, kBase);
  EXPECT_EQ(e->vmas[0].name, "/low");
  EXPECT_EQ(e->vmas[1].name, "/high");
}

TEST(Decode, BytesAfterTheRecordAreIgnored) {
  // Ring buffer samples are 8-byte aligned; the header's size is what counts.
  auto bytes = typical_mmap().encode();
  size_t size = bytes.size();
  bytes.insert(bytes.end(), 5, 0xee);
  auto e = decode_bytes(bytes);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->vmas.size(), 3u);
  EXPECT_EQ(bytes.size(), size + 5);
}

// --- errors ---------------------------------------------------------------------------

void expect_error(const std::vector<uint8_t>& bytes, const std::string& what) {
  auto e = decode_bytes(bytes);
  ASSERT_FALSE(e.ok()) << what;
  EXPECT_EQ(e.error().err, EPROTO) << what;
  EXPECT_NE(e.error().message.find("malformed event record"), std::string::npos)
      << e.error().message;
}

TEST(DecodeErrors, EmptyInput) {
  expect_error({}, "empty");
  auto e = decode({});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("no header"), std::string::npos) << e.error().message;
}

TEST(DecodeErrors, HeaderSizeLargerThanTheBuffer) {
  SyscallRecord r = typical_mmap();
  auto bytes = r.encode();
  r.h.size = uint32_t(bytes.size() + 1);
  expect_error(r.encode(), "size + 1");
  r.h.size = 0xffffffff;
  expect_error(r.encode(), "size 4G");
}

TEST(DecodeErrors, HeaderSizeSmallerThanTheBody) {
  SyscallRecord r = typical_mmap();
  r.h.size = 56;  // a header alone, in a buffer big enough for the whole record
  expect_error(r.encode(), "syscall size 56");
  r.h.size = 0;
  expect_error(r.encode(), "syscall size 0");
  r.h.size = 1;
  expect_error(r.encode(), "syscall size 1");
  TaskRecord t;
  t.h.kind = MT_EV_FORK;
  t.h.size = 56 + 24;
  expect_error(t.encode(), "task size without filename");
}

TEST(DecodeErrors, SizeCoveringTheBodyButNotTheTrailingParts) {
  SyscallRecord r = typical_mmap();
  auto full = r.encode();
  for (uint32_t size : {184u, 184u + 8, 184u + 16 + 56, uint32_t(full.size() - 1)}) {
    r.h.size = size;
    expect_error(r.encode(), "size " + std::to_string(size));
  }
}

TEST(DecodeErrors, CountsOutOfRange) {
  SyscallRecord r = typical_mmap();
  // The counts are checked against the ABI's bounds before any lengths are trusted; pad the
  // record so that a decoder that skipped the check would find enough bytes.
  auto with_counts = [&](int nvmas, int nframes, int nranges, int names_len) {
    SyscallRecord bad = r;
    bad.nvmas = nvmas;
    bad.nframes = nframes;
    bad.nranges = nranges;
    bad.names_len = names_len;
    auto bytes = bad.encode();
    bytes.resize(MT_SYSCALL_EVENT_MAX + 8192, 0);
    uint32_t size = uint32_t(bytes.size());
    std::memcpy(bytes.data() + 4, &size, 4);
    return bytes;
  };
  auto expect_out_of_range = [](const std::vector<uint8_t>& bytes, const std::string& what) {
    expect_error(bytes, what);
    auto e = decode_bytes(bytes);
    if (!e.ok()) {
      EXPECT_NE(e.error().message.find("out of range"), std::string::npos)
          << what << ": " << e.error().message;
    }
  };
  expect_out_of_range(with_counts(MT_MAX_WINDOW_VMAS + 1, 2, 1, -1), "nvmas 33");
  expect_out_of_range(with_counts(3, MT_MAX_FRAMES + 1, 1, -1), "nframes 33");
  expect_out_of_range(with_counts(3, 2, MT_MAX_RANGES + 1, -1), "nranges 3");
  expect_out_of_range(with_counts(3, 2, 1, MT_NAMES_MAX + 1), "names_len 4097");
  expect_out_of_range(with_counts(255, 255, 255, 0xffff), "all 0xff");
  // The bounds themselves are allowed.
  SyscallRecord max_frames;
  max_frames.frames.assign(MT_MAX_FRAMES, 0x1000);
  max_frames.ranges = {{1, 2}, {3, 4}};
  auto e = decode_bytes(max_frames.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->frames.size(), size_t(MT_MAX_FRAMES));
  EXPECT_EQ(e->ranges.size(), 2u);
}

TEST(DecodeErrors, CountsLargerThanTheRecord) {
  SyscallRecord r = typical_mmap();
  r.nvmas = 4;  // one more VMA than there are bytes for
  expect_error(r.encode(), "nvmas past the end");
  r = typical_mmap();
  r.names_len = int(r.names.size() + 1);
  expect_error(r.encode(), "names_len past the end");
}

TEST(DecodeErrors, NameOutsideTheNamesArea) {
  SyscallRecord r = typical_mmap();
  RawVma& lib = r.vmas[0];
  lib.name_len = uint16_t(r.names.size() + 1);  // from offset 0, one byte past the area
  expect_error(r.encode(), "name_len");
  r = typical_mmap();
  r.vmas[2].name_off = uint16_t(r.names.size());
  r.vmas[2].name_len = 1;
  expect_error(r.encode(), "name_off at the end");
  r = typical_mmap();
  r.vmas[2].name_off = 0xffff;
  r.vmas[2].name_len = 0xffff;
  expect_error(r.encode(), "name_off 0xffff");
  // A special name is checked the same way.
  r = typical_mmap();
  r.vmas[2].name_kind = MT_NAME_SPECIAL;
  r.vmas[2].name_off = 100;
  expect_error(r.encode(), "special name");
}

TEST(DecodeErrors, EndNotAfterStart) {
  SyscallRecord r = typical_mmap();
  r.vmas[1].end = r.vmas[1].start;
  expect_error(r.encode(), "end == start");
  r = typical_mmap();
  r.vmas[1].end = r.vmas[1].start - P;
  expect_error(r.encode(), "end < start");
}

TEST(DecodeErrors, OverlappingVmas) {
  SyscallRecord r = typical_mmap();
  r.vmas[1].end += P;  // runs into [vdso]
  expect_error(r.encode(), "overlap");
  // Same start, different end: not a duplicate, an overlap.
  r = typical_mmap();
  r.vmas.push_back(r.vmas[1]);
  r.vmas.back().end -= P;
  expect_error(r.encode(), "same start");
  // Overlap between VMAs reported out of order (only visible after sorting).
  r = typical_mmap();
  RawVma inner{kBase - 2 * P, kBase - P};
  r.vmas.insert(r.vmas.begin(), r.vmas[2]);
  r.vmas.erase(r.vmas.begin() + 3);
  r.vmas.push_back(inner);
  expect_error(r.encode(), "overlap out of order");
}

TEST(DecodeErrors, UnknownKind) {
  for (uint8_t kind : {uint8_t(0), uint8_t(MT_EV_KIND_COUNT), uint8_t(100), uint8_t(255)}) {
    TaskRecord t;
    t.h.kind = kind;
    expect_error(t.encode(), "kind " + std::to_string(kind));
    SyscallRecord r = typical_mmap();
    r.h.kind = kind;
    expect_error(r.encode(), "syscall-sized kind " + std::to_string(kind));
  }
}

TEST(DecodeErrors, UnknownSyscall) {
  for (uint8_t sys : {uint8_t(MT_SYS_NONE), uint8_t(MT_SYS_COUNT), uint8_t(200)}) {
    SyscallRecord r = typical_mmap();
    r.h.syscall = sys;
    expect_error(r.encode(), "syscall " + std::to_string(sys));
  }
  for (uint8_t sys = MT_SYS_MMAP; sys < MT_SYS_COUNT; sys++) {
    SyscallRecord r = typical_mmap();
    r.h.syscall = sys;
    auto e = decode_bytes(r.encode());
    ASSERT_TRUE(e.ok()) << int(sys) << ": " << e.error().message;
    EXPECT_EQ(static_cast<uint8_t>(e->syscall), sys);
  }
}

// Every prefix of a valid record is an error (all of its bytes are needed), never a crash.
// Run by hand under -fsanitize=address,undefined to see out-of-bounds reads.
TEST(DecodeErrors, EveryTruncationIsAnError) {
  auto full = typical_mmap().encode();
  ASSERT_TRUE(decode_bytes(full).ok());
  for (size_t n = 0; n < full.size(); n++) {
    // Copy so that the sanitizer sees a buffer ending exactly at the cut.
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    auto e = decode_bytes(prefix);
    EXPECT_FALSE(e.ok()) << "prefix of " << n << " bytes decoded";
    // The same prefix with a header that agrees with it.
    if (n >= 8) {
      uint32_t size = uint32_t(n);
      std::memcpy(prefix.data() + 4, &size, 4);
      auto consistent = decode_bytes(prefix);
      EXPECT_FALSE(consistent.ok()) << "prefix of " << n << " bytes with size " << n;
    }
  }
}

TEST(DecodeErrors, EveryTruncationOfATaskRecordIsAnError) {
  TaskRecord t;
  t.h.kind = MT_EV_EXEC;
  t.filename = "/bin/true";
  t.filename_len = 9;
  auto full = t.encode();
  ASSERT_TRUE(decode_bytes(full).ok());
  for (size_t n = 0; n < full.size(); n++) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    EXPECT_FALSE(decode_bytes(prefix).ok()) << n;
    if (n >= 8) {
      uint32_t size = uint32_t(n);
      std::memcpy(prefix.data() + 4, &size, 4);
      EXPECT_FALSE(decode_bytes(prefix).ok()) << n << " with size " << n;
    }
  }
}

// Garbage in every byte of the fixed part must give a value or an error, never a crash.
TEST(DecodeErrors, CorruptedBytesNeverCrash) {
  auto full = typical_mmap().encode();
  for (size_t i = 0; i < full.size(); i++) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(0x80)}) {
      auto bytes = full;
      bytes[i] = v;
      auto e = decode_bytes(bytes);
      if (e.ok()) {
        for (const auto& w : e->vmas) EXPECT_LT(w.start, w.end);
        EXPECT_LE(e->frames.size(), size_t(MT_MAX_FRAMES));
      }
    }
  }
}

// --- exec layout records ------------------------------------------------------------------

TEST(DecodeLayout, EveryVmaOfANewImage) {
  // Syscall record layout, kind MT_EV_LAYOUT, no syscall, one range over everything.
  SyscallRecord r;
  r.h.kind = MT_EV_LAYOUT;
  r.h.syscall = MT_SYS_NONE;
  r.ret = 0;
  for (uint64_t& a : r.args) a = 0;
  r.ranges = {{0, ~uint64_t(0)}};
  RawVma text = r.named(0x555555554000, 0x555555556000, "/usr/bin/true");
  text.flags = 0x75;
  text.ino = 77;
  text.dev = 254u << 20;
  RawVma heap{0x555555559000, 0x55555557a000};
  RawVma stack{0x7ffffffde000, 0x7ffffffff000};
  r.vmas = {text, heap, stack};
  auto e = decode_bytes(r.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kLayout);
  EXPECT_EQ(e->syscall, Syscall::kNone);
  ASSERT_EQ(e->ranges.size(), 1u);
  EXPECT_EQ(e->ranges[0].hi, ~uint64_t(0));
  ASSERT_EQ(e->vmas.size(), 3u);
  EXPECT_EQ(e->vmas[0].name, "/usr/bin/true");
  EXPECT_EQ(e->start_brk, 0x555555559000u);
  EXPECT_FALSE(e->failed());
  EXPECT_EQ(kind_name(e->kind), "layout");
  EXPECT_EQ(bytes_mapped(*e), 0u);
}

TEST(DecodeLayout, ErrorsAreCheckedAsForCalls) {
  SyscallRecord r = typical_mmap();
  r.h.kind = MT_EV_LAYOUT;
  r.h.syscall = MT_SYS_COUNT;
  expect_error(r.encode(), "layout with syscall 16");
  r = typical_mmap();
  r.h.kind = MT_EV_LAYOUT;
  r.vmas[1].end = r.vmas[1].start;
  expect_error(r.encode(), "layout end == start");
  r = typical_mmap();
  r.h.kind = MT_EV_LAYOUT;
  auto full = r.encode();
  for (size_t n = 0; n < full.size(); n++) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    EXPECT_FALSE(decode_bytes(prefix).ok()) << n;
  }
}

// --- task records -----------------------------------------------------------------------

TEST(DecodeTask, Fork) {
  TaskRecord t;
  t.h.kind = MT_EV_FORK;
  t.h.syscall = 0;
  t.h.flags = MT_F_THREAD_SHARED_VM;
  t.h.enter_ns = t.h.exit_ns = 77;
  t.child_pid = 5000;
  t.child_tid = 5000;
  t.child_mm = 0xffff888000abc000;
  auto e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kFork);
  EXPECT_EQ(e->pid, 4242u);
  EXPECT_EQ(e->tid, 4243u);
  EXPECT_EQ(e->mm, 0xffff888012345000u);
  EXPECT_EQ(e->comm, "workload");
  EXPECT_EQ(e->flags, MT_F_THREAD_SHARED_VM);
  EXPECT_EQ(e->child_pid, 5000u);
  EXPECT_EQ(e->child_tid, 5000u);
  EXPECT_EQ(e->child_mm, 0xffff888000abc000u);
  EXPECT_EQ(e->exit_ns, 77u);
  EXPECT_EQ(e->filename, "");
  EXPECT_FALSE(e->failed());
  EXPECT_EQ(bytes_mapped(*e), 0u);
}

TEST(DecodeTask, ThreadExitMmap) {
  TaskRecord t;
  t.h.kind = MT_EV_THREAD;
  t.child_pid = 4242;
  t.child_tid = 4250;
  auto e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kThread);
  EXPECT_EQ(e->child_tid, 4250u);

  t = TaskRecord{};
  t.h.kind = MT_EV_EXIT_MMAP;
  t.child_mm = 0xffff888000def000;
  e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kExitMmap);
  EXPECT_EQ(e->child_mm, 0xffff888000def000u);
}

TEST(DecodeTask, ExecFilenameUsesItsLength) {
  TaskRecord t;
  t.h.kind = MT_EV_EXEC;
  t.child_pid = 4242;
  t.child_tid = 4250;  // the old tid
  t.child_mm = 0xffff888000fff000;
  t.filename = "/usr/bin/true";
  t.filename_len = 13;
  auto e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kExec);
  EXPECT_EQ(e->filename, "/usr/bin/true");
  EXPECT_EQ(e->child_tid, 4250u);
  EXPECT_EQ(e->child_mm, 0xffff888000fff000u);

  t.filename_len = 8;  // the length bounds the name
  e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->filename, "/usr/bin");

  // A length beyond the array and no NUL: the array bounds it.
  t.filename = std::string(MT_FILENAME_MAX, 'x');
  t.filename_len = 100000;
  e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->filename, std::string(MT_FILENAME_MAX, 'x'));
}

TEST(DecodeTask, Exit) {
  TaskRecord t;
  t.h.kind = MT_EV_EXIT;
  t.child_pid = 4242;
  t.exit_code = 0x8b;  // killed by SIGSEGV, core dumped
  auto e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, Kind::kExit);
  EXPECT_EQ(e->exit_code, 0x8b);
  t.exit_code = -1;
  e = decode_bytes(t.encode());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->exit_code, -1);
}

// --- names ------------------------------------------------------------------------------

TEST(Names, SyscallKindAndLossSlots) {
  EXPECT_EQ(syscall_name(Syscall::kMmap), "mmap");
  EXPECT_EQ(syscall_name(Syscall::kPkeyMprotect), "pkey_mprotect");
  EXPECT_EQ(syscall_name(Syscall::kMseal), "mseal");
  EXPECT_EQ(kind_name(Kind::kExitMmap), "exit_mmap");
  EXPECT_EQ(kind_name(Kind::kLost), "lost");
  EXPECT_EQ(loss_slot_name(MT_SYS_MUNMAP), "munmap");
  EXPECT_EQ(loss_slot_name(unsigned(MT_SYS_COUNT) + MT_EV_FORK), "fork");
  EXPECT_EQ(loss_slot_name(unsigned(MT_SYS_COUNT) + MT_EV_EXIT_MMAP), "exit_mmap");
}

TEST(Names, ArgumentsAsInTheManPages) {
  auto names = [](Syscall s) {
    auto span = arg_names(s);
    return std::vector<std::string>(span.begin(), span.end());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(Syscall::kMmap), (V{"addr", "length", "prot", "flags", "fd", "offset"}));
  EXPECT_EQ(names(Syscall::kMremap),
            (V{"old_address", "old_size", "new_size", "flags", "new_address"}));
  EXPECT_EQ(names(Syscall::kMunmap), (V{"addr", "length"}));
  EXPECT_EQ(names(Syscall::kBrk), (V{"addr"}));
  EXPECT_EQ(names(Syscall::kMadvise), (V{"addr", "length", "advice"}));
  EXPECT_EQ(names(Syscall::kShmat), (V{"shmid", "shmaddr", "shmflg"}));
  EXPECT_TRUE(names(Syscall::kMunlockall).empty());
}

// --- to_proc_vma ------------------------------------------------------------------------

Event event_with_bounds() {
  Event e;
  e.start_brk = 0x555555559000;
  e.brk = 0x55555557a000;
  e.start_stack = 0x7ffffffde123;
  return e;
}

WindowVma wvma(uint64_t start, uint64_t end, uint64_t flags) {
  WindowVma w;
  w.start = start;
  w.end = end;
  w.vm_flags = flags;
  return w;
}

TEST(ToProcVma, PermsFromVmFlags) {
  Event e = event_with_bounds();
  struct Case {
    uint64_t flags;
    const char* perms;
  } cases[] = {
      {0x0, "---p"},   {0x1, "r--p"},       {0x3, "rw-p"},        {0x5, "r-xp"},
      {0x7, "rwxp"},   {0x2, "-w-p"},       {0x70, "---p"},       {0x73, "rw-p"},
      {0x80, "---s"},  {0x8 | 0x1, "r--p"}, {0x80 | 0x3, "rw-s"}, {0x80 | 0x8 | 0xfb, "rw-s"},
      {0x173, "rw-p"},  // VM_GROWSDOWN and the VM_MAY* bits do not show
  };
  for (const auto& c : cases) {
    model::Vma v = to_proc_vma(wvma(kBase, kBase + P, c.flags), e);
    EXPECT_EQ(model::perms_string(v.perms), c.perms) << std::hex << c.flags;
    EXPECT_EQ(v.vm_flags, c.flags);
  }
}

TEST(ToProcVma, VmSharedWithoutMayShareIsPrivate) {
  // A shared mapping opened read-only has VM_MAYSHARE but not VM_SHARED; /proc looks only
  // at VM_MAYSHARE, so VM_SHARED (0x8) alone must not give 's'.
  model::Vma v = to_proc_vma(wvma(kBase, kBase + P, 0x8 | 0x1), event_with_bounds());
  EXPECT_EQ(model::perms_string(v.perms), "r--p");
}

TEST(ToProcVma, FileMappingOffsetDeviceInode) {
  WindowVma w = wvma(kBase, kBase + 4 * P, 0x75);
  w.pgoff = 0x1a3;
  w.inode = 9876543;
  w.dev = (259u << 20) | 0x12345;
  w.name_kind = MT_NAME_PATH;
  w.name = "/usr/lib/libz.so.1 (deleted)";
  model::Vma v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.start, kBase);
  EXPECT_EQ(v.end, kBase + 4 * P);
  EXPECT_EQ(v.offset, 0x1a3000u);
  EXPECT_EQ(v.dev_major, 259u);
  EXPECT_EQ(v.dev_minor, 0x12345u);
  EXPECT_EQ(v.inode, 9876543u);
  EXPECT_EQ(v.name, "/usr/lib/libz.so.1 (deleted)");
  EXPECT_EQ(model::perms_string(v.perms), "r-xp");
}

TEST(ToProcVma, LargePgoffIsNotTruncated) {
  WindowVma w = wvma(kBase, kBase + P, 0x71);
  w.pgoff = uint64_t(1) << 40;  // an offset of 4 PiB (a large device or sparse file)
  w.inode = 1;
  w.dev = 8 << 20;
  w.name_kind = MT_NAME_PATH;
  w.name = "/dev/sdb";
  EXPECT_EQ(to_proc_vma(w, event_with_bounds()).offset, uint64_t(1) << 52);
}

TEST(ToProcVma, DeviceBoundaries) {
  WindowVma w = wvma(kBase, kBase + P, 0x71);
  w.inode = 5;
  w.name_kind = MT_NAME_PATH;
  w.name = "/f";
  w.dev = 0xfff00000;  // major 4095, minor 0
  model::Vma v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.dev_major, 4095u);
  EXPECT_EQ(v.dev_minor, 0u);
  w.dev = 0x000fffff;  // major 0, minor 1048575
  v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.dev_major, 0u);
  EXPECT_EQ(v.dev_minor, 0xfffffu);
  // The decimal-looking 8:1 encoding of userspace (major << 8) is not what the kernel sends.
  w.dev = (8u << 20) | 1;
  v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.dev_major, 8u);
  EXPECT_EQ(v.dev_minor, 1u);
}

TEST(ToProcVma, AnonymousMemoryHasOffsetZero) {
  // The kernel sets vm_pgoff of anonymous memory to its address in pages; /proc prints 0.
  WindowVma w = wvma(kBase, kBase + 16 * P, 0x73);
  w.pgoff = kBase >> 12;
  model::Vma v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.offset, 0u);
  EXPECT_EQ(v.dev_major, 0u);
  EXPECT_EQ(v.dev_minor, 0u);
  EXPECT_EQ(v.inode, 0u);
  EXPECT_EQ(v.name, "");
}

TEST(ToProcVma, UnresolvedFileKeepsItsOffset) {
  // anon_inode files have dev 0 inode N; a file the BPF side could not name still has
  // a backing object.
  WindowVma w = wvma(kBase, kBase + P, 0x71);
  w.pgoff = 2;
  w.name_kind = MT_NAME_UNRESOLVED;
  model::Vma v = to_proc_vma(w, event_with_bounds());
  EXPECT_EQ(v.offset, 2u * P);
}

TEST(ToProcVma, SpecialMappingKeepsItsName) {
  Event e = event_with_bounds();
  WindowVma w = wvma(0x7ffff7fc1000, 0x7ffff7fc3000, 0x75);
  w.pgoff = 0x7ffff7fc1;
  w.name_kind = MT_NAME_SPECIAL;
  w.name = "[vdso]";
  model::Vma v = to_proc_vma(w, e);
  EXPECT_EQ(v.name, "[vdso]");
  EXPECT_EQ(v.offset, 0u);
  // Even where a heap rule would match, the special name wins (kernel order).
  w.start = e.start_brk;
  w.end = e.brk;
  EXPECT_EQ(to_proc_vma(w, e).name, "[vdso]");
}

TEST(ToProcVma, HeapRule) {
  // kernel: vm_start <= mm->brk && vm_end >= mm->start_brk
  Event e = event_with_bounds();
  const uint64_t sb = e.start_brk, b = e.brk;
  auto name = [&](uint64_t start, uint64_t end) {
    return to_proc_vma(wvma(start, end, 0x73), e).name;
  };
  EXPECT_EQ(name(sb, b), "[heap]");
  EXPECT_EQ(name(sb, b + 4 * P), "[heap]");   // brk not page aligned in general
  EXPECT_EQ(name(sb - 4 * P, sb), "[heap]");  // ends exactly at start_brk
  EXPECT_EQ(name(b, b + P), "[heap]");        // starts exactly at brk
  EXPECT_EQ(name(sb - 4 * P, sb - P), "");    // below the heap
  EXPECT_EQ(name(b + P, b + 2 * P), "");      // above the heap
  // A file mapping inside the heap bounds keeps its path.
  WindowVma f = wvma(sb, b, 0x71);
  f.inode = 3;
  f.dev = 8 << 20;
  f.name_kind = MT_NAME_PATH;
  f.name = "/file";
  EXPECT_EQ(to_proc_vma(f, e).name, "/file");
}

TEST(ToProcVma, StackRule) {
  // kernel: vm_start <= mm->start_stack && vm_end >= mm->start_stack
  Event e = event_with_bounds();
  const uint64_t ss = e.start_stack;  // 0x7ffffffde123
  auto name = [&](uint64_t start, uint64_t end) {
    return to_proc_vma(wvma(start, end, 0x173), e).name;
  };
  EXPECT_EQ(name(0x7ffffffbd000, 0x7ffffffff000), "[stack]");
  EXPECT_EQ(name(ss, ss + P), "[stack]");
  EXPECT_EQ(name(ss - P, ss), "[stack]");
  EXPECT_EQ(name(ss + 1, ss + P), "");
  EXPECT_EQ(name(0x7ffffffbd000, ss - 1), "");
}

TEST(ToProcVma, NoHeapWithoutBounds) {
  // An event without mm bounds (all zero) names nothing [heap] or [stack] above address 0.
  Event e;
  EXPECT_EQ(to_proc_vma(wvma(kBase, kBase + P, 0x73), e).name, "");
}

// --- bytes mapped / unmapped -------------------------------------------------------------

Event syscall(Syscall s, std::initializer_list<uint64_t> args, int64_t ret) {
  Event e;
  e.kind = Kind::kSyscall;
  e.syscall = s;
  size_t i = 0;
  for (uint64_t a : args) e.args[i++] = a;
  e.ret = ret;
  return e;
}

constexpr uint64_t kMapPrivate = 0x02, kMapAnonymous = 0x20, kMapShared = 0x01;

TEST(Bytes, MmapCountsPagesMapped) {
  Event e =
      syscall(Syscall::kMmap, {0, 4 * 1024 * 1024, 3, kMapPrivate | kMapAnonymous, uint64_t(-1), 0},
              int64_t(kBase));
  EXPECT_EQ(bytes_mapped(e), 4u * 1024 * 1024);
  EXPECT_EQ(bytes_unmapped(e), 0u);
  EXPECT_TRUE(is_anonymous(e));
  EXPECT_EQ(length_arg(e), 4u * 1024 * 1024);
  e.args[1] = 100;  // rounded up to a page
  EXPECT_EQ(bytes_mapped(e), P);
  EXPECT_EQ(length_arg(e), 100u);
  e.args[1] = P + 1;
  EXPECT_EQ(bytes_mapped(e), 2 * P);
}

TEST(Bytes, FileMmapIsNotAnonymous) {
  Event e = syscall(Syscall::kMmap, {0, 3 * P, 1, kMapPrivate, 3, 0}, int64_t(kBase));
  EXPECT_FALSE(is_anonymous(e));
  EXPECT_EQ(bytes_mapped(e), 3 * P);
  e.args[3] = kMapShared;
  EXPECT_FALSE(is_anonymous(e));
  e.args[3] = kMapShared | kMapAnonymous;
  EXPECT_TRUE(is_anonymous(e));
}

TEST(Bytes, Munmap) {
  Event e = syscall(Syscall::kMunmap, {kBase, 5 * P + 10}, 0);
  EXPECT_EQ(bytes_unmapped(e), 6 * P);
  EXPECT_EQ(bytes_mapped(e), 0u);
  EXPECT_EQ(length_arg(e), 5 * P + 10);
  EXPECT_FALSE(is_anonymous(e));
}

TEST(Bytes, MremapGrowAndShrink) {
  Event grow = syscall(Syscall::kMremap, {kBase, 2 * P, 5 * P, 1}, int64_t(kBase));
  EXPECT_EQ(bytes_mapped(grow), 3 * P);
  EXPECT_EQ(bytes_unmapped(grow), 0u);
  EXPECT_EQ(length_arg(grow), 5 * P);
  Event moved = syscall(Syscall::kMremap, {kBase, 2 * P, 5 * P, 1}, int64_t(kBase + 100 * P));
  EXPECT_EQ(bytes_mapped(moved), 3 * P);
  Event shrink = syscall(Syscall::kMremap, {kBase, 5 * P, 2 * P, 0}, int64_t(kBase));
  EXPECT_EQ(bytes_mapped(shrink), 0u);
  EXPECT_EQ(bytes_unmapped(shrink), 3 * P);
  EXPECT_EQ(length_arg(shrink), 2 * P);
  // Sizes within the same page change nothing.
  Event same = syscall(Syscall::kMremap, {kBase, P + 1, 2 * P, 1}, int64_t(kBase));
  EXPECT_EQ(bytes_mapped(same), 0u);
  EXPECT_EQ(bytes_unmapped(same), 0u);
}

// bytes_mapped() of an mremap is not new_size - old_size when MREMAP_DONTUNMAP keeps the old
// VMA (old_size == new_size is required there, so that was 0): the call adds new_size bytes.
TEST(Bytes, MremapDontunmapMapsTheWholeNewSize) {
  // MREMAP_MAYMOVE|MREMAP_DONTUNMAP (1|4) moves the pages but leaves the old VMA in place:
  // the address space grows by new_size although old_size == new_size.
  Event e = syscall(Syscall::kMremap, {kBase, 4 * P, 4 * P, 1 | 4}, int64_t(kBase + 100 * P));
  EXPECT_EQ(bytes_mapped(e), 4 * P);
  EXPECT_EQ(bytes_unmapped(e), 0u);
}

TEST(Bytes, BrkUpAndDownFromTheWindow) {
  const uint64_t old_brk = 0x55555557a000;
  Event up = syscall(Syscall::kBrk, {old_brk + 0x21000}, int64_t(old_brk + 0x21000));
  up.ranges = {{old_brk, old_brk + 0x21000}};
  EXPECT_EQ(bytes_mapped(up), 0x21000u);
  EXPECT_EQ(bytes_unmapped(up), 0u);
  EXPECT_TRUE(is_anonymous(up));
  EXPECT_EQ(length_arg(up), 0u);

  // A break that is not page aligned: the window runs to the page above it.
  Event up_unaligned = syscall(Syscall::kBrk, {old_brk + 0x100}, int64_t(old_brk + 0x100));
  up_unaligned.ranges = {{old_brk, old_brk + P}};
  EXPECT_EQ(bytes_mapped(up_unaligned), P);

  Event down = syscall(Syscall::kBrk, {old_brk - 0x10000}, int64_t(old_brk - 0x10000));
  down.ranges = {{old_brk - 0x10000, old_brk}};
  EXPECT_EQ(bytes_mapped(down), 0u);
  EXPECT_EQ(bytes_unmapped(down), 0x10000u);

  // brk(0) and a refused brk return the current break and carry no window.
  Event query = syscall(Syscall::kBrk, {0}, int64_t(old_brk));
  query.flags = MT_F_NO_WINDOW;
  EXPECT_EQ(bytes_mapped(query), 0u);
  EXPECT_EQ(bytes_unmapped(query), 0u);
}

TEST(Bytes, FailedCallsCountNothing) {
  Event mmap_failed = syscall(
      Syscall::kMmap, {0, 1ull << 40, 3, kMapPrivate | kMapAnonymous, uint64_t(-1), 0}, -12);
  EXPECT_TRUE(mmap_failed.failed());
  EXPECT_EQ(mmap_failed.error_number(), 12);
  EXPECT_EQ(bytes_mapped(mmap_failed), 0u);
  Event munmap_failed = syscall(Syscall::kMunmap, {kBase + 1, P}, -22);
  EXPECT_EQ(bytes_unmapped(munmap_failed), 0u);
  Event mremap_failed = syscall(Syscall::kMremap, {kBase, P, 8 * P, 0}, -12);
  EXPECT_EQ(bytes_mapped(mremap_failed), 0u);
  Event mremap_shrink_failed = syscall(Syscall::kMremap, {kBase, 8 * P, P, 0}, -14);
  EXPECT_EQ(bytes_unmapped(mremap_shrink_failed), 0u);
  // -4096 and below are addresses, not errors.
  Event high =
      syscall(Syscall::kMmap, {0, P, 3, kMapPrivate | kMapAnonymous, uint64_t(-1), 0}, -4096);
  EXPECT_FALSE(high.failed());
  EXPECT_EQ(bytes_mapped(high), P);
}

TEST(Bytes, ShmatFromTheWindow) {
  Event e = syscall(Syscall::kShmat, {7, 0, 0}, int64_t(kBase));
  e.ranges = {{kBase, kBase + 1}};
  e.vmas = {wvma(kBase - P, kBase, 0x73), wvma(kBase, kBase + 16 * P, 0xfb)};
  EXPECT_EQ(bytes_mapped(e), 16 * P);
  EXPECT_FALSE(is_anonymous(e));
}

TEST(Bytes, OtherCallsMapNothing) {
  Event mprotect = syscall(Syscall::kMprotect, {kBase, 8 * P, 1}, 0);
  EXPECT_EQ(bytes_mapped(mprotect), 0u);
  EXPECT_EQ(bytes_unmapped(mprotect), 0u);
  EXPECT_EQ(length_arg(mprotect), 8 * P);
  Event madvise = syscall(Syscall::kMadvise, {kBase, 2 * P, 4}, 0);
  EXPECT_EQ(bytes_unmapped(madvise), 0u);
  Event fork;
  fork.kind = Kind::kFork;
  fork.args[1] = P;
  EXPECT_EQ(bytes_mapped(fork), 0u);
}

}  // namespace
}  // namespace maptrail::event

namespace maptrail::event {
namespace {

// The stack top word the kernel and user space share in a thread's pending-call slot.
TEST(StackTopWord, KeepsTheThreadIdAndRoundsTheTopUpToItsGrain) {
  constexpr uint64_t kTop = 0x7ffc12345678;  // a main thread's stack, near the top of 47 bits
  constexpr uint32_t kTid = (1u << 22) - 1;  // the highest id pid_max allows
  ASSERT_TRUE(MT_STACK_TOP_FITS(kTop));
  uint64_t word = MT_STACK_TOP(kTid, kTop);
  EXPECT_EQ(MT_STACK_TOP_TID(word), kTid);
  EXPECT_GE(MT_STACK_TOP_ADDR(word), kTop) << "a lower top would cut frames off";
  EXPECT_LT(MT_STACK_TOP_ADDR(word), kTop + 32);
  EXPECT_EQ(MT_STACK_TOP_ADDR(MT_STACK_TOP(7u, 0x1000)), 0x1000u) << "an aligned top stays";
  EXPECT_EQ(MT_STACK_TOP_TID(MT_STACK_TOP(7u, 0x1000)), 7u);
  EXPECT_NE(MT_STACK_TOP_TID(word), kTid - 1) << "no other thread reads it as its own";
  EXPECT_FALSE(MT_STACK_TOP_FITS(1ULL << 47)) << "5-level paging addresses are not kept";
  EXPECT_FALSE(MT_STACK_TOP_FITS((1ULL << 47) - 1)) << "rounded up, it would reach the id";
  EXPECT_TRUE(MT_STACK_TOP_FITS((1ULL << 47) - 32));
  EXPECT_EQ(MT_STACK_TOP_TID(MT_STACK_TOP(5u, (1ULL << 47) - 32)), 5u);
}

}  // namespace
}  // namespace maptrail::event
