%% peer_pingpong - messages per second between pairs of processes bouncing
%% a counter, as bench/pingpong.c does for mnemo. For P = 1, 100 and 10,000
%% pairs: ping process A_i, on {start, R}, sends {ping, self(), 0} to its
%% pong process B_i, which answers {pong, C + 1}; A_i checks the counter and
%% sends the next ping until R rounds are done; the last pair to finish (an
%% atomics counter) tells the main process. A lost, duplicated or reordered
%% message fails the run (or hangs it until the timeout). All 2P processes
%% are spawned before the clock; the clock runs from the first start message
%% until the last pair reports. R is sized from a calibration run of about
%% 200,000 messages so the measured run takes about 1.5 s (BENCH_SCALE=full:
%% 5 s). One "msgs_per_s" line per pair count, n = 2 * R * P.
-module(peer_pingpong).
-export([main/0, pong/0, ping/3]).

pong() ->
    receive
        {ping, From, C} ->
            From ! {pong, C + 1},
            pong();
        stop -> ok
    end.

ping(Pong, Left, Main) ->
    receive
        {start, Rounds} ->
            Pong ! {ping, self(), 0},
            play(Pong, Rounds, 1, Left, Main);
        stop -> ok
    end.

play(Pong, Rounds, Expect, Left, Main) ->
    receive
        {pong, Expect} when Rounds > 1 ->
            Pong ! {ping, self(), Expect + 1},
            play(Pong, Rounds - 1, Expect + 2, Left, Main);
        {pong, Expect} ->
            case atomics:sub_get(Left, 1, 1) of
                0 -> Main ! pairs_done;
                _ -> ok
            end,
            ping(Pong, Left, Main);
        {pong, C} ->
            peer_lib:fail("pong carries ~p, expected ~p", [C, Expect])
    end.

run(Pings, Left, Rounds) ->
    atomics:put(Left, 1, length(Pings)),
    T0 = peer_lib:now_s(),
    [P ! {start, Rounds} || P <- Pings],
    receive pairs_done -> ok
    after 300000 -> peer_lib:fail("pingpong: not done after 300 s", [])
    end,
    peer_lib:now_s() - T0.

config(Pairs, Threads, Target) ->
    Left = atomics:new(1, []),
    Main = self(),
    Pongs = [spawn(?MODULE, pong, []) || _ <- lists:seq(1, Pairs)],
    Pings = [spawn(?MODULE, ping, [B, Left, Main]) || B <- Pongs],
    Cal = max(1, 100000 div Pairs),
    CalWall = run(Pings, Left, Cal),
    Rate = 2 * Cal * Pairs / CalWall,
    Rounds = max(Cal, trunc(Rate * Target / (2 * Pairs))),
    Wall = run(Pings, Left, Rounds),
    N = 2 * Rounds * Pairs,
    peer_lib:note("~p pairs: ~p rounds in ~.3f s", [Pairs, Rounds, Wall]),
    peer_lib:json("pingpong", "msgs_per_s", N / Wall, "msg/s",
                  [{"n", N}, {"threads", Threads}, {"pairs", Pairs}]),
    [P ! stop || P <- Pings ++ Pongs],
    ok.

main() ->
    peer_lib:run("pingpong", fun() ->
        Threads = peer_lib:schedulers(),
        Target = case peer_lib:full() of true -> 5.0; false -> 1.5 end,
        [config(P, Threads, Target) || P <- [1, 100, 10000]]
    end).
