"""The confluent-kafka consumer both Python readers use: every partition of TOPIC assigned from offset 0, with an
end-of-partition event so a reader knows when it has read everything."""
from confluent_kafka import Consumer, TopicPartition


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
