/* virtio-gpu (virtio 1.2 §5.7), 2D: guest resources whose pixels live in
 * shared memory objects that viewers map (display.h), scanouts, a hardware
 * cursor per scanout, EDID, and display modes the host can change. Commands
 * run synchronously on the notifying vCPU, so a fenced command is complete
 * when its response is in the used ring. */
#ifndef IGNITION_VIRTIO_GPU_H
#define IGNITION_VIRTIO_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "devices/display.h"
#include "virtqueue.h"

#define VIRTIO_GPU_DEFAULT_WIDTH 1280u /* fbcon's 160x50 with the 8x16 font */
#define VIRTIO_GPU_DEFAULT_HEIGHT 800u
#define VIRTIO_GPU_DEFAULT_MAX_HOST_BYTES (256ull << 20)
#define VIRTIO_GPU_MAX_DIMENSION 16384u /* of a resource or a mode, either way */
#define VIRTIO_GPU_MAX_RESOURCES 512u   /* each holds a descriptor and a mapping */

struct virtio_gpu_options {
    unsigned num_scanouts;   /* 1..DISPLAY_MAX_SCANOUTS; 0 means 1 */
    uint32_t width, height;  /* every scanout's initial mode; 0 means the default */
    /* Host memory the guest's resources may take: their shared objects and
     * backing lists. 0 means the default. */
    uint64_t max_host_bytes;
    const struct display_ops *display; /* NULL: nobody is told */
    void *display_opaque;
    /* For a restore: the snapshot's guest RAM as it was saved, read-only,
     * with the device's RAM's address and size, kept as long as the device
     * (NULL: none). virtio_gpu_load then reads in at once only what a
     * scanout or cursor shows, and the other resources from here at their
     * first use. */
    const struct guest_ram *saved_ram;
};

/* opts may be NULL (all defaults). Scanout 0 starts enabled, the others once
 * the host requests a mode for them. Returns NULL on a bad option. */
struct device *virtio_gpu_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                 const struct virtio_gpu_options *opts);

/* The host's display changed size (any thread): scanout_id now reports
 * width x height, enabled, and the guest is told through the display event
 * and a config interrupt. 0, also when nothing changed; -EINVAL for a scanout
 * or size out of range. */
int virtio_gpu_request_mode(struct device *dev, unsigned scanout_id, uint32_t width,
                            uint32_t height);

/* One range of guest memory backing a resource (RESOURCE_ATTACH_BACKING's
 * mem entries, in order). */
struct virtio_gpu_backing_entry {
    uint64_t gpa;
    uint32_t len;
};

/* ---- snapshot state ----------------------------------------------------------------- */

/* The device's own state, variable-sized, inside its transport's as its own
 * message (proto/devices/virtio_gpu.proto): the transport's load checks its
 * registers and queues, then this loads (and the transport resets the device
 * when it fails). */

/* Backing entries of all resources together. Linux attaches about one per
 * page of each framebuffer (a 4K desktop, double-buffered: ~16 Ki); this allows
 * 2 GiB of single pages while bounding what a decoder allocates. */
#define VIRTIO_GPU_STATE_MAX_BACKING (1u << 19)

struct virtio_gpu_resource_state {
    uint32_t id, format, width, height;
    uint32_t num_backing; /* 0: no backing attached */
    struct virtio_gpu_backing_entry *backing;
};

struct virtio_gpu_cursor_state {
    uint32_t resource_id; /* 0: hidden */
    uint32_t hot_x, hot_y;
    uint32_t x, y; /* as the guest sent them (Linux's int32 bit patterns) */
};

struct virtio_gpu_scanout_state {
    bool enabled;          /* the mode reported to the guest */
    uint32_t width, height;
    uint32_t resource_id;  /* what it shows; 0: nothing */
    struct display_rect rect;
    struct virtio_gpu_cursor_state cursor;
};

struct virtio_gpu_state {
    unsigned num_scanouts;
    uint32_t events_read;
    struct virtio_gpu_scanout_state scanouts[DISPLAY_MAX_SCANOUTS];
    size_t num_resources;
    struct virtio_gpu_resource_state *resources; /* in creation order */
};

/* Fills out (any thread). Release it with virtio_gpu_state_free. 0 or -ENOMEM. */
int virtio_gpu_save(struct device *dev, struct virtio_gpu_state *out);

/* Replaces the device's resources, scanouts, cursors and modes with in (any
 * thread; meant for a freshly created device before the guest runs). Every
 * resource gets a new shared object whose pixels are read back from its
 * backing in guest RAM: a full transfer from offset 0, which assumes the
 * backing still holds what was last transferred (true of Linux, whose fbdev
 * and DRM dumb buffers are the shadow copies it transfers from); with
 * saved_ram, a resource nothing shows is read at its first use, from there.
 * Scanouts are
 * reported through scanout_changed, cursors through cursor_image/cursor_move.
 * Checked like guest commands: on -EINVAL (inconsistent or out of range) or
 * -ENOMEM the device is left with no resources. */
int virtio_gpu_load(struct device *dev, const struct virtio_gpu_state *in);

void virtio_gpu_state_free(struct virtio_gpu_state *state);

/* The state as its message. encode refuses counts beyond the bounds (-EINVAL);
 * decode what does not decode or breaks a bound (-EINVAL, reason in err;
 * nothing to free). A decoded state is freed with virtio_gpu_state_free. */
int virtio_gpu_state_encode(const struct virtio_gpu_state *in, struct device_state_bytes *out);
int virtio_gpu_state_decode(const uint8_t *state, size_t len, struct virtio_gpu_state *out,
                            char *err, size_t err_len);

/* ---- for tests and fuzzing ---------------------------------------------------------- */

struct virtio_gpu;

struct virtio_gpu *virtio_gpu_of(struct device *dev);

/* One control-queue chain, as a notification runs it: reads the request,
 * carries it out, writes the response. Returns the bytes written into the
 * chain, or -1 when it has no room for a response header (the device then
 * needs a reset). */
int virtio_gpu_handle_control(struct virtio_gpu *gpu, const struct virtq_chain *chain);

/* One cursor-queue chain. Returns the bytes written: a response header when
 * the chain has room for one (Linux gives none), else 0. */
uint32_t virtio_gpu_handle_cursor(struct virtio_gpu *gpu, const struct virtq_chain *chain);

/* Host memory the guest's resources take now (counted against max_host_bytes). */
uint64_t virtio_gpu_host_bytes(const struct virtio_gpu *gpu);

#endif
