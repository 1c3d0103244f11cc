/* src_node.c — the calls through a source node's descriptor (src_node.h): read() starts
 * from a cleared result, free() closes first. */
#include "engine/src_node.h"

#include <stdlib.h>

int src_node_open(src_node *n, char *why, size_t len)
{
    if (len)
        why[0] = '\0';
    return n->ops->open(n, why, len);
}

src_status src_node_read(src_node *n, src_read *rd)
{
    rd->kind = -1;
    rd->until_ms = 0;
    rd->attempt = 0;
    rd->failed = false;
    rd->ev.set = false;
    rd->ev.alarm = NULL;
    rd->ev.error[0] = '\0';
    return n->ops->read(n, rd);
}

void src_node_close(src_node *n)
{
    n->ops->close(n);
}

void src_node_free(src_node *n)
{
    if (!n)
        return;
    n->ops->close(n);
    if (n->ops->free)
        n->ops->free(n);
    free(n);
}
