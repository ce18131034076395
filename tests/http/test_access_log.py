"""The access log: each HTTP thread gathers its lines and writes them whole,
at the latest when it next waits (src/serve/access_log.c). These tests
check what an operator tailing stderr sees: a request's line while the
server idles, and whole, well-formed lines from concurrent requests."""

import http.client
import re
import secrets
import threading

LINE = re.compile(r'^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(info|error) msg=request '
                  r'client="127\.0\.0\.1" method=[A-Z]+ path="[^"]*" status=\d{3} '
                  r'duration_ms=\d+\.\d{3} who="[^"]*"$')


def get_status(server, intent_id):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", f"/status/{intent_id}", headers={"X-API-KEY": server.key})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_request_is_logged_while_the_server_idles(server_factory):
    server = server_factory()
    intent_id = secrets.token_hex(16)
    assert get_status(server, intent_id) == 404
    # Nothing else happens: the line must come out without more traffic
    # or a shutdown (the bound is generous; it arrives in microseconds).
    lines = server.log_lines(until=lambda lines: any(intent_id in l for l in lines), timeout=5)
    mine = [line for line in lines if intent_id in line]
    assert len(mine) == 1, lines
    assert LINE.match(mine[0]), mine[0]
    assert 'status=404' in mine[0] and 'who="main"' in mine[0]


def test_concurrent_requests_make_one_whole_line_each(server_factory):
    server = server_factory()
    ids = [secrets.token_hex(16) for _ in range(400)]
    statuses = []

    def ask(part):
        for intent_id in part:
            statuses.append(get_status(server, intent_id))

    threads = [threading.Thread(target=ask, args=(ids[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [404] * len(ids)
    wanted = set(ids)

    def all_logged(lines):
        return wanted <= {line[line.find("/status/") + 8:][:32] for line in lines}

    lines = server.log_lines(until=all_logged, timeout=10)
    assert all_logged(lines), f"{len(lines)} lines"
    mine = [line for line in lines if "/status/" in line]
    assert len(mine) == len(ids)
    for line in mine:
        assert LINE.match(line), line
