#!/usr/bin/env python3
"""A case system's side of mezhved, with a plain AMQP client (pika).

Publishes one request file to mezhved's requests queue with a reply queue
and a correlation id of its own, waits for the reply with that correlation
id and prints the verdict: a result (found, not_found, ..., failed) or, for
a request mezhved refused, "refused" with the reason. The reply's JSON is
documented by schemas/reply.schema.json.

    pip install pika
    python3 examples/case_system.py fixtures/requests/01-egrul-ladoga-by-ogrn.json

The reply queue must exist before the request is published: mezhved
replies to it at once, and a reply to a queue that does not exist goes to
the results exchange (mezhved.results) instead. By default this client
declares a server-named exclusive queue (gone when it disconnects);
--reply-queue NAME declares a durable one, for a case system that may be
down when the reply comes.

Exit codes: 0 a result came, 1 mezhved's queue does not exist, 2 the
request was refused, 3 no reply within --timeout seconds.
"""

import argparse
import json
import os
import sys
import time
import uuid

import pika


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("request", help="a request file (JSON), as in fixtures/requests/")
    p.add_argument(
        "--url",
        default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        help="the broker (default: $AMQP_URL or the local guest account)",
    )
    p.add_argument(
        "--prefix",
        default=os.environ.get("MEZHVED_PREFIX", "mezhved"),
        help="mezhved's amqp.prefix: requests go to <prefix>.requests",
    )
    p.add_argument("--reply-queue", help="a durable reply queue of this name (default: exclusive, server-named)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reply")
    p.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    args = p.parse_args()

    with open(args.request, "rb") as f:
        body = f.read()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()

    # 1. The reply queue, declared before publishing.
    if args.reply_queue:
        reply_queue = channel.queue_declare(queue=args.reply_queue, durable=True).method.queue
    else:
        reply_queue = channel.queue_declare(queue="", exclusive=True).method.queue

    # 2. The request, with reply_to and a correlation id to match the reply by.
    correlation_id = str(uuid.uuid4())
    channel.confirm_delivery()
    try:
        channel.basic_publish(
            exchange="",
            routing_key=args.prefix + ".requests",
            body=body,
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=2,
                reply_to=reply_queue,
                correlation_id=correlation_id,
            ),
            mandatory=True,
        )
    except pika.exceptions.UnroutableError:
        print(f"the queue {args.prefix}.requests does not exist: start `mezhved run` first (same amqp.prefix)")
        return 1
    published = time.monotonic()
    print(f"published {args.request} (correlation_id {correlation_id}, reply_to {reply_queue})")

    # 3. The reply, matched by correlation id: anything else on this
    # client's queue is an earlier reply nobody waits for any more.
    reply = None
    deadline = published + args.timeout
    for method, props, data in channel.consume(reply_queue, inactivity_timeout=0.2):
        if method is not None:
            channel.basic_ack(method.delivery_tag)
            if props.correlation_id == correlation_id:
                reply = json.loads(data)
                break
            print(f"an earlier reply (correlation_id {props.correlation_id}), not the one awaited")
        if time.monotonic() > deadline:
            break
    elapsed = time.monotonic() - published
    channel.cancel()
    connection.close()

    if reply is None:
        print(f"no reply within {args.timeout:g} s (is `mezhved run` consuming {args.prefix}.requests?)")
        return 3
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    print(f"reply in {elapsed * 1000:.0f} ms")
    verdict = reply["verdict"]
    if verdict == "refused":
        r = reply["reason"]
        print(f"verdict: refused ({r['code']} at {r['field'] or 'the message'})")
        print(f"  {r['message_ru']}")
        print(f"  {r['message']}")
        print(f"  dead letter {reply['dead_letter_id']} (the operator may fix and replay it)")
        return 2
    print(f"verdict: {verdict} ({reply['kind']}, case {reply['case_id']})")
    if reply.get("fallback_required"):
        why = reply.get("failure", {}).get("reason_ru") or reply.get("note_ru") or reply.get("rejection", {}).get("text", "")
        print(f"  fallback required: {why}")
    print(f"  case file {reply['case_file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
