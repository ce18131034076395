/* The client subcommands of intent-bus, each an entry point main() calls
 * with argv starting at the subcommand's name. Each returns the process
 * exit code (enum cli_exit in cli/common.h; docs/CLI.md). */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

/* cmd_publish.c */
int cli_publish_main(int argc, char **argv);

/* cmd_listen.c */
int cli_listen_main(int argc, char **argv);

/* cmd_job.c: a worker's calls one at a time, for scripts */
int cli_claim_main(int argc, char **argv);
int cli_fulfill_main(int argc, char **argv);
int cli_fail_main(int argc, char **argv);
int cli_extend_main(int argc, char **argv);

/* cmd_result.c */
int cli_result_main(int argc, char **argv);
int cli_status_main(int argc, char **argv);

/* cmd_kv.c */
int cli_set_main(int argc, char **argv);
int cli_get_main(int argc, char **argv);

/* cmd_admin.c: argv[0] is "admin", argv[1] the admin subcommand */
int cli_admin_main(int argc, char **argv);

/* cmd_schedule.c: argv[0] is "schedule", argv[1] its subcommand */
int cli_schedule_main(int argc, char **argv);

#endif
