"""One tuspy upload against a running upspool, driven by the Rust tests in
tests/e2e/tus_clients.rs. tuspy is pinned (.ci/run: pip install tuspy==1.1.0).

    python3 tests/e2e/tus/tuspy_client.py '<json>'

The JSON names `endpoint`, `file`, `chunk_size` (bytes; absent: tuspy's
default, the whole file in one PATCH), `checksum` ("": none; "sha1":
tuspy's `upload_checksum=True`, sha1 of each PATCH; "sha1-corrupt": the
same header with the digest of other bytes, to see it refused) and
`timeout` (seconds; the process ends itself past it) and `async` (true:
tuspy's AsyncUploader over aiohttp instead of the Uploader over requests). It prints one JSON line: {ok, version, url, error,
requests}; every request is listed with its method, URL, status, the tus
headers of its answer and the body of a refusal.
"""

import asyncio
import faulthandler
import hashlib
import json
import sys
from importlib.metadata import version

import aiohttp
import requests
from tusclient import client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

spec = json.loads(sys.argv[1])
# A hard bound: tuspy's requests carry no timeout of their own.
faulthandler.dump_traceback_later(spec.get("timeout", 120), exit=True)

TUS_HEADERS = [
    "Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable",
]
log = []
send = requests.sessions.Session.send


def recording_send(self, request, **kwargs):
    entry = {
        "method": request.method,
        "url": request.url,
        "checksum": request.headers.get("Upload-Checksum"),
        "status": None,
    }
    log.append(entry)
    response = send(self, request, **kwargs)
    entry["status"] = response.status_code
    entry["headers"] = {h: response.headers[h] for h in TUS_HEADERS if h in response.headers}
    if response.status_code >= 300:
        entry["body"] = response.text
    return response


requests.sessions.Session.send = recording_send


async def on_request_end(session, context, params):
    response = params.response
    log.append({
        "method": params.method,
        "url": str(params.url),
        "checksum": params.headers.get("Upload-Checksum"),
        "status": response.status,
        "headers": {h: response.headers[h] for h in TUS_HEADERS if h in response.headers},
    })


# The same record for the AsyncUploader: every aiohttp session it opens
# gets a trace of its requests.
trace = aiohttp.TraceConfig()
trace.on_request_end.append(on_request_end)
session_init = aiohttp.ClientSession.__init__


def traced_session_init(self, *args, **kwargs):
    kwargs["trace_configs"] = [*kwargs.get("trace_configs", []), trace]
    session_init(self, *args, **kwargs)


aiohttp.ClientSession.__init__ = traced_session_init

if spec.get("checksum") == "sha1-corrupt":
    Uploader.CHECKSUM_ALGORITHM_PAIR = ("sha1", lambda data: hashlib.sha1(data + b"!"))

tus = client.TusClient(spec["endpoint"])
kwargs = {
    "metadata": {"filename": "tuspy.bin", "filetype": "application/octet-stream"},
    "upload_checksum": bool(spec.get("checksum")),
}
if spec.get("chunk_size"):
    kwargs["chunk_size"] = spec["chunk_size"]
result = {"ok": True, "version": version("tuspy"), "url": None, "error": None}
try:
    if spec.get("async"):
        uploader = tus.async_uploader(spec["file"], **kwargs)
        asyncio.run(uploader.upload())
    else:
        uploader = tus.uploader(spec["file"], **kwargs)
        uploader.upload()
except (TusCommunicationError, TusUploadFailed) as err:
    result.update(ok=False, error=f"{type(err).__name__}: {err} (status {err.status_code}, {err.response_content!r})")
result["url"] = uploader.url
result["requests"] = log
print(json.dumps(result))
sys.exit(0 if result["ok"] else 1)
