// durable (CAF + LMDB) - the message stream of bench/durable.c persisted
// before acknowledgement, as a CAF user would integrate LMDB.
// usage: caf_durable naive|batched SIZE POOL TARGETS NMSGS DIR LOAD
//                    [CAF options]
//
// The stream (bench/peers/mnemo/stream.c writes it): NMSGS messages, message
// i to actor TARGETS[i] of 100,000 with payload i mod 16,384 of POOL (SIZE
// bytes each, cut from the agent corpus). The main thread sends each as
// (data, i, payload) with anon_send; an actor counts its messages (seq) and
// has the record (actor id, seq, payload) persisted in a fresh LMDB
// environment in DIR with default (synced) commits. A message is
// acknowledged when its record's transaction has committed; the clock runs
// from the first send until the last acknowledgement (mnemo's equivalent:
// mn_runtime_drain after fire-and-forget sends in sync mode).
//
// naive: the actor writes its record in its own write transaction inside
//   its handler, key (actor id, seq) big-endian: one transaction, hence two
//   fsyncs, per message, on the scheduler thread. What a first integration
//   does.
// batched: the actor sends the record to one writer actor, spawned detached
//   (its own thread, since it blocks in fsync, as CAF's manual advises for
//   blocking work). The writer collects records and commits them in one
//   transaction when a flush message it posts to itself behind them comes
//   up, i.e. a group is whatever queued while the previous commit ran (at
//   most 4,096, mnemo's default group limit). Keys are a global sequence
//   number written with MDB_APPEND (LMDB's fastest pattern), the value a
//   16-byte (actor id, seq) header and the payload, uncompressed; there is
//   no per-actor index. What a good integration does. bench/peers/run
//   passes --scheduler.policy=sharing: with the default work-stealing
//   policy, the sending thread and CAF's polling workers compete for the 2
//   cores and about a third of the runs settle into commits of ~100 records
//   at under half the rate; with sharing every run reached full groups.
//
// Then commit latency: max(1,000, L) messages paced at L per second, about a
// second; the latency of each runs from its send to its acknowledgement. L
// is LOAD (bench/peers/run measures mnemo at the same loads: 25,000/s for
// the batched variant, 500/s for the naive one, which cannot sustain more
// than a few thousand), or with LOAD 0 a quarter of the measured rate, as
// bench/durable.c does for mnemo. The latency lines carry "load":L when
// LOAD was given. Prints
// "msgs_per_s", "commit_p50_ms", "commit_p99_ms" and "disk_bytes_per_msg"
// (data.mdb's allocated blocks over the records written), each with
// "payload":SIZE, peer "caf_lmdb_naive" or "caf_lmdb_batched". The run fails
// unless every message was acknowledged once and the database holds exactly
// one record per message.
#include "common.hpp"

#include <lmdb.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

using namespace caf;

