# Sources of `intent-bus bench`, the load generator: a client of the bus
# like any other, built into intent-bus-client beside the client commands.
set(BENCH_SOURCES
  src/bench/bench.c
  src/bench/bench_options.c
  src/bench/bench_engine.c
  src/bench/bench_loop.c
  src/bench/bench_agent.c
  src/bench/bench_worker.c
  src/bench/bench_json.c
  src/bench/bench_http.c
  src/bench/bench_report.c
  src/bench/bench_server.c
  src/bench/bench_nodes.c
  src/bench/bench_cpu.c
  src/bench/latency.c
)
