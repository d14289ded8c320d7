"""The floor under every reader: the same confluent-kafka consumer as python_loop.py, reading the whole topic and
doing nothing with the messages (no decoding, no writing). What is left of a reader's time above this is its own.

    consume_only.py BROKER TOPIC

Prints {"messages", "seconds"} as JSON.
"""
import json
import sys
import time

from confluent_kafka import KafkaError

from consumer import assigned

broker, topic = sys.argv[1:3]
start = time.perf_counter()
consumer, partitions = assigned(broker, topic, "consume-only")
messages, done = 0, set()
while len(done) < partitions:
    for m in consumer.consume(num_messages=10000, timeout=1.0):
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                done.add(m.partition())
                continue
            raise SystemExit(str(m.error()))
        messages += 1
consumer.close()
print(json.dumps({"messages": messages, "seconds": time.perf_counter() - start}))
