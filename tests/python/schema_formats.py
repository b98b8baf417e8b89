"""confluent-kafka's own schema registry serializers beside ferry.

read:  prints, as JSON, the keys and values of `count` records of a topic as
       confluent-kafka's deserializers (AvroDeserializer, JSONDeserializer)
       decode them, asking the registry for each writer schema.
write: produces `values` with confluent-kafka's AvroSerializer, which
       registers the schema under `{topic}-value`; prints the count.

Usage: schema_formats.py read  BOOTSTRAP REGISTRY USER PASSWORD TOPIC FORMAT COUNT
       schema_formats.py write BOOTSTRAP REGISTRY USER PASSWORD TOPIC SCHEMA VALUES_JSON
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main():
    mode, bootstrap, registry, user, password, topic = sys.argv[1:7]
    client = SchemaRegistryClient(
        {"url": registry, "basic.auth.user.info": f"{user}:{password}"}
    )
    if mode == "read":
        fmt, count = sys.argv[7], int(sys.argv[8])
        if fmt == "avro":
            deserializer = AvroDeserializer(client)
        else:
            deserializer = JSONDeserializer(None, schema_registry_client=client)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"python-{topic}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        records = []
        deadline = time.time() + 30
        while len(records) < count and time.time() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            key = message.key()
            if key is not None:
                key = deserializer(key, SerializationContext(topic, MessageField.KEY))
            value = deserializer(
                message.value(), SerializationContext(topic, MessageField.VALUE)
            )
            records.append({"key": key, "value": value})
        consumer.close()
        print(json.dumps(records))
    elif mode == "write":
        schema, values = sys.argv[7], json.loads(sys.argv[8])
        serializer = AvroSerializer(client, schema)
        producer = Producer({"bootstrap.servers": bootstrap})
        for value in values:
            data = serializer(value, SerializationContext(topic, MessageField.VALUE))
            producer.produce(topic, value=data)
        left = producer.flush(30)
        if left:
            sys.exit(f"{left} records were not delivered")
        print(json.dumps({"written": len(values)}))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
