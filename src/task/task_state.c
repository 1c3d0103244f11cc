/* task_state.c — the task state machine: which transitions are legal.
 * idle -> running <-> recovering -> offline | finished; paused from any live state. */
#include "task/task_model.h"

bool task_state_is_terminal(task_state s)
{
    return s == TASK_OFFLINE || s == TASK_FINISHED;
}

bool task_transition_allowed(task_state from, task_state to)
{
    if (from == to)
        return false;
    switch (to) {
    case TASK_IDLE: /* a window moved into the future, a restart before StartTime */
        return true;
    case TASK_RUNNING:
        return from == TASK_IDLE || from == TASK_RECOVERING || from == TASK_OFFLINE ||
               from == TASK_PAUSED;
    case TASK_RECOVERING:
        return from == TASK_RUNNING || from == TASK_IDLE || from == TASK_OFFLINE ||
               from == TASK_PAUSED;
    case TASK_OFFLINE:
        return from == TASK_RUNNING || from == TASK_RECOVERING || from == TASK_IDLE ||
               from == TASK_PAUSED;
    case TASK_FINISHED:
        return true;
    case TASK_PAUSED:
        return from == TASK_IDLE || from == TASK_RUNNING || from == TASK_RECOVERING ||
               from == TASK_OFFLINE;
    }
    return false;
}
