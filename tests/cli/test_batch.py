"""`intent-bus publish --batch FILE|-` (JSON lines, 100 per request, a
result line per input line) and `intent-bus listen --concurrency N` fed by
batch claims (docs/PROTOCOL-EXTENSIONS.md "Batch publish and claim")."""

import json
import time

import pytest

from conftest import stop_listener


@pytest.fixture
def listeners():
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def lines_of(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def test_batch_from_stdin_with_bad_lines(cli, server, ns):
    text = "\n".join([
        json.dumps({"goal": "a", "payload": {"n": 1}}),
        "",                                   # blank: skipped, still counted
        "{not json",
        json.dumps({"goal": "", "payload": 1}),
        json.dumps({"goal": "b", "payload": [2], "namespace": ns, "priority": 7}),
        "[1, 2]",
    ]) + "\n"
    done = cli.run("publish", "--batch", "-", "-n", ns, input=text)
    assert done.returncode == 1, done.stderr
    out = lines_of(done.stdout)
    assert [x["line"] for x in out] == [1, 3, 4, 5, 6]
    assert out[0]["status"] == "published" and out[0]["namespace"] == ns
    assert out[1]["error"]["code"] == "invalid_json"
    assert out[2]["error"]["code"] == "invalid_goal"
    assert out[3]["id"] and out[3]["namespace"] == ns
    assert out[4]["error"]["code"] == "invalid_json"
    assert server.result(out[0]["id"])["status"] == "open"
    assert server.result(out[3]["id"])["status"] == "open"


def test_batch_file_of_250_lines(cli, server, ns, tmp_path):
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps({"goal": "g", "payload": {"i": i},
                                        "idempotency_key": f"{ns}-{i}"}) + "\n"
                            for i in range(250)))
    done = cli.run("publish", "--batch", str(path), "-n", ns)
    assert done.returncode == 0, done.stderr
    out = lines_of(done.stdout)
    assert [x["line"] for x in out] == list(range(1, 251))
    ids = [x["id"] for x in out]
    assert len(set(ids)) == 250
    again = cli.run("publish", "--batch", str(path), "-n", ns)  # replays: the same ids
    assert again.returncode == 0, again.stderr
    replay = lines_of(again.stdout)
    assert [x["id"] for x in replay] == ids and all(x["replayed"] for x in replay)


def test_batch_usage_errors(cli, tmp_path):
    assert cli.run("publish", "--batch", "-", "g", "{}", input="").returncode == 2
    assert cli.run("publish", "g").returncode == 2
    missing = cli.run("publish", "--batch", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot open" in missing.stderr


def test_listen_concurrency_fed_by_batch_claims(cli, server, ns, tmp_path, listeners):
    spans = tmp_path / "spans"
    command = f'start=$(date +%s.%N); sleep 1; echo "$start $(date +%s.%N)" >> {spans}; cat'
    text = "".join(json.dumps({"goal": "par", "payload": {"i": i}}) + "\n" for i in range(10))
    ids = [x["id"] for x in lines_of(cli.ok("publish", "--batch", "-", "-n", ns, input=text))]
    began = time.monotonic()
    listeners.append(cli.listen("par", command, "-n", ns, "--concurrency", "10"))
    for intent_id in ids:
        body = server.wait_for(intent_id)
        assert body["status"] == "fulfilled"
    assert time.monotonic() - began < 6  # one after another would take 10 s
    rows = [tuple(map(float, line.split())) for line in spans.read_text().splitlines()]
    assert len(rows) == 10
    # at least 5 ran at once: the first batch claim took several jobs
    first_end = min(end for _, end in rows)
    assert sum(1 for start, _ in rows if start < first_end) >= 5
    code, err = stop_listener(listeners[0])
    assert code == 0, err
