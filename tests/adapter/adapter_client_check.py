"""Drives mezhved's adapter interface with the published client
adapter-client 3.1.0, unchanged: its transport (zeep over the WSDL and
XSDs it ships) without Django settings, Celery or a database.

    adapter_client_check.py exchange URL MNEMONIC
        sends an ЕГРЮЛ request and a request of a VS mezhved does not know,
        and one nobody answers, then polls Find until all three answered;
    adapter_client_check.py resend URL MNEMONIC
        sends one request through URL (a proxy that drops the connection
        after the first Send), sends it again with the same clientId, and
        polls Find for its answer;
    adapter_client_check.py wsdl URL MNEMONIC
        loads mezhved's own WSDL from URL?wsdl and calls Find through it.

Every answer mezhved gave is checked against the XSDs the client ships.
Prints one JSON object on standard output; exit 1 on any failure.
"""

import json
import sys
import time
import uuid
from pathlib import Path

from lxml import etree

from adapter_client.adapters.smev.interfaces.soap import interface as soap_interface
from adapter_client.adapters.smev.interfaces.soap.interface import Interface
from adapter_client.core.domain import model

ZAGS_NS = "urn://x-artefacts-zags-rogdinf/root/112-51/4.0.1"
EGRUL_NS = "urn://x-artefacts-fns-vipul-tosmv-ru/311-14/4.0.6"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WAIT_SECONDS = 60


def official_schema():
    """The adapter's types schema as the client ships it (an independent
    reading of the interface: never mezhved's copy)."""
    schema_dir = Path(soap_interface.__file__).parent / "schema"
    return etree.XMLSchema(etree.parse(str(schema_dir / "smev-service-adapter-types.xsd")))


SCHEMA = official_schema()


def check_answer(result, where):
    """The body of mezhved's answer validates against the client's XSD."""
    if result.response is None:
        raise SystemExit(f"{where}: no answer was received ({result.error!r})")
    envelope = etree.fromstring(result.response.encode("utf-8"))
    body = envelope.find(f"{{{SOAP_NS}}}Body")
    child = body[0]
    if child.tag == f"{{{SOAP_NS}}}Fault":
        return
    # An empty queue is an empty QueryResult, as the adapter answers it
    # (its schema would want smevMetadata; its clients expect nothing).
    if child.tag.endswith("}QueryResult") and len(child) == 0:
        return
    if not SCHEMA.validate(child):
        raise SystemExit(f"{where}: the answer fails the adapter's schema: {SCHEMA.error_log}\n{result.response}")


def config(url, mnemonic):
    return model.Config(
        adapter_address=url,
        app_mnemonics=mnemonic,
        node_mnemonics="NODE1",
        file_storage_interface=None,
    )


def outgoing(body, message_type):
    return model.OutgoingMessage(
        message=model.Message(message_type=message_type, body=body, test=True)
    )


def send(iface, out, where):
    [r] = list(iface.send(out))
    if r.error is None:
        check_answer(r, where)
    return r


def find_answer(iface, out, where):
    deadline = time.time() + WAIT_SECONDS
    polls = 0
    while time.time() < deadline:
        [r] = list(iface.find(out))
        polls += 1
        if r.error is not None:
            raise SystemExit(f"{where}: Find failed: {r.error!r}")
        check_answer(r, where)
        if r.message_metadata is not None:
            m = r.message_metadata.message
            return {
                "polls": polls,
                "client_id": m.client_id,
                "message_id": m.message_id,
                "message_type": m.message_type,
                "transaction_code": m.transaction_code,
                "body": m.body,
                "reply_to_client_id": m.reply_to.client_id,
            }
        time.sleep(0.3)
    raise SystemExit(f"{where}: no answer within {WAIT_SECONDS} s")


def exchange(url, mnemonic):
    iface = Interface(config(url, mnemonic))
    egrul = (
        f'<e:FNSVipULRequest xmlns:e="{EGRUL_NS}" ИдДок="{uuid.uuid4()}">'
        "<e:ЗапросЮЛ><e:ОГРН>1144703001233</e:ОГРН></e:ЗапросЮЛ></e:FNSVipULRequest>"
    )
    zags = f'<r:Req xmlns:r="{ZAGS_NS}"><r:snils>12345678964</r:snils></r:Req>'
    nobody = '<q:Query xmlns:q="urn://example/nobody-answers/1.0"><q:id>7</q:id></q:Query>'
    plan = {
        "egrul": outgoing(egrul, EGRUL_NS),
        "zags": outgoing(zags, ZAGS_NS),
        "nobody": outgoing(nobody, "urn://example/nobody-answers/1.0"),
    }
    out = {}
    for name, msg in plan.items():
        r = send(iface, msg, name)
        if r.error is not None or msg.status != model.OutgoingStatus.sent:
            raise SystemExit(f"{name}: Send failed: {r.error!r} ({msg.status})")
        out[name] = {"client_id": msg.message.client_id, "message_id": msg.message.message_id}
    for name, msg in plan.items():
        out[name]["answer"] = find_answer(iface, msg, name)
    # Get: mezhved takes no incoming requests, so that queue is empty.
    g = iface.get()
    if g.error is not None or g.message_metadata is not None:
        raise SystemExit(f"Get: {g.error!r} {g.message_metadata!r}")
    check_answer(g, "Get")
    out["get_empty"] = True
    return out


def resend(url, mnemonic):
    iface = Interface(config(url, mnemonic))
    zags = f'<r:Req xmlns:r="{ZAGS_NS}"><r:snils>12345678964</r:snils></r:Req>'
    msg = outgoing(zags, ZAGS_NS)
    first = send(iface, msg, "first Send")
    status_after_drop = msg.status.name
    first_error = repr(first.error)
    second = send(iface, msg, "second Send")
    if second.error is not None or msg.status != model.OutgoingStatus.sent:
        raise SystemExit(f"second Send failed: {second.error!r} ({msg.status})")
    return {
        "client_id": msg.message.client_id,
        "first_status": status_after_drop,
        "first_error": first_error,
        "attempts": msg.attempts,
        "message_id": msg.message.message_id,
        "answer": find_answer(iface, msg, "resend"),
    }


def wsdl(url, mnemonic):
    """mezhved's own WSDL, as a client that fetches it would use it."""
    from zeep import Client

    client = Client(url + "?wsdl")
    service = client.bind("SMEVServiceAdapterService", "SMEVServiceAdapterEndpoint")
    found = service.Find(
        itSystem=mnemonic,
        specificQuery={
            "messageClientIdCriteria": {
                "clientId": str(uuid.uuid4()),
                "clientIdCriteria": "GET_RESPONSE_BY_REQUEST_CLIENTID",
            }
        },
    )
    return {"operations": sorted(o for o in client.wsdl.bindings[
        "{urn://x-artefacts-smev-gov-ru/services/service-adapter}SMEVServiceAdapterSoapBinding"
    ]._operations), "found": len(found or [])}


def main():
    mode, url, mnemonic = sys.argv[1:4]
    result = {"exchange": exchange, "resend": resend, "wsdl": wsdl}[mode](url, mnemonic)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
