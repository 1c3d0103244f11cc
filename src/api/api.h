/* api.h — the HTTP front end: one libmicrohttpd server that routes to the dialects
 * (native REST now; Tencent and Alibaba later) and answers /healthz once ready. */
#ifndef FERRY_API_H
#define FERRY_API_H

#include "common/config.h"

/* Binds cfg->listen and starts the server threads. Returns 0, or -1 with a message. */
int api_start(const config *cfg, char *err, size_t errlen);
/* /healthz answers 200 only after this (the store is open and tasks are resumed). */
void api_set_ready(int ready);
void api_stop(void);
/* Registers each dialect's callback payload format with the notifier (before tasks change). */
void api_register_callback_formats(void);

#endif
