"""The floor under every reader: the same confluent-kafka consumer as python_loop.py, reading the whole topic and
doing nothing with the messages (no decoding, no writing). What is left of a reader's time above this is its own.

    consume_only.py BROKER TOPIC

Prints {"messages", "seconds"} as JSON.
"""
import json
import sys
import time

from consumer import assigned, messages

broker, topic = sys.argv[1:3]
start = time.perf_counter()
consumer, partitions = assigned(broker, topic, "consume-only")
count = sum(1 for _ in messages(consumer, partitions))
consumer.close()
print(json.dumps({"messages": count, "seconds": time.perf_counter() - start}))
