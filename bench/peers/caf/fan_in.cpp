// fan_in (CAF) - many-to-one messages per second, as bench/fan_in.c does for
// mnemo ("from":"actors"): 20 sender actors each send M messages
// (data, seq, sender id) to one receiver actor, which checks that every
// sender's sequence numbers arrive in order and tells the main thread once
// all 20 * M have arrived. A sender sends 64 messages per turn and then a
// message to itself to continue, so the scheduler interleaves the senders
// and a turn stays short (the same shape as mnemo's senders; BENCH_FAN_IN_
// BATCH=0 sends all M in one handler instead, which ran at about the same
// rate here). The
// actors are spawned before the clock; the clock runs from the start
// messages until the receiver's report. M is 250,000 (BENCH_SCALE=full:
// 1,000,000). bench/peers/run passes --scheduler.policy=sharing, which was
// about 18% faster than the default work-stealing policy here.
#include "common.hpp"

using namespace caf;

namespace {

constexpr uint32_t senders = 20;

using start_atom = atom_constant<atom("start")>;
using cont_atom = atom_constant<atom("cont")>;
using data_atom = atom_constant<atom("data")>;

uint64_t per_sender = 0;
uint64_t batch = 64;
peer::latch done;

struct receiver_state {
  uint64_t next[senders] = {};
  uint64_t total = 0;
};

behavior receiver(stateful_actor<receiver_state>* self) {
  return {
    [=](data_atom, uint64_t seq, uint32_t id) {
      auto& st = self->state;
      if (id >= senders || seq != st.next[id])
        peer::die("sender %u: message %llu arrived, expected %llu", id,
                  (unsigned long long)seq,
                  (unsigned long long)(id < senders ? st.next[id] : 0));
      st.next[id]++;
      if (++st.total == senders * per_sender) {
        for (uint32_t i = 0; i < senders; ++i)
          if (st.next[i] != per_sender)
            peer::die("sender %u: %llu messages", i,
                      (unsigned long long)st.next[i]);
        done.signal(st.total);
      }
    },
  };
}

struct sender_state {
  uint64_t seq = 0;
};

behavior sender(stateful_actor<sender_state>* self, actor dst, uint32_t id) {
  auto burst = [=] {
    auto& st = self->state;
    uint64_t end = batch == 0 ? per_sender
                              : std::min(per_sender, st.seq + batch);
    for (; st.seq < end; ++st.seq)
      self->send(dst, data_atom::value, st.seq, id);
    if (st.seq < per_sender)
      self->send(self, cont_atom::value);
  };
  return {
    [=](start_atom) {
      self->state.seq = 0;
      burst();
    },
    [=](cont_atom) { burst(); },
  };
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "fan_in";
  peer::config cfg(argc, argv);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);
  per_sender = peer::full() ? 1000000 : 250000;
  if (const char* s = std::getenv("BENCH_FAN_IN_BATCH"))
    batch = std::strtoull(s, nullptr, 10);
  uint64_t n = senders * per_sender;

  auto recv = sys.spawn(receiver);
  std::vector<actor> snd;
  for (uint32_t i = 0; i < senders; ++i)
    snd.push_back(sys.spawn(sender, recv, i));

  double t0 = peer::now();
  for (auto& s : snd)
    anon_send(s, start_atom::value);
  uint64_t got = done.wait("fan_in");
  double wall = peer::now() - t0;
  if (got != n)
    peer::die("receiver counted %llu, expected %llu", (unsigned long long)got,
              (unsigned long long)n);
  peer::note("%llu messages in %.3f s (batch %llu)", (unsigned long long)n,
             wall, (unsigned long long)batch);
  peer::json("fan_in", "msgs_per_s", n / wall, "msg/s")
    .num("n", n)
    .num("threads", threads)
    .num("senders", senders)
    .str("from", "actors")
    .end();
  for (auto& s : snd)
    anon_send_exit(s, exit_reason::user_shutdown);
  anon_send_exit(recv, exit_reason::user_shutdown);
  return 0;
}
