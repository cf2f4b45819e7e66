#include "render/decode.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

// Inputs are spelled as the kernel's raw numbers on purpose: the decoder must agree with the
// ABI, not merely with whichever headers this test happens to be compiled against.
namespace maptrail::render {
namespace {

constexpr uint64_t kProtRead = 0x1, kProtWrite = 0x2, kProtExec = 0x4, kProtSem = 0x8;
constexpr uint64_t kProtGrowsdown = 0x01000000;

constexpr uint64_t kMapShared = 0x01, kMapPrivate = 0x02, kMapSharedValidate = 0x03;
constexpr uint64_t kMapFixed = 0x10, kMapAnonymous = 0x20, kMapNoreserve = 0x4000;
constexpr uint64_t kMapStack = 0x20000, kMapHugetlb = 0x40000, kMapSync = 0x80000;
constexpr uint64_t kMapFixedNoreplace = 0x100000, kMapUninitialized = 0x4000000;
constexpr int kMapHugeShift = 26;

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024, kTiB = kGiB * 1024;

TEST(MmapProt, NamesKnownBitsInBitOrder) {
  EXPECT_EQ(mmap_prot(kProtRead), "PROT_READ");
  EXPECT_EQ(mmap_prot(kProtWrite | kProtRead), "PROT_READ|PROT_WRITE");
  EXPECT_EQ(mmap_prot(kProtExec | kProtWrite | kProtRead), "PROT_READ|PROT_WRITE|PROT_EXEC");
  EXPECT_EQ(mmap_prot(kProtRead | kProtSem | kProtGrowsdown), "PROT_READ|PROT_SEM|PROT_GROWSDOWN");
}

TEST(MmapProt, ZeroIsProtNone) {
  EXPECT_EQ(mmap_prot(0), "PROT_NONE");
}

TEST(MmapProt, UnknownBitsGoLastAsOneHexNumber) {
  EXPECT_EQ(mmap_prot(kProtRead | 0x1000), "PROT_READ|0x1000");
  EXPECT_EQ(mmap_prot(0x1000), "0x1000");
  EXPECT_EQ(mmap_prot(kProtWrite | 0x10 | 0x8000000000000000), "PROT_WRITE|0x8000000000000010");
}

TEST(ProtRwx, CompactColumns) {
  EXPECT_EQ(prot_rwx(kProtRead | kProtWrite), "rw-");
  EXPECT_EQ(prot_rwx(kProtRead | kProtExec), "r-x");
  EXPECT_EQ(prot_rwx(kProtRead | kProtWrite | kProtExec), "rwx");
  EXPECT_EQ(prot_rwx(kProtWrite), "-w-");
}

TEST(ProtRwx, ZeroIsAllDashes) {
  EXPECT_EQ(prot_rwx(0), "---");
}

TEST(ProtRwx, OtherBitsAppendedAsHex) {
  EXPECT_EQ(prot_rwx(kProtRead | kProtWrite | 0x10), "rw-+0x10");
  EXPECT_EQ(prot_rwx(0x10), "---+0x10");
  EXPECT_EQ(prot_rwx(kProtRead | kProtGrowsdown | kProtSem), "r--+0x1000008");
}

TEST(MmapFlags, TypeFirstThenBitOrder) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous), "MAP_PRIVATE|MAP_ANONYMOUS");
  // MAP_FIXED (0x10) is a lower bit than MAP_ANONYMOUS (0x20), so it prints first, as in strace.
  EXPECT_EQ(mmap_flags(kMapAnonymous | kMapFixed | kMapPrivate),
            "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS");
  EXPECT_EQ(mmap_flags(kMapShared), "MAP_SHARED");
  EXPECT_EQ(mmap_flags(kMapSharedValidate | kMapSync), "MAP_SHARED_VALIDATE|MAP_SYNC");
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous | kMapNoreserve | kMapStack),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK");
  EXPECT_EQ(mmap_flags(0x08 | kMapAnonymous), "MAP_DROPPABLE|MAP_ANONYMOUS");
}

TEST(MmapFlags, CombinedWithHugePageSizeLast) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous | kMapFixedNoreplace | kMapHugetlb |
                       (21ULL << kMapHugeShift)),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_FIXED_NOREPLACE|MAP_HUGE_2MB");
  EXPECT_EQ(mmap_flags(kMapShared | kMapHugetlb | (30ULL << kMapHugeShift)),
            "MAP_SHARED|MAP_HUGETLB|MAP_HUGE_1GB");
}

