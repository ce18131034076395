# Sources of the intent-bus executable's client side (bench and the client
# subcommands), listed here so src/cli owns its own list.
set(CLI_SOURCES
  src/cli/bench.c
  src/cli/bench_http.c
  src/cli/bench_report.c
  src/cli/bench_server.c
  src/cli/latency.c
)