namespace {

constexpr uint64_t nactors = 100000;
constexpr uint64_t pool_n = 16384;
constexpr size_t max_group = 4096;

using data_atom = atom_constant<atom("data")>;
using rec_atom = atom_constant<atom("rec")>;
using flush_atom = atom_constant<atom("flush")>;

// Acknowledgements: counted, and timed during the latency phase.
std::atomic<uint64_t> acked{0};
uint64_t ack_target = 0;
std::vector<double> t_sent; // latency phase only, by message index
std::vector<double> lat;
bool timing = false;
peer::latch done;

void ack(uint64_t idx) {
  if (timing)
    lat[idx] = peer::now() - t_sent[idx];
  if (acked.fetch_add(1, std::memory_order_acq_rel) + 1 == ack_target)
    done.signal(ack_target);
}

void lmdb_check(int rc, const char* what) {
  if (rc != 0)
    peer::die("%s: %s", what, mdb_strerror(rc));
}

void put_be64(unsigned char* p, uint64_t v) {
  for (int b = 0; b < 8; ++b)
    p[b] = static_cast<unsigned char>(v >> (56 - 8 * b));
}

struct db {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
};

// ---- naive: one transaction per message, in the actor ----------------------

struct journal_state {
  uint64_t seq = 0;
};

behavior naive_actor(stateful_actor<journal_state>* self, uint64_t id,
                     db store) {
  return {
    [=](data_atom, uint64_t idx, const std::string& payload) {
      uint64_t seq = ++self->state.seq;
      unsigned char key[16];
      put_be64(key, id);
      put_be64(key + 8, seq);
      MDB_val k{sizeof key, key};
      MDB_val v{payload.size(), const_cast<char*>(payload.data())};
      MDB_txn* txn;
      lmdb_check(mdb_txn_begin(store.env, nullptr, 0, &txn), "txn_begin");
      lmdb_check(mdb_put(txn, store.dbi, &k, &v, 0), "put");
      lmdb_check(mdb_txn_commit(txn), "commit");
      ack(idx);
    },
  };
}

// ---- batched: a detached writer actor with group commit --------------------

struct record {
  uint64_t actor;
  uint64_t seq;
  uint64_t idx;
  std::string payload;
};

struct writer_state {
  std::vector<record> group;
  bool flush_posted = false;
  uint64_t lsn = 0;
  uint64_t commits = 0;
};

std::atomic<uint64_t> commits_total{0};

void commit_group(writer_state& st, db store) {
  MDB_txn* txn;
  lmdb_check(mdb_txn_begin(store.env, nullptr, 0, &txn), "txn_begin");
  for (auto& r : st.group) {
    unsigned char key[8];
    put_be64(key, ++st.lsn);
    MDB_val k{sizeof key, key};
    MDB_val v{16 + r.payload.size(), nullptr};
    lmdb_check(mdb_put(txn, store.dbi, &k, &v, MDB_APPEND | MDB_RESERVE),
               "put");
    auto* p = static_cast<unsigned char*>(v.mv_data);
    std::memcpy(p, &r.actor, 8);
    std::memcpy(p + 8, &r.seq, 8);
    std::memcpy(p + 16, r.payload.data(), r.payload.size());
  }
  lmdb_check(mdb_txn_commit(txn), "commit");
  commits_total.fetch_add(1, std::memory_order_relaxed);
  for (auto& r : st.group)
    ack(r.idx);
  st.group.clear();
}

behavior writer(stateful_actor<writer_state>* self, db store) {
  self->state.group.reserve(max_group);
  return {
    [=](rec_atom, uint64_t actor, uint64_t seq, uint64_t idx,
        std::string& payload) {
      auto& st = self->state;
      st.group.push_back(record{actor, seq, idx, std::move(payload)});
      if (st.group.size() >= max_group) {
        commit_group(st, store);
      } else if (!st.flush_posted) {
        // Behind every record already queued: the group closes when the
        // backlog that built up during the last commit has been taken.
        st.flush_posted = true;
        self->send(self, flush_atom::value);
      }
    },
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_posted = false;
      if (!st.group.empty())
        commit_group(st, store);
    },
  };
}

behavior batched_actor(stateful_actor<journal_state>* self, uint64_t id,
                       actor w) {
  return {
    [=](data_atom, uint64_t idx, std::string& payload) {
      self->send(w, rec_atom::value, id, ++self->state.seq, idx,
                 std::move(payload));
    },
  };
}

// ---- main ------------------------------------------------------------------

std::string read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    peer::die("cannot read %s", path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

uint64_t count_records(db store) {
  MDB_txn* txn;
  MDB_stat st;
  lmdb_check(mdb_txn_begin(store.env, nullptr, MDB_RDONLY, &txn), "begin");
  lmdb_check(mdb_stat(txn, store.dbi, &st), "stat");
  mdb_txn_abort(txn);
  return st.ms_entries;
}

} // namespace