TEST(MmapFlags, HugetlbWithoutSizeUsesDefaultPageSize) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous | kMapHugetlb),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB");
}

TEST(MmapFlags, UnnamedHugePageSizeUsesStraceShiftSpelling) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapHugetlb | (12ULL << kMapHugeShift)),
            "MAP_PRIVATE|MAP_HUGETLB|12<<MAP_HUGE_SHIFT");
}

TEST(MmapFlags, Bit26IsUninitializedOnlyWithoutHugetlb) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous | kMapUninitialized),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_UNINITIALIZED");
  // With MAP_HUGETLB the same bit is the low bit of the size field: 1 << 21 has bit 26 set.
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapHugetlb | (21ULL << kMapHugeShift)),
            "MAP_PRIVATE|MAP_HUGETLB|MAP_HUGE_2MB");
  // Without MAP_HUGETLB, size-field bits above 26 are just unknown bits.
  EXPECT_EQ(mmap_flags(kMapPrivate | (21ULL << kMapHugeShift)),
            "MAP_PRIVATE|MAP_UNINITIALIZED|0x50000000");
}

TEST(MmapFlags, ZeroAndUnknownType) {
  EXPECT_EQ(mmap_flags(0), "0");
  EXPECT_EQ(mmap_flags(kMapAnonymous), "0x0|MAP_ANONYMOUS");
  EXPECT_EQ(mmap_flags(0x5 | kMapAnonymous), "0x5|MAP_ANONYMOUS");
}

TEST(MmapFlags, UnknownBitsGoLastAsOneHexNumber) {
  EXPECT_EQ(mmap_flags(kMapPrivate | kMapAnonymous | 0x200000 | 0x100000000),
            "MAP_PRIVATE|MAP_ANONYMOUS|0x100200000");
  EXPECT_EQ(mmap_flags(kMapShared | kMapHugetlb | (21ULL << kMapHugeShift) | 0x400000),
            "MAP_SHARED|MAP_HUGETLB|MAP_HUGE_2MB|0x400000");
}

TEST(MremapFlags, Decodes) {
  EXPECT_EQ(mremap_flags(1), "MREMAP_MAYMOVE");
  EXPECT_EQ(mremap_flags(1 | 2), "MREMAP_MAYMOVE|MREMAP_FIXED");
  EXPECT_EQ(mremap_flags(4 | 1), "MREMAP_MAYMOVE|MREMAP_DONTUNMAP");
  EXPECT_EQ(mremap_flags(0), "0");
  EXPECT_EQ(mremap_flags(1 | 0x8), "MREMAP_MAYMOVE|0x8");
  EXPECT_EQ(mremap_flags(0x10), "0x10");
}

TEST(MadviseAdvice, NamesKnownValues) {
  EXPECT_EQ(madvise_advice(0), "MADV_NORMAL");
  EXPECT_EQ(madvise_advice(4), "MADV_DONTNEED");
  EXPECT_EQ(madvise_advice(8), "MADV_FREE");
  EXPECT_EQ(madvise_advice(14), "MADV_HUGEPAGE");
  EXPECT_EQ(madvise_advice(20), "MADV_COLD");
  EXPECT_EQ(madvise_advice(21), "MADV_PAGEOUT");
  EXPECT_EQ(madvise_advice(22), "MADV_POPULATE_READ");
  EXPECT_EQ(madvise_advice(23), "MADV_POPULATE_WRITE");
  EXPECT_EQ(madvise_advice(24), "MADV_DONTNEED_LOCKED");
  EXPECT_EQ(madvise_advice(25), "MADV_COLLAPSE");
  EXPECT_EQ(madvise_advice(100), "MADV_HWPOISON");
  EXPECT_EQ(madvise_advice(102), "MADV_GUARD_INSTALL");
  EXPECT_EQ(madvise_advice(103), "MADV_GUARD_REMOVE");
}

