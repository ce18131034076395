-- wrk script: full job cycles against a running bus, publish -> claim -> fulfil.
-- docs/BENCHMARKS.md ("Yardstick: wrk and nginx") has the commands.
--
--   BUS_KEY=secret wrk -t2 -c40 -d20s -s bench/full_cycle.lua http://127.0.0.1:PORT
--
-- Every response decides the next request: a publish is followed by a
-- claim, a claim that got a job by the fulfil of that job, a claim that got
-- nothing (204) by another claim, and a fulfil by the next publish. wrk
-- shares one Lua state between the connections of a thread and asks for a
-- request when a socket is writable, not necessarily on the connection that
-- just answered, so the next requests wait in a queue per thread: every
-- response adds one and every request takes one, so each connection keeps
-- exactly one cycle's step in flight. With -c equal to -t (one connection
-- per thread) each connection runs its own cycles in order.
--
-- Any status other than 200/201/204 is counted and the step is retried from
-- a fresh publish, so errors cannot inflate the job count. done() prints
-- jobs/s (fulfils answered 200), which is what to compare, not wrk's
-- requests/s.

local key = os.getenv("BUS_KEY") or "secret"
local namespace = os.getenv("BUS_NAMESPACE") or "wrk"
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    queue = {}
    head, tail = 1, 0
    jobs, empties, failures = 0, 0, 0
    headers = { ["X-API-KEY"] = key, ["Content-Type"] = "application/json" }
    publish_body = string.format(
        '{"goal":"bench","namespace":"%s","payload":{"job":1,"from":"wrk"}}', namespace)
    claim_path = "/claim?goal=bench&namespace=" .. namespace
end

local function push(kind, id, token)
    tail = tail + 1
    queue[tail] = { kind = kind, id = id, token = token }
end

function request()
    local step
    if head <= tail then
        step = queue[head]
        queue[head] = nil
        head = head + 1
    else
        step = { kind = "publish" }
    end
    if step.kind == "publish" then
        return wrk.format("POST", "/intent", headers, publish_body)
    elseif step.kind == "claim" then
        return wrk.format("POST", claim_path, headers, "")
    end
    return wrk.format("POST", "/fulfill/" .. step.id, headers,
                      string.format('{"claim_token":"%s"}', step.token))
end

-- Which request a response answers is told by its body: a claim's 200 has a
-- claim_token, a fulfil's has "fulfilled", a publish's "published".
function response(status, hdrs, body)
    if status == 204 then
        empties = empties + 1
        push("claim")
    elseif status == 200 or status == 201 then
        local token = string.match(body, '"claim_token":"([^"]+)"')
        if token then
            push("fulfil", string.match(body, '"id":"([^"]+)"'), token)
        elseif string.find(body, '"fulfilled"', 1, true) then
            jobs = jobs + 1
            push("publish")
        elseif string.find(body, '"published"', 1, true) then
            push("claim")
        else
            failures = failures + 1
            push("publish")
        end
    else
        failures = failures + 1
        push("publish")
    end
end

function done(summary, latency, requests)
    local total_jobs, total_empty, total_failed = 0, 0, 0
    for _, thread in ipairs(threads) do
        total_jobs = total_jobs + thread:get("jobs")
        total_empty = total_empty + thread:get("empties")
        total_failed = total_failed + thread:get("failures")
    end
    local seconds = summary.duration / 1e6
    io.write(string.format("full cycles: %d jobs in %.2f s = %.1f jobs/s; %d empty claims; %d failed\n",
                           total_jobs, seconds, total_jobs / seconds, total_empty, total_failed))
end
