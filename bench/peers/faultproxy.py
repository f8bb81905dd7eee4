#!/usr/bin/env python3
"""A faulty name server for the benchmark's delegations (UDP only).

  faultproxy.py --listen IP:PORT --mode dead
  faultproxy.py --listen IP:PORT --mode slow  --upstream IP:PORT [--min 0.3 --max 1.5]
  faultproxy.py --listen IP:PORT --mode lossy --upstream IP:PORT [--loss 0.3]

dead: reads every query and never answers (silence, no ICMP).
slow: forwards each query to the upstream server after a random delay.
lossy: drops a share of the queries, forwards the rest at once.
Answers go back to the asker from the listening socket.
"""
import argparse
import asyncio
import random


def question_key(data):
    """ID + question section bytes, or None when the message is too short."""
    if len(data) < 12:
        return None
    i = 12
    while i < len(data):
        n = data[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            i += 2
            break
        i += 1 + n
    return bytes(data[:2]) + bytes(data[12:i + 4]).lower()


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front):
        self.front = front

    def datagram_received(self, data, addr):
        key = question_key(data)
        who = self.front.pending.pop(key, None)
        if who is not None:
            self.front.transport.sendto(data, who)


class Front(asyncio.DatagramProtocol):
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.pending = {}
        self.up = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        a = self.a
        if a.mode == "dead":
            return
        if a.mode == "lossy" and self.rng.random() < a.loss:
            return
        key = question_key(data)
        if key is None:
            return
        self.pending[key] = addr
        if len(self.pending) > 100000:
            self.pending.clear()
        if a.mode == "slow":
            delay = self.rng.uniform(a.min, a.max)
            asyncio.get_running_loop().call_later(delay, self.up.sendto, data)
        else:
            self.up.sendto(data)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream")
    p.add_argument("--mode", choices=["dead", "slow", "lossy"], required=True)
    p.add_argument("--min", type=float, default=0.3)
    p.add_argument("--max", type=float, default=1.5)
    p.add_argument("--loss", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    loop = asyncio.get_running_loop()
    ip, port = a.listen.rsplit(":", 1)
    front = Front(a)
    await loop.create_datagram_endpoint(lambda: front, local_addr=(ip, int(port)))
    if a.mode != "dead":
        uip, uport = a.upstream.rsplit(":", 1)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: Upstream(front), remote_addr=(uip, int(uport)))
        front.up = transport
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