TEST(MadviseAdvice, UnknownIsSignedDecimalOfTheIntTheKernelReads) {
  EXPECT_EQ(madvise_advice(5), "5");
  EXPECT_EQ(madvise_advice(99), "99");
  EXPECT_EQ(madvise_advice(static_cast<uint64_t>(-1)), "-1");
  // Upper register half is not part of the kernel's `int behavior`.
  EXPECT_EQ(madvise_advice(0xdead00000004), "MADV_DONTNEED");
}

TEST(Mlock2Flags, Decodes) {
  EXPECT_EQ(mlock2_flags(1), "MLOCK_ONFAULT");
  EXPECT_EQ(mlock2_flags(0), "0");
  EXPECT_EQ(mlock2_flags(1 | 0x40), "MLOCK_ONFAULT|0x40");
  EXPECT_EQ(mlock2_flags(0xffffffff00000001), "MLOCK_ONFAULT");
}

TEST(MlockallFlags, Decodes) {
  EXPECT_EQ(mlockall_flags(1), "MCL_CURRENT");
  EXPECT_EQ(mlockall_flags(1 | 2 | 4), "MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT");
  EXPECT_EQ(mlockall_flags(4 | 2), "MCL_FUTURE|MCL_ONFAULT");
  EXPECT_EQ(mlockall_flags(0), "0");
  EXPECT_EQ(mlockall_flags(2 | 0x80000000), "MCL_FUTURE|0x80000000");
  EXPECT_EQ(mlockall_flags(0x100000000), "0");
}

TEST(ShmatFlags, Decodes) {
  EXPECT_EQ(shmat_flags(010000), "SHM_RDONLY");
  EXPECT_EQ(shmat_flags(010000 | 020000 | 040000 | 0100000),
            "SHM_RDONLY|SHM_RND|SHM_REMAP|SHM_EXEC");
  EXPECT_EQ(shmat_flags(0100000 | 020000), "SHM_RND|SHM_EXEC");
  EXPECT_EQ(shmat_flags(0), "0");
  EXPECT_EQ(shmat_flags(010000 | 0x1), "SHM_RDONLY|0x1");
}

TEST(ErrnoName, CommonValues) {
  EXPECT_EQ(errno_name(ENOMEM), "ENOMEM");
  EXPECT_EQ(errno_name(EACCES), "EACCES");
  EXPECT_EQ(errno_name(EINVAL), "EINVAL");
  EXPECT_EQ(errno_name(EEXIST), "EEXIST");
  EXPECT_EQ(errno_name(EHWPOISON), "EHWPOISON");
}

TEST(ErrnoName, AliasesUseStraceSpelling) {
  EXPECT_EQ(errno_name(EWOULDBLOCK), "EAGAIN");
  EXPECT_EQ(errno_name(EDEADLOCK), "EDEADLK");
  EXPECT_EQ(errno_name(ENOTSUP), "EOPNOTSUPP");
}

TEST(ErrnoName, AcceptsNegatedSyscallReturn) {
  EXPECT_EQ(errno_name(-ENOMEM), "ENOMEM");
  EXPECT_EQ(errno_name(-9999), "E9999");
}

TEST(ErrnoName, ZeroAndUnknown) {
  EXPECT_EQ(errno_name(0), "0");
  EXPECT_EQ(errno_name(9999), "E9999");
  EXPECT_EQ(errno_name(41), "E41");  // a hole in Linux's numbering
  EXPECT_EQ(errno_name(520), "E520");
  EXPECT_EQ(errno_name(INT_MIN), "E2147483648");
  EXPECT_EQ(errno_name(INT_MAX), "E2147483647");
}

