"""Fill a topic with N JSON ticks for the benchmark: python produce.py BROKER TOPIC N"""
import json
import sys

from confluent_kafka import Producer

broker, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": broker, "broker.address.family": "v4", "linger.ms": 20,
              "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000})
symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AVGO"]
for i in range(n):
    s = symbols[i % len(symbols)]
    v = {"id": i, "symbol": s, "price": 100 + (i % 997) / 10, "ts": f"2024-03-{1 + i % 28:02d}T14:{i // 60 % 60:02d}:{i % 60:02d}Z"}
    while True:
        try:
            p.produce(topic, key=s, value=json.dumps(v, separators=(",", ":")))
            break
        except BufferError:
            p.poll(0.1)
    if i % 10000 == 0:
        p.poll(0)
p.flush(60)
