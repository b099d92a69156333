"""A loopback stand-in for Neuronpedia's exports bucket (127.0.0.1, a random port, a daemon thread).

``GET /?list-type=2&prefix=P[&continuation-token=T]`` answers an S3 ListObjectsV2 XML page (two keys a page, so
paging is exercised); ``GET /<key>`` sends the object. ``files`` maps keys to bytes. ``mode`` makes it misbehave:
"garbage_listing" (the listing is plain text), "garbage_batch" (batch files are not gzipped JSON lines),
"500" (every request fails), "slow" (objects trickle out in 4 KiB pieces ``delay_s`` apart, for Cancel)."""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest

PAGE = 2


def batch(entries: list[dict]) -> bytes:
    return gzip.compress("\n".join(json.dumps(e) for e in entries).encode())


def entry(model: str, source: str, index: int, text: str, **kw) -> dict:
    return {"modelId": model, "layer": source, "index": str(index), "description": text,
            "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair", **kw}


class Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode = ""
        self.delay_s = 0.05
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                if outer.mode == "500":
                    return self._send(500, b"internal error", "text/plain")
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/":
                    return self._listing(urllib.parse.parse_qs(url.query))
                key = urllib.parse.unquote(url.path.lstrip("/"))
                if key not in outer.files:
                    return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
                body = b"{this is not json\n" if outer.mode == "garbage_batch" else outer.files[key]
                self._send(200, body, "application/octet-stream")

            def _listing(self, q):
                if outer.mode == "garbage_listing":
                    return self._send(200, b"hello, this is not a listing", "text/plain")
                prefix = q.get("prefix", [""])[0]
                keys = sorted(k for k in outer.files if k.startswith(prefix))
                start = int(q.get("continuation-token", ["0"])[0])
                page, more = keys[start:start + PAGE], start + PAGE < len(keys)
                items = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{len(outer.files[k])}</Size></Contents>"
                                for k in page)
                token = f"<NextContinuationToken>{start + PAGE}</NextContinuationToken>" if more else ""
                xml = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                       f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>neuronpedia-datasets</Name>'
                       f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
                       f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{items}</ListBucketResult>")
                self._send(200, xml.encode(), "application/xml")

            def _send(self, code, body, ctype):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "slow" and code == 200 and self.path != "/" and not self.path.startswith("/?"):
                    for i in range(0, len(body), 4096):
                        self.wfile.write(body[i:i + 4096])
                        self.wfile.flush()
                        time.sleep(outer.delay_s)
                else:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def neuronpedia_exports(monkeypatch):
    from desktop_sae.core.explanations.neuronpedia_fetch import DATASETS_ENV

    server = Server()
    monkeypatch.setenv(DATASETS_ENV, server.url)
    yield server
    server.close()