TEST(ErrnoName, KernelInternalCodesSeenAtSyscallExit) {
  EXPECT_EQ(errno_name(-512), "ERESTARTSYS");
  EXPECT_EQ(errno_name(516), "ERESTART_RESTARTBLOCK");
  EXPECT_EQ(errno_name(524), "ENOTSUPP");
  EXPECT_EQ(errno_name(531), "ENOGRACE");
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
TEST(ErrnoName, AgreesWithGlibcForEveryUserVisibleErrno) {
  for (int err = 1; err < 512; ++err) {
    const char* glibc_name = strerrorname_np(err);
    const std::string expected = glibc_name ? glibc_name : "E" + std::to_string(err);
    EXPECT_EQ(errno_name(err), expected) << "errno " << err;
  }
}
#endif

TEST(HumanSize, BytesBelowOneKiB) {
  EXPECT_EQ(human_size(0), "0B");
  EXPECT_EQ(human_size(1), "1B");
  EXPECT_EQ(human_size(123), "123B");
  EXPECT_EQ(human_size(1023), "1023B");
}

TEST(HumanSize, WholeUnitsAreExact) {
  EXPECT_EQ(human_size(1024), "1K");
  EXPECT_EQ(human_size(4096), "4K");
  EXPECT_EQ(human_size(1023 * kKiB), "1023K");
  EXPECT_EQ(human_size(2097152), "2M");
  EXPECT_EQ(human_size(kGiB), "1G");
  EXPECT_EQ(human_size(kTiB), "1T");
  EXPECT_EQ(human_size(kTiB * 1024), "1P");
  EXPECT_EQ(human_size(kTiB * 1024 * 1024), "1E");
}

TEST(HumanSize, ExactHalvesHaveNoMarker) {
  EXPECT_EQ(human_size(kMiB + kMiB / 2), "1.5M");
  EXPECT_EQ(human_size(1536), "1.5K");
  EXPECT_EQ(human_size(2 * kGiB + kGiB / 2), "2.5G");
}

TEST(HumanSize, RoundedValuesAreMarkedApproximate) {
  EXPECT_EQ(human_size(1025), "~1.0K");
  EXPECT_EQ(human_size(kMiB + kMiB / 5), "~1.2M");
  EXPECT_EQ(human_size(2 * kMiB + 1), "~2.0M");
  EXPECT_EQ(human_size(kMiB + 4 * kKiB), "~1.0M");  // one page over 1M is not "1M"
  EXPECT_EQ(human_size(2 * kMiB - 1), "~2.0M");
}

TEST(HumanSize, RoundingIntoTheNextUnitSwitchesUnit) {
  EXPECT_EQ(human_size(kMiB - 1), "~1.0M");
  EXPECT_EQ(human_size(kGiB - kKiB), "~1.0G");
  EXPECT_EQ(human_size(UINT64_MAX), "~16.0E");
}

TEST(HexAddr, LowercaseUnpadded) {
  EXPECT_EQ(hex_addr(0x7f12a4c00000), "0x7f12a4c00000");
  EXPECT_EQ(hex_addr(0xFFFFFFFFFF600000), "0xffffffffff600000");
  EXPECT_EQ(hex_addr(0x1000), "0x1000");
  EXPECT_EQ(hex_addr(0), "0x0");
}

TEST(SignedOffset, AlwaysSigned) {
  EXPECT_EQ(signed_offset(0x1000), "+0x1000");
  EXPECT_EQ(signed_offset(-0x1000), "-0x1000");
  EXPECT_EQ(signed_offset(0), "+0x0");
  EXPECT_EQ(signed_offset(INT64_MAX), "+0x7fffffffffffffff");
  EXPECT_EQ(signed_offset(INT64_MIN), "-0x8000000000000000");
}

TEST(Paint, PlainWhenColorIsOff) {
  for (Style style : {Style::kTime, Style::kProcess, Style::kSyscall, Style::kError,
                      Style::kAddress, Style::kDim}) {
    EXPECT_EQ(paint(Color::kNone, style, "mmap"), "mmap");
  }
}

TEST(Paint, AnsiWrapsAndResets) {
  EXPECT_EQ(paint(Color::kAnsi, Style::kError, "ENOMEM"), "\x1b[1;31mENOMEM\x1b[0m");
  EXPECT_EQ(paint(Color::kAnsi, Style::kSyscall, "mmap"), "\x1b[1mmmap\x1b[0m");
  EXPECT_EQ(paint(Color::kAnsi, Style::kDim, "x"), "\x1b[2mx\x1b[0m");
  for (Style style : {Style::kTime, Style::kProcess, Style::kSyscall, Style::kError,
                      Style::kAddress, Style::kDim}) {
    const std::string painted = paint(Color::kAnsi, style, "text");
    EXPECT_EQ(painted.rfind("\x1b[", 0), 0u);
    EXPECT_NE(painted.find("mtext\x1b[0m"), std::string::npos) << painted;
  }
}

TEST(Paint, EmptyTextStaysEmpty) {
  EXPECT_EQ(paint(Color::kAnsi, Style::kAddress, ""), "");
}

}  // namespace
}  // namespace maptrail::render
