"""The confluent-kafka consumer both Python readers use: every partition of TOPIC assigned from offset 0, with an
end-of-partition event so a reader knows when it has read everything."""
from confluent_kafka import Consumer, KafkaError, TopicPartition


def assigned(broker, topic, group):
    """(consumer, number of partitions)."""
    consumer = Consumer({
        "bootstrap.servers": broker,
        "broker.address.family": "v4",
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    return consumer, len(partitions)


def messages(consumer, partitions):
    """Every message of the assigned partitions, until each has reached its end; any other error stops the reader."""
    done = set()
    while len(done) < partitions:
        for m in consumer.consume(num_messages=10000, timeout=1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                    continue
                raise SystemExit(str(m.error()))
            yield m
