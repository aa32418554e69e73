%% peer_skynet - the skynet benchmark (github.com/atemerev/skynet) as the
%% Erlang original writes it: a process of size > 1 spawns 10 children, each
%% given its parent's pid, then receives their 10 numbers and sends the sum
%% to its parent; a leaf sends its number. 1,111,111 processes, 6 levels
%% below the root. The clock runs from spawning the root until the main
%% process receives the total; the run fails unless it is 499999500000.
%% Three runs; prints the median "wall_s" (best in "best_s") and the OS
%% process's peak RSS (VmHWM).
-module(peer_skynet).
-export([main/0, skynet/3]).

-define(LEAVES, 1000000).
-define(ACTORS, 1111111).
-define(SUM, 499999500000).
-define(RUNS, 3).

skynet(Parent, Num, 1) ->
    Parent ! {sum, Num};
skynet(Parent, Num, Size) ->
    Self = self(),
    Step = Size div 10,
    [spawn(?MODULE, skynet, [Self, Num + I * Step, Step])
     || I <- lists:seq(0, 9)],
    Parent ! {sum, collect(10, 0)}.

collect(0, Sum) -> Sum;
collect(N, Sum) ->
    receive {sum, V} -> collect(N - 1, Sum + V) end.

run_once() ->
    T0 = peer_lib:now_s(),
    spawn(?MODULE, skynet, [self(), 0, ?LEAVES]),
    Sum = receive {sum, S} -> S after 300000 -> peer_lib:fail("timeout", []) end,
    T1 = peer_lib:now_s(),
    Sum =:= ?SUM orelse peer_lib:fail("sum ~p, expected ~p", [Sum, ?SUM]),
    T1 - T0.

main() ->
    peer_lib:run("skynet", fun() ->
        Threads = peer_lib:schedulers(),
        Walls = [begin
                     W = run_once(),
                     peer_lib:note("run ~p: ~.3f s", [R, W]),
                     W
                 end || R <- lists:seq(1, ?RUNS)],
        peer_lib:json("skynet", "wall_s", peer_lib:median(Walls), "s",
                      [{"n", ?ACTORS}, {"threads", Threads}, {"runs", ?RUNS},
                       {"best_s", lists:min(Walls)}]),
        peer_lib:json("skynet", "peak_rss_bytes", peer_lib:peak_rss_bytes(),
                      "B", [{"n", ?ACTORS}, {"threads", Threads}])
    end).
