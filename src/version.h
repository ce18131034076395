/* Versions this build speaks. */
#ifndef VERSION_H
#define VERSION_H

#define INTENT_PROTOCOL_VERSION "2.1"
/* The server API version /health reports: the reference server's, whose
 * protocol this one implements. */
#define INTENT_BUS_API_VERSION "7.61"
#define INTENT_BUS_VERSION "0.1.0"

#endif
