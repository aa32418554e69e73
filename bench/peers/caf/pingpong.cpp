// pingpong (CAF) - messages per second between pairs of actors bouncing a
// counter, as bench/pingpong.c does for mnemo. For P = 1, 100 and 10,000
// pairs: ping actor A_i, on a start message with R rounds, sends (ping, 0)
// to its pong actor B_i; B_i's handler returns (pong, c + 1), which CAF
// delivers to the sender; A_i checks the counter and sends (ping, c + 1)
// until R rounds are done, then the last pair to finish tells the main
// thread. A lost, duplicated or reordered message fails the run (or hangs
// it until the timeout). All 2P actors are spawned before the clock; the
// clock runs from the first start message until the last pair reports. R is
// sized from a calibration run of about 200,000 messages so the measured
// run takes about 1.5 s (BENCH_SCALE=full: 5 s), as mnemo's benchmark does.
// One "msgs_per_s" line per pair count, n = 2 * R * P.
#include "common.hpp"

#include <atomic>

using namespace caf;

namespace {

using start_atom = atom_constant<atom("start")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;

std::atomic<uint64_t> pairs_left{0};
peer::latch done;

behavior pong(event_based_actor*) {
  return {
    [](ping_atom, uint64_t c) { return make_message(pong_atom::value, c + 1); },
  };
}

struct ping_state {
  uint64_t rounds = 0; // rounds still to play
  uint64_t expect = 0; // counter the next pong must carry
};

behavior ping(stateful_actor<ping_state>* self, actor buddy) {
  return {
    [=](start_atom, uint64_t rounds) {
      self->state.rounds = rounds;
      self->state.expect = 1;
      self->send(buddy, ping_atom::value, uint64_t{0});
    },
    [=](pong_atom, uint64_t c) {
      auto& st = self->state;
      if (c != st.expect || st.rounds == 0)
        peer::die("pong carries %llu, expected %llu", (unsigned long long)c,
                  (unsigned long long)st.expect);
      st.expect += 2;
      if (--st.rounds > 0)
        self->send(buddy, ping_atom::value, c + 1);
      else if (pairs_left.fetch_sub(1, std::memory_order_acq_rel) == 1)
        done.signal(0);
    },
  };
}

double run(std::vector<actor>& pings, uint64_t rounds) {
  pairs_left = pings.size();
  double t0 = peer::now();
  for (auto& a : pings)
    anon_send(a, start_atom::value, rounds);
  done.wait("pingpong");
  return peer::now() - t0;
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "pingpong";
  peer::config cfg(argc, argv);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);
  double target_s = peer::full() ? 5.0 : 1.5;

  for (uint64_t pairs : {uint64_t{1}, uint64_t{100}, uint64_t{10000}}) {
    std::vector<actor> pings, pongs;
    for (uint64_t i = 0; i < pairs; ++i) {
      pongs.push_back(sys.spawn(pong));
      pings.push_back(sys.spawn(ping, pongs.back()));
    }
    uint64_t rounds = std::max<uint64_t>(1, 100000 / pairs);
    double cal = run(pings, rounds);
    double rate = double(2 * rounds * pairs) / cal;
    uint64_t want = uint64_t(rate * target_s / double(2 * pairs));
    if (want > rounds)
      rounds = want;
    double wall = run(pings, rounds);
    uint64_t n = 2 * rounds * pairs;
    peer::note("%llu pairs: %llu rounds in %.3f s", (unsigned long long)pairs,
               (unsigned long long)rounds, wall);
    peer::json("pingpong", "msgs_per_s", n / wall, "msg/s")
      .num("n", n)
      .num("threads", threads)
      .num("pairs", pairs)
      .end();
    for (auto& a : pings)
      anon_send_exit(a, exit_reason::user_shutdown);
    for (auto& a : pongs)
      anon_send_exit(a, exit_reason::user_shutdown);
  }
  return 0;
}
