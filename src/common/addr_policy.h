/* addr_policy.h — which network addresses a tenant's URL may reach: loopback, private,
 * link-local, multicast and the other special ranges only when allow-listed by CIDR. */
#ifndef FERRY_COMMON_ADDR_POLICY_H
#define FERRY_COMMON_ADDR_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* The directions a policy has, each with its config key (source_allow, ...). */
typedef enum { ADDR_SOURCE = 0, ADDR_DESTINATION, ADDR_CALLBACK } addr_direction;

/* The special range addr (AF_INET or AF_INET6, network order) is in: "loopback",
 * "private", "link-local", ...; NULL for an ordinary public address. */
const char *addr_special_kind(int family, const void *addr);
/* Whether addr may be reached: it is public, or in allow ("CIDR,CIDR ..."). */
bool addr_allowed(int family, const void *addr, const char *allow);
/* A socket address about to be connected to (libcurl's OPENSOCKETFUNCTION): true when it
 * may be; false with why ("refused by the address policy: ... not in key"). */
struct sockaddr;
bool addr_sockaddr_allowed(const struct sockaddr *sa, const char *allow, const char *key, char *why,
                           size_t whylen);
/* Whether every item of a CIDR list parses. */
bool addr_list_valid(const char *allow);

/* host of url (scheme://[userinfo@]host[:port]/...), without brackets for IPv6; false
 * when the URL has no host. *port is 0 when the URL names none. */
bool addr_url_host(const char *url, char *host, size_t len, int *port);

/* Resolves host once and checks every address it has (so that a name with one public and
 * one private address is refused). 0 with ip set to the first address as text (connect
 * to it: no second lookup); -1 with why naming the address, its range and key (the
 * direction's config key), or the lookup failure. */
int addr_resolve_checked(const char *host, const char *allow, const char *key, char *ip,
                         size_t iplen, char *why, size_t whylen);
/* The same for a host that must be an IP literal or "localhost" (no lookup): 1 when host
 * is a name to resolve later, 0 when allowed, -1 with why when refused. */
int addr_literal_checked(const char *host, const char *allow, const char *key, char *why,
                         size_t whylen);

#endif
