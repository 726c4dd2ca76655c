/* PSCI 1.0 (Arm DEN 0022) for one vCPU: what the emu backend forwards from HVC. */
#ifndef IGNITION_PSCI_H
#define IGNITION_PSCI_H

#include <stdint.h>

#include "hv/hv.h"

#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_SUSPEND_64 0xc4000001u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON_64 0xc4000003u
#define PSCI_AFFINITY_INFO_64 0xc4000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_FEATURES 0x8400000au

#define PSCI_RET_SUCCESS 0
#define PSCI_RET_NOT_SUPPORTED (-1)
#define PSCI_RET_INVALID_PARAMS (-2)
#define PSCI_RET_ALREADY_ON (-4)

enum hv_call_result psci_call(const uint64_t args[4], uint64_t *result);

#endif
