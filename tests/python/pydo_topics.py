"""Drives ferry's DigitalOcean dialect with DigitalOcean's own client, pydo.

Usage: pydo_topics.py ENDPOINT TOKEN DATABASE_UUID TOPIC

Runs create, list, get, update and delete of TOPIC, and a get of a topic
that does not exist, and prints what each call returned as one JSON object
(a call that raised is recorded as {"error": status, "body": ...}).
"""

import json
import sys

import pydo
from azure.core.exceptions import HttpResponseError


def call(fn, *args):
    try:
        # azure-core, under pydo, sends a bearer token only over https unless
        # told otherwise; the tests reach ferry over plain loopback HTTP.
        result = fn(*args, enforce_https=False)
        return {"ok": result}
    except HttpResponseError as err:
        body = None
        try:
            body = err.response.json()
        except Exception:  # the body is not JSON: keep its text
            body = err.response.text()
        return {"error": err.status_code, "body": body}


def main():
    endpoint, token, uuid, topic = sys.argv[1:5]
    client = pydo.Client(token=token, endpoint=endpoint)
    db = client.databases
    out = {}
    out["create"] = call(
        db.create_kafka_topic,
        uuid,
        {
            "name": topic,
            "partition_count": 2,
            "replication_factor": 1,
            "config": {
                "cleanup_policy": "compact_delete",
                "retention_ms": 3600000,
                "message_timestamp_type": "log_append_time",
            },
        },
    )
    out["list"] = call(db.list_kafka_topics, uuid)
    out["get"] = call(db.get_kafka_topic, uuid, topic)
    out["update"] = call(
        db.update_kafka_topic,
        uuid,
        topic,
        {"config": {"retention_ms": 7200000, "min_insync_replicas": 1}},
    )
    out["invalid"] = call(
        db.update_kafka_topic, uuid, topic, {"config": {"cleanup_policy": "shred"}}
    )
    out["missing"] = call(db.get_kafka_topic, uuid, "no-such-topic")
    out["delete"] = call(db.delete_kafka_topic, uuid, topic)
    out["after_delete"] = call(db.list_kafka_topics, uuid)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
