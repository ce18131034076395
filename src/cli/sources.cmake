# Sources of intent-bus-client, the client side (the client
# subcommands) beside main.c and usage.c, listed here so src/cli owns its own list.
set(CLI_SOURCES
  src/cli/common.c
  src/cli/credentials.c
  src/cli/wait_result.c
  src/cli/cmd_publish.c
  src/cli/publish_batch.c
  src/cli/cmd_job.c
  src/cli/cmd_result.c
  src/cli/cmd_kv.c
  src/cli/cmd_admin.c
  src/cli/cmd_schedule.c
  src/cli/runner.c
  src/cli/lease_keeper.c
  src/cli/listen_job.c
  src/cli/listener.c
  src/cli/cmd_listen.c
)
