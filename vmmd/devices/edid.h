/* EDID 1.4 base blocks (VESA E-EDID) for the virtual displays of virtio-gpu:
 * one preferred mode with reduced-blanking timings, so a guest's DRM driver
 * offers the host window's size as the monitor's native mode. */
#ifndef IGNITION_EDID_H
#define IGNITION_EDID_H

#include <stdbool.h>
#include <stdint.h>

#define EDID_BLOCK_SIZE 128
/* A detailed timing descriptor holds active sizes in 12 bits; Linux ignores
 * descriptors for modes below 64 pixels either way. */
#define EDID_MIN_ACTIVE 64u
#define EDID_MAX_ACTIVE 4095u

/* One display mode as a detailed timing descriptor states it. */
struct edid_timing {
    uint32_t pixel_clock_10khz; /* what the descriptor stores (16 bits) */
    uint32_t hactive, hfront, hsync, hback;
    uint32_t vactive, vfront, vsync, vback;
    uint32_t refresh_hz; /* the rate the timings were computed for */
};

/* Timings for width x height after VESA CVT reduced blanking at 60 Hz, or at
 * the highest lower rate whose pixel clock a descriptor can still state (very
 * large modes); small modes get a longer back porch to keep the clock at
 * 10 MHz. Returns false for sizes outside EDID_MIN_ACTIVE..EDID_MAX_ACTIVE. */
bool edid_timing_for(uint32_t width, uint32_t height, struct edid_timing *t);

/* Writes a base block (no extensions) for a display whose preferred mode is
 * width x height; serial tells several displays apart. Returns false, leaving
 * out untouched, when edid_timing_for refuses the size. */
bool edid_generate(uint32_t width, uint32_t height, uint32_t serial,
                   uint8_t out[EDID_BLOCK_SIZE]);

#endif
