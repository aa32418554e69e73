// ring (CAF) - hops per second of one token around a ring of 1,000 actors,
// as bench/ring.c does for mnemo. Actor i learns its successor (i + 1) mod
// 1,000 from a setup message, then passes (token, left - 1) on; the actor
// that receives left == 0 tells the main thread its index. The actors are
// spawned and wired before the clock; the clock runs from the main thread's
// send of the token to actor 0 until that report. One token in flight, so
// this measures the latency of one hop. H is 10M hops (the figure;
// BENCH_RING_HOPS overrides). The run fails unless the token stopped at
// actor H mod 1,000 after exactly H + 1 token messages. Prints "hops_per_s".
#include "common.hpp"

#include <atomic>

using namespace caf;

namespace {

constexpr uint64_t ring_size = 1000;

using next_atom = atom_constant<atom("next")>;
using token_atom = atom_constant<atom("token")>;

peer::latch done;
std::atomic<uint64_t> handled{0};

struct member_state {
  uint64_t index = 0;
  uint64_t count = 0; // token messages this actor handled
  actor next;
};

behavior member(stateful_actor<member_state>* self, uint64_t index) {
  self->state.index = index;
  return {
    [=](next_atom, actor next) { self->state.next = std::move(next); },
    [=](token_atom, uint64_t left) {
      auto& st = self->state;
      ++st.count;
      if (left == 0) {
        done.signal(st.index);
        return;
      }
      self->send(st.next, token_atom::value, left - 1);
    },
    [=](get_atom) { return self->state.count; },
  };
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "ring";
  peer::config cfg(argc, argv);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);
  uint64_t hops = 10000000;
  if (const char* s = std::getenv("BENCH_RING_HOPS"))
    hops = std::strtoull(s, nullptr, 10);

  std::vector<actor> ring;
  for (uint64_t i = 0; i < ring_size; ++i)
    ring.push_back(sys.spawn(member, i));
  for (uint64_t i = 0; i < ring_size; ++i)
    anon_send(ring[i], next_atom::value, ring[(i + 1) % ring_size]);

  double t0 = peer::now();
  anon_send(ring[0], token_atom::value, hops);
  uint64_t last = done.wait("ring");
  double wall = peer::now() - t0;

  if (last != hops % ring_size)
    peer::die("token stopped at actor %llu, expected %llu",
              (unsigned long long)last,
              (unsigned long long)(hops % ring_size));
  uint64_t total = 0;
  scoped_actor self{sys};
  for (auto& a : ring)
    self->request(a, infinite, get_atom::value)
      .receive([&](uint64_t c) { total += c; },
               [&](error& e) { peer::die("%s", to_string(e).c_str()); });
  if (total != hops + 1)
    peer::die("handled %llu token messages, expected %llu",
              (unsigned long long)total, (unsigned long long)(hops + 1));
  peer::note("%llu hops in %.3f s", (unsigned long long)hops, wall);
  peer::json("ring", "hops_per_s", hops / wall, "hops/s")
    .num("n", hops)
    .num("threads", threads)
    .num("actors", ring_size)
    .end();
  for (auto& a : ring)
    anon_send_exit(a, exit_reason::user_shutdown);
  return 0;
}
