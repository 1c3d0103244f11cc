/* rebind_resolver.c — an LD_PRELOAD shim for the DNS rebinding tests: a name
 * "a<IP>.b<IP>.rebind.test" (dots of each IPv4 address written as '-') resolves to its first
 * address once, then to its second at every later lookup, as a rebinding DNS server with
 * TTL 0 answers: the first lookup (a check) sees an allowed address, any lookup after it a
 * refused one. Every other name goes to the real getaddrinfo. Each answer is told on
 * stderr ("rebind_resolver: NAME -> IP (answer N, ...)"). */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SUFFIX ".rebind.test"

static atomic_int answers;

/* The n-th label's address (0: after 'a', 1: after 'b') of name into ip; 0 or -1. */
static int label_ip(const char *name, int n, char ip[INET_ADDRSTRLEN])
{
    const char *p = name;
    if (n == 1 && !(p = strstr(name, ".b")))
        return -1;
    p += n == 1 ? 2 : 1;
    size_t len = strcspn(p, ".");
    if (len == 0 || len >= INET_ADDRSTRLEN)
        return -1;
    memcpy(ip, p, len);
    ip[len] = '\0';
    for (char *c = ip; *c; c++)
        if (*c == '-')
            *c = '.';
    return 0;
}

static int answer(const char *ip, const char *service, const struct addrinfo *hints,
                  struct addrinfo **res)
{
    if (hints && hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET)
        return EAI_ADDRFAMILY;
    /* one block, as glibc allocates it: its freeaddrinfo frees it whole */
    struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in));
    if (!ai)
        return EAI_MEMORY;
    struct sockaddr_in *sa = (struct sockaddr_in *)(ai + 1);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(service ? (uint16_t)atoi(service) : 0);
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        free(ai);
        return EAI_NONAME;
    }
    ai->ai_family = AF_INET;
    ai->ai_socktype = hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
    ai->ai_protocol = hints && hints->ai_protocol     ? hints->ai_protocol
                      : ai->ai_socktype == SOCK_DGRAM ? IPPROTO_UDP
                                                      : IPPROTO_TCP;
    ai->ai_addrlen = sizeof(*sa);
    ai->ai_addr = (struct sockaddr *)sa;
    *res = ai;
    return 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    size_t n = node ? strlen(node) : 0, s = strlen(SUFFIX);
    if (n > s && strcmp(node + n - s, SUFFIX) == 0 && node[0] == 'a') {
        int k = atomic_fetch_add(&answers, 1);
        char ip[INET_ADDRSTRLEN];
        if (label_ip(node, k == 0 ? 0 : 1, ip) != 0)
            return EAI_NONAME;
        fprintf(stderr, "rebind_resolver: %s -> %s (answer %d, family %d, service %s)\n", node, ip,
                k + 1, hints ? hints->ai_family : -1, service ? service : "-");
        return answer(ip, service, hints, res);
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    return real ? real(node, service, hints, res) : EAI_FAIL;
}
