"""A FitRoom client as Python teams write one: `requests`, files as multipart, hd_mode as a
Python bool (sent as "True"), polling every second-ish until the task ends.

The contract suite starts it once with --serve and writes one JSON command a line on stdin,
each with an "id"; each is run on a thread of its own (flows poll concurrently) and answered
by one JSON line {"id", "result"} or {"id", "error"}. A command:
  {"op": "create", "base", "key", "files": {field: path}, "fields": {...}}
  {"op": "get", "base", "key", "task_id"}
  {"op": "check", "base", "key", "kind": "model" | "clothes", "path"}
  {"op": "run", "base", "key", "files", "fields", "interval_s", "timeout_s"}: create, poll to the
      end, download; answers every status seen and the downloaded bytes' sha256.
Each HTTP answer is {"status", "headers", "json"} (json null when the body is not JSON).
"""
import hashlib
import json
import sys
import threading
import time

import requests

TIMEOUT_S = 30


def answer(response):
    try:
        body = response.json()
    except ValueError:
        body = None
    return {"status": response.status_code, "headers": dict(response.headers), "json": body}


def create(base, key, files, fields):
    opened = {name: open(path, "rb") for name, path in files.items()}
    try:
        return requests.post(
            f"{base}/api/tryon/v2/tasks",
            headers={"X-API-KEY": key},
            files=opened,
            data=fields,
            timeout=TIMEOUT_S,
        )
    finally:
        for handle in opened.values():
            handle.close()


def get(base, key, task_id):
    return requests.get(
        f"{base}/api/tryon/v2/tasks/{task_id}", headers={"X-API-KEY": key}, timeout=TIMEOUT_S
    )


def check(base, key, kind, path):
    with open(path, "rb") as handle:
        return requests.post(
            f"{base}/api/tryon/input_check/v1/{kind}",
            headers={"X-API-KEY": key},
            files={"input_image": handle},
            timeout=TIMEOUT_S,
        )


def run(command):
    fields = dict(command.get("fields", {}))
    if "hd_mode" in fields and isinstance(fields["hd_mode"], bool):
        # What a Python form sends for a bool: str(True) == "True".
        fields["hd_mode"] = str(fields["hd_mode"])
    created = create(command["base"], command["key"], command["files"], fields)
    if created.status_code != 200:
        return {"created": answer(created)}
    task_id = created.json()["task_id"]
    seen = []
    deadline = time.monotonic() + command.get("timeout_s", 60)
    while True:
        polled = get(command["base"], command["key"], task_id)
        task = polled.json()
        seen.append(task)
        if task["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(command.get("interval_s", 1))
    result = {"created": answer(created), "seen": seen}
    if task["status"] == "COMPLETED":
        download = requests.get(task["download_signed_url"], timeout=TIMEOUT_S)
        result["download"] = {
            "status": download.status_code,
            "content_type": download.headers.get("Content-Type"),
            "content_length": download.headers.get("Content-Length"),
            "sha256": hashlib.sha256(download.content).hexdigest(),
            "bytes": len(download.content),
        }
    return result


def execute(command):
    op = command["op"]
    if op == "create":
        return answer(create(command["base"], command["key"], command["files"], command.get("fields", {})))
    if op == "get":
        return answer(get(command["base"], command["key"], command["task_id"]))
    if op == "check":
        return answer(check(command["base"], command["key"], command["kind"], command["path"]))
    if op == "run":
        return run(command)
    raise ValueError(f"unknown op {op}")


def serve():
    write = threading.Lock()

    def handle(command):
        try:
            reply = {"id": command["id"], "result": execute(command)}
        except Exception as error:  # the suite shows it; the session goes on
            reply = {"id": command["id"], "error": f"{type(error).__name__}: {error}"}
        with write:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()

    for line in sys.stdin:
        if line.strip():
            threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()


def main():
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        print(json.dumps(execute(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
