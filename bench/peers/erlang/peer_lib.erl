%% peer_lib - helpers shared by the Erlang peer programs: a monotonic clock,
%% /proc memory readers, the scheduler check, and the JSON line writer. Every
%% program prints one JSON object per line on stdout,
%% {"peer":"erlang","bench":..,"metric":..,"value":..,"unit":..,...}, which
%% bench/peers/run joins with mnemo's line for the same bench and metric.
%% Progress goes to stderr; run/2 halts with status 1 on any failure (a wrong
%% count or sum), 0 after the body returns.
-module(peer_lib).
-export([run/2, now_s/0, rss_bytes/0, peak_rss_bytes/0, schedulers/0,
         full/0, json/5, json/6, note/2, fail/2, median/1, percentile/2]).

%% Run Fun() as the program's main: halt(0) when it returns, halt(1) when
%% it throws, after printing the reason.
run(Name, Fun) ->
    put(peer_prog, Name),
    try
        Fun(),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "peer erlang ~s: ~p:~p~n~p~n",
                      [Name, Class, Reason, Stack]),
            halt(1)
    end.

now_s() ->
    erlang:monotonic_time(nanosecond) / 1.0e9.

%% Resident set size of this OS process (the emulator), from /proc.
rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = string:lexemes(binary_to_list(Bin), " \n"),
    list_to_integer(Resident) * page_size().

peak_rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    Lines = string:lexemes(binary_to_list(Bin), "\n"),
    [Kb] = [list_to_integer(hd(string:lexemes(Rest, " \tkB")))
            || "VmHWM:" ++ Rest <- Lines],
    Kb * 1024.

page_size() ->
    case os:cmd("getconf PAGESIZE") of
        "" -> 4096;
        S -> list_to_integer(string:trim(S))
    end.

%% The number of schedulers online, checked against BENCH_THREADS (what
%% mnemo used; bench/peers/run passes +S N:N).
schedulers() ->
    N = erlang:system_info(schedulers_online),
    case os:getenv("BENCH_THREADS") of
        false -> N;
        S ->
            case list_to_integer(S) of
                N -> N;
                Want -> fail("~p schedulers online, wanted ~p", [N, Want])
            end
    end.

full() ->
    os:getenv("BENCH_SCALE") =:= "full".

note(Fmt, Args) ->
    io:format(standard_error, "peer erlang ~s: " ++ Fmt ++ "~n",
              [get(peer_prog) | Args]).

fail(Fmt, Args) ->
    erlang:error({check_failed, lists:flatten(io_lib:format(Fmt, Args))}).

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% The P-th percentile (0 < P < 100) of a list of numbers, as mnemo's
%% durable benchmark takes it: element floor(N * P / 100) of the sorted list.
percentile(L, P) ->
    S = lists:sort(L),
    N = length(S),
    lists:nth(min(N, N * P div 100 + 1), S).

%% One JSON line. Extra is a list of {Key, Value}, Value a number or a
%% string (list). The peer is "erlang", or Peer for a named variant.
json(Bench, Metric, Value, Unit, Extra) ->
    json("erlang", Bench, Metric, Value, Unit, Extra).

json(Peer, Bench, Metric, Value, Unit, Extra) ->
    Fields = [{"peer", Peer}, {"bench", Bench}, {"metric", Metric},
              {"value", Value}, {"unit", Unit} | Extra],
    Body = lists:join(",", [[$", K, $", $:, jvalue(V)] || {K, V} <- Fields]),
    io:put_chars([${, Body, $}, $\n]).

jvalue(V) when is_integer(V) -> integer_to_list(V);
jvalue(V) when is_float(V), V == trunc(V), abs(V) < 9.0e15 ->
    integer_to_list(trunc(V));
jvalue(V) when is_float(V) -> io_lib:format("~.6g", [V]);
jvalue(V) when is_list(V) -> [$", V, $"].
