/* libFuzzer harness: the kvm backend's vGIC state (its message, proto/devices/
 * kvm_vgic.proto) over arbitrary bytes: the first byte picks the VM's vCPUs
 * (1 to 4, with the machine's interrupts), the rest goes to
 * kvm_vgic_state_decode as a restore gives it to kvm's load_irqchip. A state
 * that decodes follows the register plan (kvm_vgic_check passes) and encodes
 * into bytes that decode to it again. The kernel's own checks of the values
 * are not here (no KVM on this host); what reaches it is every register
 * exactly where the plan puts it. Seeds: make_seeds_device_state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "hv/kvm_vgic.h"
#include "machine/machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NR_IRQS ((32 + MACHINE_NUM_SPIS + 31) / 32 * 32)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kvm_vgic_state in, again;
    char err[256];
    if (size < 1)
        return 0;
    uint32_t vcpus = 1 + data[0] % 4;
    if (kvm_vgic_state_decode(data + 1, size - 1, NR_IRQS, vcpus, &in, err, sizeof(err)) != 0) {
        if (in.num_regs != 0)
            abort(); /* a refused state leaves nothing to load */
        return 0;
    }
    if (kvm_vgic_check(&in, err, sizeof(err)) != 0)
        abort();
    struct device_state_bytes bytes;
    if (kvm_vgic_state_encode(&in, &bytes) != 0 ||
        kvm_vgic_state_decode(bytes.data, bytes.len, NR_IRQS, vcpus, &again, err,
                              sizeof(err)) != 0 ||
        again.num_regs != in.num_regs ||
        memcmp(again.regs, in.regs, in.num_regs * sizeof(in.regs[0])) != 0)
        abort();
    device_state_bytes_free(&bytes);
    return 0;
}
