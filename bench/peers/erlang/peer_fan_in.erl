%% peer_fan_in - many-to-one messages per second, as bench/fan_in.c does for
%% mnemo ("from":"actors"): 20 sender processes each send M messages
%% {data, Id, Seq} to one receiver process, which checks that every sender's
%% sequence numbers arrive in order and tells the main process once all
%% 20 * M have arrived. A sender is a plain loop (the Erlang way: the
%% scheduler preempts it by reductions, so no hand-made batching is needed).
%% The processes are spawned before the clock; the clock runs from the start
%% messages until the receiver's report. M is 250,000 (BENCH_SCALE=full:
%% 1,000,000).
-module(peer_fan_in).
-export([main/0, receiver/3, sender/3]).

-define(SENDERS, 20).

receiver(Next, Left, Main) when Left =:= 0 ->
    Main ! {received, Next};
receiver(Next, Left, Main) ->
    receive
        {data, Id, Seq} ->
            case element(Id + 1, Next) of
                Seq -> receiver(setelement(Id + 1, Next, Seq + 1), Left - 1,
                                Main);
                Want -> peer_lib:fail("sender ~p: message ~p arrived, "
                                      "expected ~p", [Id, Seq, Want])
            end
    end.

sender(Recv, Id, M) ->
    receive start -> send_loop(Recv, Id, 0, M) end.

send_loop(_Recv, _Id, M, M) -> ok;
send_loop(Recv, Id, Seq, M) ->
    Recv ! {data, Id, Seq},
    send_loop(Recv, Id, Seq + 1, M).

main() ->
    peer_lib:run("fan_in", fun() ->
        Threads = peer_lib:schedulers(),
        M = case peer_lib:full() of true -> 1000000; false -> 250000 end,
        N = ?SENDERS * M,
        Recv = spawn(?MODULE, receiver,
                     [erlang:make_tuple(?SENDERS, 0), N, self()]),
        Senders = [spawn(?MODULE, sender, [Recv, Id, M])
                   || Id <- lists:seq(0, ?SENDERS - 1)],
        T0 = peer_lib:now_s(),
        [S ! start || S <- Senders],
        Next = receive {received, X} -> X
               after 300000 -> peer_lib:fail("fan_in: not done after 300 s",
                                             [])
               end,
        Wall = peer_lib:now_s() - T0,
        [M = C || C <- tuple_to_list(Next)],
        peer_lib:note("~p messages in ~.3f s", [N, Wall]),
        peer_lib:json("fan_in", "msgs_per_s", N / Wall, "msg/s",
                      [{"n", N}, {"threads", Threads}, {"senders", ?SENDERS},
                       {"from", "actors"}])
    end).
