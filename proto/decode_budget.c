#include "decode_budget.h"

#include <stdlib.h>

static void *budget_alloc(void *data, size_t size)
{
    struct decode_budget *budget = data;
    if (size > budget->left) {
        budget->exceeded = true;
        return NULL;
    }
    budget->left -= size;
    return malloc(size);
}

static void budget_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

void decode_budget_init(struct decode_budget *budget, size_t limit)
{
    *budget = (struct decode_budget){
        .left = limit,
        .allocator = {.alloc = budget_alloc, .free = budget_free, .allocator_data = budget},
    };
}
