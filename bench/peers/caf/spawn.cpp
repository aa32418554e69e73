// spawn (CAF) - actors created per second and bytes per idle actor.
// usage: caf_spawn outside|actors
//
// An idle actor is an event-based actor whose behaviour waits for a message
// that never comes; when it first runs (its initialisation, which spawn
// schedules) it bumps a shared counter, and the one that brings it to N
// tells the main thread. The clock runs from the first spawn until then.
// Handles are kept (an unreferenced CAF actor is destroyed), as a user keeps
// the actors it means to talk to.
//
// outside: the main thread calls system.spawn N times and keeps the handles
//   in a vector, after a warm-up of 1,000 actors. Prints "spawns_per_s"
//   ("from":"outside") and "rss_bytes_per_actor" for idle_memory: the
//   resident set growth from before the first spawn to after the last
//   initialisation, divided by N (the handles' vector included, as mnemo's
//   registry is).
// actors: the main thread spawns 1,000 spawner actors, each of which spawns
//   N / 1,000 children with self->spawn and keeps their handles in its
//   state (how an actor creates sub-actors). Prints "spawns_per_s"
//   ("from":"actors").
// N is 1M (BENCH_SCALE=full: 10M). The run fails unless exactly N children
// initialised.
#include "common.hpp"

#include <atomic>

using namespace caf;

namespace {

constexpr uint64_t spawners = 1000;

std::atomic<uint64_t> initialised{0};
uint64_t target = 0;
peer::latch done;

using stop_atom = atom_constant<atom("stop")>;

behavior idle(event_based_actor* self) {
  if (initialised.fetch_add(1, std::memory_order_relaxed) + 1 == target)
    done.signal(target);
  return {
    [=](stop_atom) { self->quit(); },
  };
}

struct spawner_state {
  std::vector<actor> children;
};

behavior spawner(stateful_actor<spawner_state>* self, uint64_t per) {
  self->state.children.reserve(per);
  for (uint64_t i = 0; i < per; ++i)
    self->state.children.push_back(self->spawn(idle));
  return {
    [=](stop_atom) { self->quit(); },
  };
}

void check(uint64_t n) {
  uint64_t got = initialised.load();
  if (got != n)
    peer::die("%llu actors initialised, expected %llu",
              (unsigned long long)got, (unsigned long long)n);
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "spawn";
  if (argc < 2 || (std::strcmp(argv[1], "outside") != 0
                   && std::strcmp(argv[1], "actors") != 0))
    peer::die("usage: caf_spawn outside|actors [CAF options]");
  bool from_actors = std::strcmp(argv[1], "actors") == 0;
  peer::config cfg(argc - 1, argv + 1);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);
  uint64_t n = peer::full() ? 10000000 : 1000000;

  if (from_actors) {
    uint64_t per = n / spawners;
    n = per * spawners;
    target = n;
    std::vector<actor> top;
    top.reserve(spawners);
    double t0 = peer::now();
    for (uint64_t i = 0; i < spawners; ++i)
      top.push_back(sys.spawn(spawner, per));
    done.wait("spawn from actors");
    double wall = peer::now() - t0;
    check(n);
    peer::note("%llu actors from %llu spawners in %.3f s",
               (unsigned long long)n, (unsigned long long)spawners, wall);
    peer::json("spawn", "spawns_per_s", n / wall, "actors/s")
      .num("n", n)
      .num("threads", threads)
      .str("from", "actors")
      .end();
    for (auto& a : top)
      anon_send(a, stop_atom::value);
    top.clear();
    return 0;
  }

  // Warm-up: worker threads get their allocator arenas, CAF its caches.
  std::vector<actor> warm;
  target = 1000;
  for (int i = 0; i < 1000; ++i)
    warm.push_back(sys.spawn(idle));
  done.wait("warm-up");
  initialised = 0;
  target = n;

  uint64_t rss0 = peer::rss_bytes();
  std::vector<actor> handles;
  double t0 = peer::now();
  handles.reserve(n);
  for (uint64_t i = 0; i < n; ++i)
    handles.push_back(sys.spawn(idle));
  done.wait("spawn from outside");
  double wall = peer::now() - t0;
  uint64_t rss1 = peer::rss_bytes();
  check(n);
  peer::note("%llu actors in %.3f s; rss %.1f MiB -> %.1f MiB",
             (unsigned long long)n, wall, rss0 / 1048576.0,
             rss1 / 1048576.0);
  peer::json("spawn", "spawns_per_s", n / wall, "actors/s")
    .num("n", n)
    .num("threads", threads)
    .str("from", "outside")
    .end();
  peer::json("idle_memory", "rss_bytes_per_actor",
             (double(rss1) - double(rss0)) / double(n), "B/actor")
    .num("n", n)
    .num("threads", threads)
    .end();
  for (auto& a : handles)
    anon_send(a, stop_atom::value);
  for (auto& a : warm)
    anon_send(a, stop_atom::value);
  return 0;
}
