/* Grows its main stack by page faults alone (no system call), for the drift test:
 * prints "ready", waits for a line on stdin, recurses through ~1 MiB of stack, prints
 * "grown", waits for another line, exits 0. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void wait_line(void) {
  char c;
  while (read(0, &c, 1) == 1 && c != '\n') {
  }
}

__attribute__((noinline)) static int deep(int n) {
  volatile char frame[4096];
  memset((char*)frame, n, sizeof(frame));
  return n ? deep(n - 1) + frame[100] : frame[0];
}

int main(void) {
  printf("ready %d\n", getpid());
  fflush(stdout);
  wait_line();
  int r = deep(256); /* 256 frames of 4 KiB: the stack VMA grows by about 1 MiB */
  printf("grown %d\n", r & 1);
  fflush(stdout);
  wait_line();
  return 0;
}
