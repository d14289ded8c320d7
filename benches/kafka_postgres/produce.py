"""Fill a topic with N JSON ticks shaped like seed 001's (symbol, price, volume, timestamp, fetch_timestamp):

    python produce.py BROKER TOPIC N

Every message has its own fetch_timestamp (1714557600 + i), so a table holding each message once has N distinct
values of it."""
import json
import sys

from confluent_kafka import Producer

broker, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": broker, "broker.address.family": "v4", "linger.ms": 20,
              "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000})
symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AVGO"]
for i in range(n):
    s = symbols[i % len(symbols)]
    v = {"symbol": s, "price": 100 + (i % 997) / 10, "volume": 1000 + i % 4999,
         "timestamp": f"2024-05-{1 + i % 28:02d}T{9 + i // 3600 % 8:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
         "fetch_timestamp": 1_714_557_600 + i}
    while True:
        try:
            p.produce(topic, key=s, value=json.dumps(v, separators=(",", ":")))
            break
        except BufferError:
            p.poll(0.1)
    if i % 10000 == 0:
        p.poll(0)
if p.flush(60):
    raise SystemExit("messages left undelivered after 60 s")
