#include "machine/psci.h"

static uint64_t ret(int64_t value)
{
    return (uint64_t)value;
}

static int64_t psci_features(uint32_t function)
{
    switch (function) {
    case PSCI_VERSION: case PSCI_CPU_ON_64: case PSCI_CPU_OFF: case PSCI_AFFINITY_INFO_64:
    case PSCI_MIGRATE_INFO_TYPE: case PSCI_SYSTEM_OFF: case PSCI_SYSTEM_RESET:
    case PSCI_FEATURES:
        return PSCI_RET_SUCCESS;
    default:
        return PSCI_RET_NOT_SUPPORTED;
    }
}

enum hv_call_result psci_call(const uint64_t args[4], uint64_t *result)
{
    uint32_t function = (uint32_t)args[0];
    switch (function) {
    case PSCI_VERSION: *result = 0x00010000; break; /* 1.0 */
    case PSCI_MIGRATE_INFO_TYPE: *result = 2; break; /* no Trusted OS to migrate */
    case PSCI_FEATURES: *result = ret(psci_features((uint32_t)args[1])); break;
    case PSCI_AFFINITY_INFO_64: /* only CPU 0 exists and it is on */
        *result = ret(args[1] == 0 ? 0 : PSCI_RET_INVALID_PARAMS);
        break;
    case PSCI_CPU_ON_64:
        *result = ret(args[1] == 0 ? PSCI_RET_ALREADY_ON : PSCI_RET_INVALID_PARAMS);
        break;
    case PSCI_SYSTEM_OFF: *result = 0; return HV_CALL_SYSTEM_OFF;
    case PSCI_SYSTEM_RESET: *result = 0; return HV_CALL_SYSTEM_RESET;
    case PSCI_CPU_OFF: /* the last CPU going off is a system off */
        *result = 0;
        return HV_CALL_SYSTEM_OFF;
    default: *result = ret(PSCI_RET_NOT_SUPPORTED); break;
    }
    return HV_CALL_CONTINUE;
}
