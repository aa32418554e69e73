// common.hpp - helpers shared by the CAF peer programs: the actor system
// configured with the same number of scheduler threads as mnemo, a monotonic
// clock, /proc memory readers, a one-shot latch for the main thread, and the
// JSON line writer. Every program prints one JSON object per line on stdout,
// {"peer":"caf","bench":..,"metric":..,"value":..,"unit":..,...}, which
// bench/peers/run joins with mnemo's line for the same bench and metric.
// Progress goes to stderr; a wrong count or sum exits 1.
#ifndef MNEMO_PEERS_CAF_COMMON_HPP
#define MNEMO_PEERS_CAF_COMMON_HPP

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

namespace peer {

inline const char*& prog() {
  static const char* name = "caf";
  return name;
}

// The "peer" of the JSON lines: "caf", or a named variant of it.
inline const char*& name() {
  static const char* peer = "caf";
  return peer;
}

[[noreturn]] inline void die(const char* fmt, ...) {
  va_list ap;
  std::fprintf(stderr, "peer caf %s: ", prog());
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stdout);
  std::_Exit(1);
}

inline void note(const char* fmt, ...) {
  va_list ap;
  std::fprintf(stderr, "peer caf %s: ", prog());
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

inline double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Scheduler threads: BENCH_THREADS (set by bench/peers/run to what mnemo
// used), else the online cores, as mnemo's benchmarks do.
inline size_t threads() {
  const char* s = std::getenv("BENCH_THREADS");
  if (s != nullptr && *s != '\0') {
    long v = std::strtol(s, nullptr, 10);
    if (v < 1)
      die("BENCH_THREADS=%s: want a positive number", s);
    return static_cast<size_t>(v);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : static_cast<size_t>(n);
}

inline bool full() {
  const char* s = std::getenv("BENCH_SCALE");
  return s != nullptr && std::strcmp(s, "full") == 0;
}

// A configuration with scheduler.max-threads set; command-line options
// (e.g. --scheduler.policy=sharing) still apply on top.
struct config : caf::actor_system_config {
  config(int argc, char** argv) {
    set("scheduler.max-threads", threads());
    if (auto err = parse(argc, argv))
      die("bad CAF option: %s", caf::to_string(err).c_str());
  }
};

// The scheduler really has the thread count it was asked for.
inline size_t check_threads(caf::actor_system& sys) {
  size_t n = sys.scheduler().num_workers();
  if (n != threads())
    die("CAF scheduler has %zu workers, wanted %zu", n, threads());
  return n;
}

inline uint64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f == nullptr || std::fscanf(f, "%lu %lu", &size, &resident) != 2)
    die("cannot read /proc/self/statm");
  std::fclose(f);
  return static_cast<uint64_t>(resident) * sysconf(_SC_PAGESIZE);
}

inline uint64_t peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  unsigned long kb = 0;
  bool found = false;
  if (f == nullptr)
    die("cannot open /proc/self/status");
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) {
      found = true;
      break;
    }
  std::fclose(f);
  if (!found)
    die("no VmHWM in /proc/self/status");
  return static_cast<uint64_t>(kb) * 1024;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A one-shot signal from an actor to the main thread, carrying a value.
// (The main thread is not an actor; a scoped_actor would work too, but this
// keeps the clock's end exactly at the signal.)
class latch {
public:
  void signal(uint64_t v) {
    std::lock_guard<std::mutex> g(mu_);
    done_ = true;
    value_ = v;
    cv_.notify_one();
  }
  uint64_t wait(const char* what, double timeout_s = 300) {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, std::chrono::duration<double>(timeout_s),
                      [this] { return done_; }))
      die("%s: not done after %.0f s (lost message?)", what, timeout_s);
    done_ = false;
    return value_;
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  uint64_t value_ = 0;
};

// One JSON line: json(bench, metric, value, unit).num("n", 1).str(..).end().
class json {
public:
  json(const char* bench, const char* metric, double value, const char* unit) {
    buf_ = "{\"peer\":\"";
    buf_ += name();
    buf_ += "\",\"bench\":\"";
    buf_ += bench;
    buf_ += "\",\"metric\":\"";
    buf_ += metric;
    buf_ += "\"";
    num("value", value);
    str("unit", unit);
  }
  json& num(const char* key, double v) {
    char tmp[64];
    if (!(v == v) || v > 1e300 || v < -1e300)
      die("non-finite number for %s", key);
    if (v == static_cast<double>(static_cast<long long>(v)) && v < 9e15 &&
        v > -9e15)
      std::snprintf(tmp, sizeof tmp, "%lld", static_cast<long long>(v));
    else
      std::snprintf(tmp, sizeof tmp, "%.6g", v);
    buf_ += ",\"";
    buf_ += key;
    buf_ += "\":";
    buf_ += tmp;
    return *this;
  }
  json& str(const char* key, const char* v) {
    buf_ += ",\"";
    buf_ += key;
    buf_ += "\":\"";
    buf_ += v;
    buf_ += "\"";
    return *this;
  }
  void end() {
    buf_ += "}\n";
    std::fputs(buf_.c_str(), stdout);
    std::fflush(stdout);
  }

private:
  std::string buf_;
};

} // namespace peer

#endif
