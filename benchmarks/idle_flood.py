#!/usr/bin/env python3
"""Idle-connection flood (issue 28, finding 2) against a running API port.

ADDRS source addresses (127.0.1.1..) each open PER connections at once; each sends one
request, reads the answer and then idles. Then prints how many of them are still served, and
a newcomer from 127.0.2.1 makes 100 requests, each on a fresh connection: status counts and
latency. Loopback only; every wait is bounded.

    hookline embedded --api-http-addr=127.0.0.1:18480 ... &
    python3 benchmarks/idle_flood.py 18480 1 4150     # one client, the review's attack
    python3 benchmarks/idle_flood.py 18480 8 519      # eight clients filling the cap
"""
import asyncio, sys, time
HOST, PORT = "127.0.0.1", int(sys.argv[1])
ADDRS = int(sys.argv[2]); PER = int(sys.argv[3])
REQ = b"GET /api/v1/not-a-route HTTP/1.1\r\nHost: x\r\n\r\n"

async def one(src):
    try:
        r, w = await asyncio.open_connection(HOST, PORT, local_addr=(src, 0))
        w.write(REQ); await w.drain()
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        return (r, w, head.split(b" ")[1].decode())
    except Exception as e:
        return (None, None, type(e).__name__)

async def main():
    held = []
    t0 = time.time()
    for a in range(ADDRS):
        src = f"127.0.1.{a+1}"
        res = await asyncio.gather(*[one(src) for _ in range(PER)])
        held += res
    codes = {}
    for _, _, c in held: codes[c] = codes.get(c, 0) + 1
    print(f"attack: {ADDRS} addresses x {PER} = {ADDRS*PER} connections in {time.time()-t0:.1f}s; first answers {codes}")
    # still open?
    await asyncio.sleep(0.5)
    open_ = 0
    for r, w, c in held:
        if r is not None and not r.at_eof():
            try:
                w.write(REQ); await w.drain()
                await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 2); open_ += 1
            except Exception: pass
    print(f"attack connections still serving after it: {open_}")
    lat = []; codes = {}
    for i in range(100):
        t = time.time()
        r, w, c = await one("127.0.2.1")
        lat.append((time.time()-t)*1000); codes[c] = codes.get(c, 0) + 1
        if w: w.close()
    lat.sort()
    print(f"newcomer from 127.0.2.1, 100 fresh connections: {codes}; p50 {lat[50]:.1f} ms, p99 {lat[98]:.1f} ms, max {lat[-1]:.1f} ms")
asyncio.run(main())
