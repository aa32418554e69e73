// skynet (CAF) - the skynet benchmark (github.com/atemerev/skynet) as a CAF
// user writes it: an actor of size > 1 spawns 10 children with
// self->spawn(skynet, self, num, size / 10), sums the 10 numbers they send
// back and sends the sum to its parent, then quits; a leaf sends its number
// and quits. 1,111,111 actors, 6 levels below the root. The clock runs from
// spawning the root until the main thread is told the total; the run fails
// unless it is 499999500000. Three runs in one actor system; prints the
// median "wall_s" (best in "best_s") and the process's peak RSS (VmHWM).
#include "common.hpp"

using namespace caf;

namespace {

constexpr uint64_t leaves = 1000000;
constexpr uint64_t actors = 1111111;
constexpr uint64_t expected_sum = 499999500000ull;
constexpr int runs = 3;

struct node_state {
  uint64_t sum = 0;
  int pending = 10;
};

behavior skynet(stateful_actor<node_state>* self, actor parent, uint64_t num,
                uint64_t size) {
  if (size == 1) {
    self->send(parent, num);
    self->quit();
    return {};
  }
  uint64_t step = size / 10;
  for (uint64_t i = 0; i < 10; ++i)
    self->spawn(skynet, actor{self}, num + i * step, step);
  return {
    [=](uint64_t v) {
      self->state.sum += v;
      if (--self->state.pending == 0) {
        self->send(parent, self->state.sum);
        self->quit();
      }
    },
  };
}

// Receives the root's total and hands it to the main thread.
behavior reporter(event_based_actor* self, peer::latch* done) {
  return {
    [=](uint64_t total) {
      done->signal(total);
      self->quit();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "skynet";
  peer::config cfg(argc, argv);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);
  peer::latch done;
  std::vector<double> wall;

  for (int r = 0; r < runs; ++r) {
    double t0 = peer::now();
    auto rep = sys.spawn(reporter, &done);
    sys.spawn(skynet, rep, uint64_t{0}, leaves);
    uint64_t sum = done.wait("skynet");
    double t1 = peer::now();
    if (sum != expected_sum)
      peer::die("sum %llu, expected %llu", (unsigned long long)sum,
                (unsigned long long)expected_sum);
    sys.await_all_actors_done();
    wall.push_back(t1 - t0);
    peer::note("run %d: %.3f s", r + 1, t1 - t0);
  }
  double best = *std::min_element(wall.begin(), wall.end());
  peer::json("skynet", "wall_s", peer::median(wall), "s")
    .num("n", actors)
    .num("threads", threads)
    .num("runs", runs)
    .num("best_s", best)
    .end();
  peer::json("skynet", "peak_rss_bytes", peer::peak_rss_bytes(), "B")
    .num("n", actors)
    .num("threads", threads)
    .end();
  return 0;
}
