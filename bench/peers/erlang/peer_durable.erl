%% peer_durable - the message stream of bench/durable.c persisted before
%% acknowledgement with disk_log, as an Erlang/OTP user would.
%% usage: erl ... -run peer_durable main SIZE POOL TARGETS NMSGS DIR LOAD
%%
%% The stream (bench/peers/mnemo/stream.c writes it): NMSGS messages,
%% message I to process TARGETS[I] of 100,000 with payload I mod 16,384 of
%% POOL (SIZE bytes each, cut from the agent corpus; a sub-binary, so the
%% send does not copy it). The main process sends each as {data, I, T,
%% Payload}; the actor process counts its messages (Seq) and sends
%% {rec, Id, Seq, I, T, Payload} to one writer process. The writer takes the
%% first record it finds, then whatever else is already queued, up to
%% K = 4,096 (receive ... after 0), appends the group to a disk_log
%% (halt log, internal format: each term framed and checked, readable with
%% disk_log:chunk/2) with disk_log:log_terms/2, calls disk_log:sync/1 (an
%% fsync), then acknowledges the group. So a sync every K messages under
%% load, and sooner when the queue runs dry, which is what a competent
%% group-commit loop does (a strict "every K" would hold a partial group
%% forever). A message is acknowledged when its group is synced; the clock
%% runs from the first send until the last acknowledgement.
%%
%% Then commit latency: max(1,000, L) messages paced at L per second, about
%% a second, in steps of 1 ms (Erlang's timer resolution); the latency of
%% each runs from its send to its acknowledgement. L is LOAD
%% (bench/peers/run measures mnemo at the same load, 25,000/s), or with
%% LOAD 0 a quarter of the measured rate, as bench/durable.c does for
%% mnemo. The latency lines carry "load":L when LOAD was given. Prints "msgs_per_s", "commit_p50_ms",
%% "commit_p99_ms" and "disk_bytes_per_msg" (the log file's allocated
%% blocks over the records written), each with "payload":SIZE, peer
%% "erlang_disk_log". The run fails unless every message was acknowledged
%% once and reading the log back yields exactly one record per message.
-module(peer_durable).
-export([main/1, actor/3, writer_init/2]).

-define(PEER, "erlang_disk_log").

-define(ACTORS, 100000).
-define(POOL, 16384).
-define(K, 4096).

actor(Id, Seq, Writer) ->
    receive
        {data, I, T, Payload} ->
            Writer ! {rec, Id, Seq + 1, I, T, Payload},
            actor(Id, Seq + 1, Writer);
        stop -> ok
    end.

%% ---- writer ----------------------------------------------------------------

-record(w, {log, expect = 0, acked = 0, main, timing = false, lat = [],
            syncs = 0}).

writer_init(File, Main) ->
    {ok, Log} = disk_log:open([{name, peer_journal}, {file, File},
                               {type, halt}, {format, internal},
                               {repair, false}]),
    Main ! {writer_ready, self()},
    writer(#w{log = Log, main = Main}).

writer(W) ->
    receive
        {rec, _, _, _, _, _} = R -> group([R], 1, W);
        {expect, N, Timing, From} ->
            From ! {expecting, N},
            writer(W#w{expect = N, acked = 0, timing = Timing, lat = [],
                       syncs = 0});
        {close, From} ->
            ok = disk_log:close(W#w.log),
            From ! {closed, W#w.syncs}
    end.

group(Acc, ?K, W) -> commit(Acc, ?K, W);
group(Acc, N, W) ->
    receive
        {rec, _, _, _, _, _} = R -> group([R | Acc], N + 1, W)
    after 0 ->
        commit(Acc, N, W)
    end.

commit(Acc, N, W = #w{log = Log}) ->
    Group = lists:reverse(Acc),
    ok = disk_log:log_terms(Log, [{Id, Seq, P} || {rec, Id, Seq, _, _, P} <- Group]),
    ok = disk_log:sync(Log),
    Lat = case W#w.timing of
              true ->
                  Now = erlang:monotonic_time(nanosecond),
                  [Now - T || {rec, _, _, _, T, _} <- Group] ++ W#w.lat;
              false -> W#w.lat
          end,
    Acked = W#w.acked + N,
    W2 = W#w{acked = Acked, lat = Lat, syncs = W#w.syncs + 1},
    case Acked of
        Expect when Expect =:= W#w.expect ->
            W#w.main ! {acked, Acked, W2#w.syncs, Lat};
        _ -> ok
    end,
    writer(W2).

%% ---- main ------------------------------------------------------------------

main([SizeS, PoolFile, TargetsFile, NMsgsS, Dir, LoadS]) ->
    peer_lib:run("durable", fun() ->
        run(list_to_integer(SizeS), PoolFile, TargetsFile,
            list_to_integer(NMsgsS), Dir, list_to_integer(LoadS))
    end).

run(Size, PoolFile, TargetsFile, NMsgs, Dir, FixedLoad) ->
    Threads = peer_lib:schedulers(),
    {ok, Pool} = file:read_file(PoolFile),
    byte_size(Pool) =:= ?POOL * Size orelse
        peer_lib:fail("pool of ~p bytes, expected ~p", [byte_size(Pool),
                                                        ?POOL * Size]),
    {ok, Targets} = file:read_file(TargetsFile),
    NTargets = byte_size(Targets) div 4,
    NMsgs =< NTargets orelse peer_lib:fail("~p messages, ~p targets",
                                           [NMsgs, NTargets]),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    File = filename:join(Dir, "journal.LOG"),
    Main = self(),
    Writer = spawn(?MODULE, writer_init, [File, Main]),
    receive {writer_ready, Writer} -> ok end,
    Actors = list_to_tuple([spawn(?MODULE, actor, [Id, 0, Writer])
                            || Id <- lists:seq(0, ?ACTORS - 1)]),
    Payload = fun(I) -> binary:part(Pool, (I rem ?POOL) * Size, Size) end,

    %% Throughput.
    expect(Writer, NMsgs, false),
    T0 = peer_lib:now_s(),
    send_all(Targets, 0, NMsgs, Actors, Payload),
    {Syncs, _} = wait_acked(NMsgs),
    Wall = peer_lib:now_s() - T0,
    Rate = NMsgs / Wall,
    peer_lib:note("~p B: ~p messages in ~.3f s, ~.1f per sync",
                  [Size, NMsgs, Wall, NMsgs / Syncs]),

    %% Commit latency at the given load, or a quarter of that rate.
    Load = case FixedLoad of 0 -> Rate / 4; _ -> float(FixedLoad) end,
    NLat = max(1000, trunc(Load)),
    expect(Writer, NLat, true),
    Start = erlang:monotonic_time(nanosecond),
    paced(0, NLat, Start, 1.0e9 / Load, NMsgs, NTargets, Targets, Actors,
          Payload),
    {_, Lat} = wait_acked(NLat),
    length(Lat) =:= NLat orelse peer_lib:fail("~p latencies", [length(Lat)]),
    P50 = peer_lib:percentile(Lat, 50) / 1.0e6,
    P99 = peer_lib:percentile(Lat, 99) / 1.0e6,

    Writer ! {close, self()},
    receive {closed, _} -> ok end,
    Records = count_records(File),
    Records =:= NMsgs + NLat orelse
        peer_lib:fail("log holds ~p records, expected ~p",
                      [Records, NMsgs + NLat]),
    Disk = allocated_bytes(File) / Records,
    peer_lib:note("latency: ~p messages at ~.1f/s, p50 ~.3f ms, p99 ~.3f ms; "
                  "~.1f disk bytes per record", [NLat, Load, P50, P99, Disk]),
    [A ! stop || A <- tuple_to_list(Actors)],
    Common = [{"threads", Threads}, {"payload", Size}],
    LoadF = case FixedLoad of 0 -> []; _ -> [{"load", FixedLoad}] end
        ++ [{"load_msgs_per_s", Load}],
    peer_lib:json(?PEER, "durable", "msgs_per_s", Rate, "msg/s",
                  [{"n", NMsgs} | Common] ++
                  [{"actors", ?ACTORS}, {"per_commit", NMsgs / Syncs},
                   {"mode", "sync"}]),
    peer_lib:json(?PEER, "durable", "disk_bytes_per_msg", Disk, "B",
                  [{"n", Records} | Common]),
    peer_lib:json(?PEER, "durable", "commit_p50_ms", P50, "ms",
                  [{"n", NLat} | Common] ++ LoadF),
    peer_lib:json(?PEER, "durable", "commit_p99_ms", P99, "ms",
                  [{"n", NLat} | Common] ++ LoadF).

target(Targets, I) ->
    <<_:I/binary-unit:32, A:32/little, _/binary>> = Targets,
    A.

send_all(_Targets, N, N, _Actors, _Payload) -> ok;
send_all(Targets, I, N, Actors, Payload) ->
    element(target(Targets, I) + 1, Actors) ! {data, I, 0, Payload(I)},
    send_all(Targets, I + 1, N, Actors, Payload).

%% Send message I when its time has come; sleep in 1 ms steps while ahead.
paced(N, N, _Start, _Gap, _Base, _NT, _Targets, _Actors, _Payload) -> ok;
paced(I, N, Start, Gap, Base, NT, Targets, Actors, Payload) ->
    Due = Start + trunc(I * Gap),
    case Due - erlang:monotonic_time(nanosecond) of
        Ahead when Ahead >= 1000000 ->
            receive after Ahead div 1000000 -> ok end;
        _ -> ok
    end,
    M = Base + I,
    T = erlang:monotonic_time(nanosecond),
    element(target(Targets, M rem NT) + 1, Actors) ! {data, M, T, Payload(M)},
    paced(I + 1, N, Start, Gap, Base, NT, Targets, Actors, Payload).

%% Tell the writer how many acknowledgements make the phase, before the
%% phase's first message.
expect(Writer, N, Timing) ->
    Writer ! {expect, N, Timing, self()},
    receive {expecting, N} -> ok end.

wait_acked(N) ->
    receive {acked, N, Syncs, Lat} -> {Syncs, Lat}
    after 300000 -> peer_lib:fail("durable: not acknowledged after 300 s", [])
    end.

count_records(File) ->
    {ok, L} = disk_log:open([{name, peer_check}, {file, File}, {type, halt},
                             {format, internal}, {mode, read_only}]),
    N = count_chunks(L, start, 0),
    ok = disk_log:close(L),
    N.

count_chunks(L, Cont, N) ->
    case disk_log:chunk(L, Cont) of
        eof -> N;
        {Cont2, Terms} -> count_chunks(L, Cont2, N + length(Terms));
        {Cont2, Terms, _Bad} -> count_chunks(L, Cont2, N + length(Terms))
    end.

allocated_bytes(File) ->
    %% st_blocks * 512, as for the LMDB files; file:read_file_info has no
    %% block count, so ask stat(1).
    Out = os:cmd("stat -c %b " ++ File),
    list_to_integer(string:trim(Out)) * 512.
