%% peer_spawn - processes created per second and bytes per idle process.
%% usage: erl ... -run peer_spawn main outside|actors
%%
%% An idle process, when it first runs, bumps a shared atomic counter
%% (atomics:add_get/3); the one that brings it to N tells the main process;
%% then it waits in receive for a message that never comes. The clock runs
%% from the first spawn until that report.
%%
%% outside: the main process spawns N processes in a loop (Erlang has no
%%   "outside": this is one process doing all the spawning, the nearest
%%   thing to mnemo's main thread), after a warm-up of 1,000. Prints
%%   "spawns_per_s" ("from":"outside") and "rss_bytes_per_actor" for
%%   idle_memory: the resident set growth of the emulator from before the
%%   first spawn to after the last process ran, divided by N.
%% actors: the main process spawns 1,000 spawner processes, each of which
%%   spawns N / 1,000 children. Prints "spawns_per_s" ("from":"actors").
%% N is 1M (BENCH_SCALE=full: 10M, which needs +P above 10M). The run fails
%% unless exactly N children ran.
-module(peer_spawn).
-export([main/1, idle/3, spawner/4]).

-define(SPAWNERS, 1000).

idle(Counter, Target, Main) ->
    case atomics:add_get(Counter, 1, 1) of
        Target -> Main ! {spawned, Target};
        _ -> ok
    end,
    receive stop -> ok end.

spawner(Per, Counter, Target, Main) ->
    spawn_n(Per, Counter, Target, Main),
    receive stop -> ok end.

spawn_n(0, _Counter, _Target, _Main) -> ok;
spawn_n(K, Counter, Target, Main) ->
    spawn(?MODULE, idle, [Counter, Target, Main]),
    spawn_n(K - 1, Counter, Target, Main).

wait_spawned(What) ->
    receive {spawned, N} -> N
    after 300000 -> peer_lib:fail("~s: not done after 300 s", [What])
    end.

check(Counter, N) ->
    case atomics:get(Counter, 1) of
        N -> ok;
        Got -> peer_lib:fail("~p processes ran, expected ~p", [Got, N])
    end.

main([Mode]) ->
    peer_lib:run("spawn", fun() -> main(Mode) end);
main(Mode) ->
    Threads = peer_lib:schedulers(),
    N = case peer_lib:full() of true -> 10000000; false -> 1000000 end,
    Main = self(),
    case Mode of
        "actors" ->
            Per = N div ?SPAWNERS,
            Total = Per * ?SPAWNERS,
            C = atomics:new(1, []),
            T0 = peer_lib:now_s(),
            [spawn(?MODULE, spawner, [Per, C, Total, Main])
             || _ <- lists:seq(1, ?SPAWNERS)],
            wait_spawned("spawn from actors"),
            Wall = peer_lib:now_s() - T0,
            check(C, Total),
            peer_lib:note("~p processes from ~p spawners in ~.3f s",
                          [Total, ?SPAWNERS, Wall]),
            peer_lib:json("spawn", "spawns_per_s", Total / Wall, "actors/s",
                          [{"n", Total}, {"threads", Threads},
                           {"from", "actors"}]);
        "outside" ->
            W = atomics:new(1, []),
            spawn_n(1000, W, 1000, Main),
            wait_spawned("warm-up"),
            garbage_collect(),
            C = atomics:new(1, []),
            Rss0 = peer_lib:rss_bytes(),
            T0 = peer_lib:now_s(),
            spawn_n(N, C, N, Main),
            wait_spawned("spawn from outside"),
            Wall = peer_lib:now_s() - T0,
            Rss1 = peer_lib:rss_bytes(),
            check(C, N),
            peer_lib:note("~p processes in ~.3f s; rss ~.1f MiB -> ~.1f MiB",
                          [N, Wall, Rss0 / 1048576, Rss1 / 1048576]),
            peer_lib:json("spawn", "spawns_per_s", N / Wall, "actors/s",
                          [{"n", N}, {"threads", Threads},
                           {"from", "outside"}]),
            peer_lib:json("idle_memory", "rss_bytes_per_actor",
                          (Rss1 - Rss0) / N, "B/actor",
                          [{"n", N}, {"threads", Threads}])
    end.
