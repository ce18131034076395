/* Versions this build speaks. */
#ifndef VERSION_H
#define VERSION_H

#define INTENT_PROTOCOL_VERSION "2.1"
/* The server API version /health reports: the reference server's, whose
 * protocol this one implements. */
#define INTENT_BUS_API_VERSION "7.61"
#define INTENT_BUS_VERSION "1.0.0"

/* The two executables, installed side by side: the server (and the front
 * door every command goes through) and the client side it runs for every
 * other command, so the server never maps libcurl (docs/ARCHITECTURE.md). */
#define INTENT_BUS_EXECUTABLE "intent-bus"
#define INTENT_BUS_CLIENT_EXECUTABLE "intent-bus-client"

#endif
