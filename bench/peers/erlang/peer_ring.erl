%% peer_ring - hops per second of one token around a ring of 1,000
%% processes, as bench/ring.c does for mnemo. Process i learns its successor
%% (i + 1) mod 1,000 from a setup message, then passes {token, Left - 1} on;
%% the process that receives Left == 0 tells the main process its index.
%% The processes are spawned and wired before the clock; the clock runs from
%% the main process's send of the token to process 0 until that report. One
%% token in flight, so this measures the latency of one hop. H is 10M hops
%% (BENCH_RING_HOPS overrides). The run fails unless the token stopped at
%% process H mod 1,000 after exactly H + 1 token messages. Prints
%% "hops_per_s".
-module(peer_ring).
-export([main/0, member/2]).

-define(RING, 1000).

member(Index, Main) ->
    receive {next, Next} -> pass(Index, Next, Main, 0) end.

pass(Index, Next, Main, Count) ->
    receive
        {token, 0} ->
            Main ! {stopped, Index},
            pass(Index, Next, Main, Count + 1);
        {token, Left} ->
            Next ! {token, Left - 1},
            pass(Index, Next, Main, Count + 1);
        {count, From} ->
            From ! {count, Count},
            pass(Index, Next, Main, Count);
        stop -> ok
    end.

main() ->
    peer_lib:run("ring", fun() ->
        Threads = peer_lib:schedulers(),
        Hops = case os:getenv("BENCH_RING_HOPS") of
                   false -> 10000000;
                   S -> list_to_integer(S)
               end,
        Main = self(),
        Ring = list_to_tuple([spawn(?MODULE, member, [I, Main])
                              || I <- lists:seq(0, ?RING - 1)]),
        [element(I + 1, Ring) ! {next, element((I + 1) rem ?RING + 1, Ring)}
         || I <- lists:seq(0, ?RING - 1)],
        T0 = peer_lib:now_s(),
        element(1, Ring) ! {token, Hops},
        Last = receive {stopped, L} -> L
               after 300000 -> peer_lib:fail("ring: not done after 300 s", [])
               end,
        Wall = peer_lib:now_s() - T0,
        Last =:= Hops rem ?RING orelse
            peer_lib:fail("token stopped at ~p, expected ~p",
                          [Last, Hops rem ?RING]),
        Pids = tuple_to_list(Ring),
        [P ! {count, self()} || P <- Pids],
        Total = lists:sum([receive {count, C} -> C end || _ <- Pids]),
        Total =:= Hops + 1 orelse
            peer_lib:fail("handled ~p token messages, expected ~p",
                          [Total, Hops + 1]),
        peer_lib:note("~p hops in ~.3f s", [Hops, Wall]),
        peer_lib:json("ring", "hops_per_s", Hops / Wall, "hops/s",
                      [{"n", Hops}, {"threads", Threads}, {"actors", ?RING}]),
        [P ! stop || P <- Pids]
    end).
