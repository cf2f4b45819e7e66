// A JIT runtime at work for the real-program tests: many threads, allocation that makes the
// garbage collector grow and shrink the heap, and hot code for the JIT compilers.
// Usage: java Churn.java SECONDS THREADS
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

public class Churn {
  static volatile long sink;

  static long hot(long x) {
    long h = x;
    for (int i = 0; i < 1000; i++) h = h * 6364136223846793005L + 1442695040888963407L;
    return h;
  }

  public static void main(String[] args) throws Exception {
    long seconds = args.length > 0 ? Long.parseLong(args[0]) : 5;
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 32;
    // Workers wait until all are started: each one busy while the main thread still creates
    // the rest makes the start quadratic in the thread count (600 threads on two cores, traced,
    // took over a minute once).
    CountDownLatch allStarted = new CountDownLatch(1);
    long[] end = new long[1];
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      Thread w = new Thread(() -> {
        try {
          allStarted.await();
        } catch (InterruptedException e) {
          return;
        }
        List<byte[]> keep = new ArrayList<>();
        long n = 0;
        while (System.nanoTime() < end[0]) {
          keep.add(new byte[1 << (10 + (int) (n % 10))]);
          if (keep.size() > 64) keep.clear();
          sink += hot(n++);
          if (n % 64 == 0) {
            try {
              Thread.sleep(1);  // hundreds of threads on two cores: let the main thread run
            } catch (InterruptedException e) {
              return;
            }
          }
        }
      });
      w.start();
      workers.add(w);
    }
    end[0] = System.nanoTime() + seconds * 1_000_000_000L;
    allStarted.countDown();
    System.out.println("running " + threads + " threads");
    System.out.flush();
    for (Thread w : workers) w.join();
  }
}
