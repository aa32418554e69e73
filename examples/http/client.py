#!/usr/bin/env python3
"""client.py - a small client of the `mnemo serve` HTTP API (docs/serve.md),
on Python's standard library only (urllib, json).

As a module:

    from client import Client
    c = Client("http://127.0.0.1:8700", token)
    c.send("tally", "alice", 1, json_value={"text": "hi"})     # 202, queued
    c.send_durable("tally", "alice", 1, payload=b"hi",          # 201, stored
                   idempotency_key="order-17")                  # safe to retry
    reply = c.ask("tally", "alice", 2, timeout_ms=5000)         # the reply
    actor = c.actor("tally", "alice")                           # state, heads
    for a in c.actors(kind="tally"):                            # every page
        print(a["address"])

As a program:

    client.py [--url URL] [--token T | --token-file F] [--cacert F] COMMAND
      send KIND KEY TYPE [JSON]        fire-and-forget
      durable KIND KEY TYPE [JSON] [--key IDEMPOTENCY_KEY]
      ask KIND KEY TYPE [JSON] [--timeout-ms N]
      get KIND KEY
      list [--kind KIND]
      demo KIND KEY                    all of them, checked (exit 1 if not)

The token also comes from MNEMO_TOKEN, the URL from MNEMO_URL. Exit status:
0, 1 for an API error (its JSON body on stderr), 2 for a usage error.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class ApiError(Exception):
    """An HTTP error answer: status, the MN_E* code and the message."""

    def __init__(self, status, body):
        self.status = status
        self.body = body
        self.code = body.get("code") if isinstance(body, dict) else None
        msg = body.get("error") if isinstance(body, dict) else str(body)
        super().__init__("HTTP %d %s: %s" % (status, self.code, msg))


def key_path(key):
    """A key as a path segment: the text when it is printable ASCII without
    '/' and does not start with 0x, else 0x and hex (the tool's form)."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    text_ok = all(0x21 <= b < 0x7F and b != 0x2F for b in raw)
    if raw and text_ok and not raw.startswith(b"0x"):
        return urllib.parse.quote(raw.decode(), safe="")
    return "0x" + raw.hex()


def message(mtype, json_value=None, payload=None):
    """The body of a message: type and either JSON or bytes (base64)."""
    body = {"type": mtype}
    if json_value is not None and payload is not None:
        raise ValueError("give json_value or payload, not both")
    if json_value is not None:
        body["json"] = json_value
    elif payload is not None:
        body["payload"] = base64.b64encode(payload).decode()
    return body


class Client:
    """One server: its URL, a bearer token, and how long a call may take."""

    def __init__(self, url, token, cafile=None, timeout=30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    def _call(self, method, path, body=None, headers=None, timeout=None):
        """One request: (status, decoded JSON body). Raises ApiError for an
        HTTP error, urllib.error.URLError when the transfer fails."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(
                req, timeout=timeout or self.timeout, context=self.context
            ) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            err = ApiError(e.code, parsed)
            err.retry_after = e.headers.get("Retry-After")
            raise err from None

    def _actor_path(self, kind, key, tail=""):
        return "/v1/actors/%s/%s%s" % (urllib.parse.quote(kind, safe=""),
                                       key_path(key), tail)

    def send(self, kind, key, mtype, json_value=None, payload=None):
        """Fire-and-forget: queued in memory (202). Lost if the server dies
        before the actor handles it."""
        _, body = self._call("POST", self._actor_path(kind, key, "/messages"),
                             message(mtype, json_value, payload))
        return body

    def send_durable(self, kind, key, mtype, json_value=None, payload=None,
                     idempotency_key=None, retries=5):
        """Stored before the answer (201). With an idempotency key, a retry
        after a lost answer is safe: the server answers 200 "repeat" and
        the actor sees the message once. Retries (up to `retries` times,
        with backoff and Retry-After) a transfer that failed, a 429 and a
        503; without a key only 429 (nothing was stored then)."""
        path = self._actor_path(kind, key, "/messages")
        headers = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        else:
            path += "?durable=1"
        body = message(mtype, json_value, payload)
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                status, answer = self._call("POST", path, body, headers)
                answer["status"] = status
                return answer
            except ApiError as e:
                retry = e.status == 429 or (e.status == 503 and idempotency_key)
                if not retry or attempt == retries:
                    raise
                wait = float(e.retry_after or delay)
            except (urllib.error.URLError, OSError):
                if idempotency_key is None or attempt == retries:
                    raise
                wait = delay
            time.sleep(wait)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def ask(self, kind, key, mtype, json_value=None, payload=None,
            timeout_ms=30000):
        """The actor's reply: {"type", "payload_base64", "json"?}; the
        bytes are in "payload" here too. 504 (ApiError) on timeout."""
        path = self._actor_path(kind, key, "/ask?timeout_ms=%d" % timeout_ms)
        _, reply = self._call("POST", path, message(mtype, json_value, payload),
                              timeout=timeout_ms / 1000.0 + 5)
        reply["payload"] = base64.b64decode(reply.get("payload_base64", ""))
        return reply

    def actor(self, kind, key):
        """Its stored metadata and live state view; ApiError 404 if none."""
        return self._call("GET", self._actor_path(kind, key))[1]

    def actors(self, kind=None, limit=100):
        """Every actor (of a kind), page after page."""
        after = 0
        while True:
            q = {"after": after, "limit": limit}
            if kind:
                q["kind"] = kind
            _, page = self._call("GET", "/v1/actors?" + urllib.parse.urlencode(q))
            yield from page["actors"]
            if page.get("next") is None:
                return
            after = page["next"]


def demo(c, kind, key):
    """Each call once, with what it should answer checked."""
    out = {}
    out["send"] = c.send(kind, key, 1, json_value={"text": "hello"})
    ik = "client-py-%d-%d" % (os.getpid(), int(time.time() * 1000))
    first = c.send_durable(kind, key, 1, payload=b"hi", idempotency_key=ik)
    again = c.send_durable(kind, key, 1, payload=b"hi", idempotency_key=ik)
    out["durable"] = first
    out["durable_retry"] = again
    out["stored"] = c.send_durable(kind, key, 1, json_value=7)
    out["ask"] = c.ask(kind, key, 2, timeout_ms=5000)
    out["ask"]["payload"] = out["ask"]["payload"].decode(errors="replace")
    out["actor"] = c.actor(kind, key)
    out["listed"] = [a["address"] for a in c.actors(kind=kind, limit=2)]
    ok = (out["send"].get("accepted") is True
          and first["status"] == 201
          and again["status"] == 200 and again.get("repeat") is True
          and out["stored"]["status"] == 201
          and "%s/%s" % (kind, key) in out["listed"])
    out["ok"] = ok
    print(json.dumps(out, indent=1))
    return 0 if ok else 1


def main(argv):
    p = argparse.ArgumentParser(description="a client of mnemo serve")
    p.add_argument("--url", default=os.environ.get("MNEMO_URL",
                                                   "http://127.0.0.1:8700"))
    p.add_argument("--token", default=os.environ.get("MNEMO_TOKEN"))
    p.add_argument("--token-file")
    p.add_argument("--cacert")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "durable", "ask"):
        s = sub.add_parser(name)
        s.add_argument("kind")
        s.add_argument("key")
        s.add_argument("type", type=int)
        s.add_argument("json", nargs="?")
        if name == "durable":
            s.add_argument("--key", dest="idem")
        if name == "ask":
            s.add_argument("--timeout-ms", type=int, default=30000)
    g = sub.add_parser("get")
    g.add_argument("kind")
    g.add_argument("key")
    ls = sub.add_parser("list")
    ls.add_argument("--kind")
    d = sub.add_parser("demo")
    d.add_argument("kind")
    d.add_argument("key")
    a = p.parse_args(argv)
    token = a.token
    if a.token_file:
        with open(a.token_file) as f:
            token = next((ln.split()[0] for ln in f
                          if ln.strip() and not ln.startswith("#")), None)
    if not token:
        p.error("a token is needed (--token, --token-file or MNEMO_TOKEN)")
    c = Client(a.url, token, cafile=a.cacert)
    value = None
    if getattr(a, "json", None) is not None:
        value = json.loads(a.json)
    try:
        if a.cmd == "send":
            r = c.send(a.kind, a.key, a.type, json_value=value)
        elif a.cmd == "durable":
            r = c.send_durable(a.kind, a.key, a.type, json_value=value,
                               idempotency_key=a.idem)
        elif a.cmd == "ask":
            r = c.ask(a.kind, a.key, a.type, json_value=value,
                      timeout_ms=a.timeout_ms)
            r["payload"] = r["payload"].decode(errors="replace")
        elif a.cmd == "get":
            r = c.actor(a.kind, a.key)
        elif a.cmd == "list":
            r = list(c.actors(kind=a.kind))
        else:
            return demo(c, a.kind, a.key)
    except ApiError as e:
        print(json.dumps(e.body), file=sys.stderr)
        return 1
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