int main(int argc, char** argv) {
  peer::prog() = "durable";
  if (argc < 8)
    peer::die("usage: caf_durable naive|batched SIZE POOL TARGETS NMSGS DIR "
              "LOAD [CAF options]");
  bool batched = std::strcmp(argv[1], "batched") == 0;
  if (!batched && std::strcmp(argv[1], "naive") != 0)
    peer::die("mode %s: want naive or batched", argv[1]);
  peer::name() = batched ? "caf_lmdb_batched" : "caf_lmdb_naive";
  size_t size = std::strtoul(argv[2], nullptr, 10);
  std::string pool = read_file(argv[3]);
  std::string targets_raw = read_file(argv[4]);
  uint64_t nmsgs = std::strtoull(argv[5], nullptr, 10);
  const char* dir = argv[6];
  double fixed_load = std::strtod(argv[7], nullptr);
  if (pool.size() != pool_n * size)
    peer::die("pool of %zu bytes, expected %llu x %zu", pool.size(),
              (unsigned long long)pool_n, size);
  uint64_t ntargets = targets_raw.size() / 4;
  if (nmsgs > ntargets)
    peer::die("%llu messages but %llu targets", (unsigned long long)nmsgs,
              (unsigned long long)ntargets);
  std::vector<uint32_t> targets(ntargets);
  for (uint64_t i = 0; i < ntargets; ++i) {
    auto* b = reinterpret_cast<const unsigned char*>(targets_raw.data()) + 4 * i;
    targets[i] = b[0] | b[1] << 8 | b[2] << 16 | uint32_t(b[3]) << 24;
  }

  peer::config cfg(argc - 7, argv + 7);
  actor_system sys{cfg};
  size_t threads = peer::check_threads(sys);

  db store;
  mkdir(dir, 0750);
  lmdb_check(mdb_env_create(&store.env), "env_create");
  lmdb_check(mdb_env_set_mapsize(store.env, size_t{4} << 30), "mapsize");
  lmdb_check(mdb_env_open(store.env, dir, 0, 0640), "env_open");
  {
    MDB_txn* txn;
    lmdb_check(mdb_txn_begin(store.env, nullptr, 0, &txn), "begin");
    lmdb_check(mdb_dbi_open(txn, nullptr, 0, &store.dbi), "dbi_open");
    lmdb_check(mdb_txn_commit(txn), "commit");
  }

  actor w;
  if (batched)
    w = sys.spawn<detached>(writer, store);
  std::vector<actor> actors;
  actors.reserve(nactors);
  for (uint64_t a = 0; a < nactors; ++a)
    actors.push_back(batched ? sys.spawn(batched_actor, a, w)
                             : sys.spawn(naive_actor, a, store));
  auto payload = [&](uint64_t i) {
    return std::string(pool.data() + (i % pool_n) * size, size);
  };

  // Throughput.
  acked = 0;
  ack_target = nmsgs;
  double t0 = peer::now();
  for (uint64_t i = 0; i < nmsgs; ++i)
    anon_send(actors[targets[i]], data_atom::value, i, payload(i));
  done.wait("durable");
  double wall = peer::now() - t0;
  double rate = nmsgs / wall;
  uint64_t commits = batched ? commits_total.load() : nmsgs;
  peer::note("%s %zu B: %llu messages in %.3f s, %.1f per commit", argv[1],
             size, (unsigned long long)nmsgs, wall, double(nmsgs) / commits);

  // Commit latency at the given load, or a quarter of that rate.
  double load = fixed_load > 0 ? fixed_load : rate / 4;
  uint64_t nlat = std::max<uint64_t>(1000, uint64_t(load));
  t_sent.assign(nlat, 0);
  lat.assign(nlat, 0);
  acked = 0;
  ack_target = nlat;
  timing = true;
  double start = peer::now(), gap = 1.0 / load;
  for (uint64_t i = 0; i < nlat; ++i) {
    double due = start + double(i) * gap;
    // Sleep, not spin, as mnemo's sender does: 2 cores.
    while (peer::now() < due)
      usleep(100);
    uint64_t m = nmsgs + i;
    t_sent[i] = peer::now();
    anon_send(actors[targets[m % ntargets]], data_atom::value, i, payload(m));
  }
  done.wait("durable latency");
  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  double p50 = sorted[nlat / 2] * 1e3, p99 = sorted[nlat * 99 / 100] * 1e3;

  uint64_t records = count_records(store);
  for (auto& a : actors)
    anon_send_exit(a, exit_reason::user_shutdown);
  if (batched)
    anon_send_exit(w, exit_reason::user_shutdown);
  sys.await_all_actors_done();
  mdb_env_close(store.env);
  if (records != nmsgs + nlat)
    peer::die("database holds %llu records, expected %llu",
              (unsigned long long)records,
              (unsigned long long)(nmsgs + nlat));
  struct stat sb;
  std::string data = std::string(dir) + "/data.mdb";
  if (stat(data.c_str(), &sb) != 0)
    peer::die("cannot stat %s", data.c_str());
  double disk = double(sb.st_blocks) * 512 / double(records);
  peer::note("latency: %llu messages at %.0f/s, p50 %.3f ms, p99 %.3f ms; "
             "%.1f disk bytes per record",
             (unsigned long long)nlat, load, p50, p99, disk);

  peer::json("durable", "msgs_per_s", rate, "msg/s")
    .num("n", nmsgs)
    .num("threads", threads)
    .num("payload", size)
    .num("actors", nactors)
    .num("per_commit", double(nmsgs) / commits)
    .str("mode", "sync")
    .end();
  peer::json("durable", "disk_bytes_per_msg", disk, "B")
    .num("n", records)
    .num("threads", threads)
    .num("payload", size)
    .end();
  for (int q : {50, 99}) {
    peer::json j("durable", q == 50 ? "commit_p50_ms" : "commit_p99_ms",
                 q == 50 ? p50 : p99, "ms");
    j.num("n", nlat).num("threads", threads).num("payload", size);
    if (fixed_load > 0)
      j.num("load", fixed_load);
    j.num("load_msgs_per_s", load).end();
  }
  return 0;
}
