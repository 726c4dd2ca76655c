/* Writes the seeds of fuzz_gicv3_state, fuzz_pl011_state and fuzz_pl031_state:
 * states saved from devices programmed the way Linux programs them, so that
 * mutations start from values that load and reach what follows.
 *   make_seeds_device_state SEEDS_DIR   (tests/fuzz/seeds) */
#include <stdio.h>
#include <stdlib.h>

#include "devices/gicv3.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/sysreg.h"
#include "machine/machine.h"

#define GICD_CTLR 0x0000
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ISPENDR 0x0200
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICR_WAKER 0x0014
#define GICR_SGI 0x10000
#define TIMER_PPI 27
#define UART_SPI 33
#define BLK_SPI 40

static const char *seeds_dir;

static void write_seed(const char *harness, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz_%s/%s", seeds_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- GIC ---------------------------------------------------------------------- */

static void gic_enable(struct gicv3 *gic, unsigned intid, uint8_t prio)
{
    if (intid < 32) {
        gicv3_redist_write(gic, GICR_SGI + GICD_IPRIORITYR + intid, 1, prio);
        gicv3_redist_write(gic, GICR_SGI + GICD_ISENABLER, 4, 1u << intid);
    } else {
        gicv3_dist_write(gic, GICD_IPRIORITYR + intid, 1, prio);
        gicv3_dist_write(gic, GICD_ISENABLER + intid / 32 * 4, 4, 1u << (intid % 32));
    }
}

/* gic_dist_init, gic_cpu_init and the timer and UART interrupts requested. */
static struct gicv3 *gic_as_linux(void)
{
    struct gicv3 *gic = gicv3_create(MACHINE_NUM_SPIS);
    if (!gic)
        exit(1);
    gicv3_dist_write(gic, GICD_CTLR, 4, (1u << 4) | (1u << 1));
    gicv3_redist_write(gic, GICR_WAKER, 4, 0);
    gicv3_redist_write(gic, GICR_SGI + GICD_IGROUPR, 4, 0xffffffffu);
    for (unsigned i = 1; i < (32 + MACHINE_NUM_SPIS) / 32; i++)
        gicv3_dist_write(gic, GICD_IGROUPR + 4 * i, 4, 0xffffffffu);
    for (unsigned i = 32; i < 32 + MACHINE_NUM_SPIS; i++)
        gicv3_dist_write(gic, GICD_IROUTER + 8 * i, 8, 0);
    gicv3_sysreg_write(gic, ICC_PMR_EL1, 0xf0);
    gicv3_sysreg_write(gic, ICC_BPR1_EL1, 0);
    gicv3_sysreg_write(gic, ICC_IGRPEN1_EL1, 1);
    gic_enable(gic, TIMER_PPI, 0xa0);
    gic_enable(gic, UART_SPI, 0xa0);
    gic_enable(gic, 1, 0xa0); /* the IPIs Linux sets up even on one CPU */
    return gic;
}

static void save_gic(struct gicv3 *gic, const char *name)
{
    static struct gicv3_state st;
    gicv3_save(gic, &st);
    write_seed("gicv3_state", name, &st, sizeof(st));
    gicv3_destroy(gic);
}

static void gic_seeds(void)
{
    save_gic(gic_as_linux(), "linux-idle");

    /* In the timer's handler, a disk completion pending behind it, the UART's
     * line high, an IPI sent: what a snapshot taken mid-interrupt holds. */
    struct gicv3 *gic = gic_as_linux();
    gicv3_dist_write(gic, GICD_ICFGR + BLK_SPI / 16 * 4, 4, 1u << (2 * (BLK_SPI % 16) + 1));
    gic_enable(gic, BLK_SPI, 0xb0);
    gicv3_set_line(gic, TIMER_PPI, true);
    uint64_t intid;
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_set_line(gic, BLK_SPI, true);
    gicv3_set_line(gic, UART_SPI, true);
    gicv3_sysreg_write(gic, ICC_SGI1R_EL1, (1ull << 24) | 1);
    save_gic(gic, "in-timer-handler");

    /* EOImode 1: a handler interrupted by a higher-priority one, whose priority
     * is dropped but which is not yet deactivated. */
    gic = gic_as_linux();
    gicv3_sysreg_write(gic, ICC_CTLR_EL1, 1u << 1);
    gic_enable(gic, BLK_SPI, 0x80);
    gicv3_dist_write(gic, GICD_ISPENDR + UART_SPI / 32 * 4, 4, 1u << (UART_SPI % 32));
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_dist_write(gic, GICD_ISPENDR + BLK_SPI / 32 * 4, 4, 1u << (BLK_SPI % 32));
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_sysreg_write(gic, ICC_EOIR1_EL1, intid);
    gicv3_set_line(gic, TIMER_PPI, true);
    save_gic(gic, "nested-eoimode1");
}

/* ---- PL011 ---------------------------------------------------------------------- */

static void no_output(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque, (void)data, (void)len;
}

static void save_uart(struct device *uart, const char *name)
{
    static struct pl011_state st;
    pl011_save(uart, &st);
    write_seed("pl011_state", name, &st, sizeof(st));
    uart->ops->destroy(uart);
}

static struct device *uart_as_linux(void)
{
    struct device *uart = pl011_create(0x09000000, (struct irq_line){0}, no_output, NULL);
    if (!uart)
        exit(1);
    uart->ops->write(uart, 0x024, 4, 13);   /* IBRD: 115200 from 24 MHz */
    uart->ops->write(uart, 0x028, 4, 1);    /* FBRD */
    uart->ops->write(uart, 0x02c, 4, 0x70); /* LCR_H: 8N1, FIFOs */
    uart->ops->write(uart, 0x034, 4, 0x12); /* IFLS */
    uart->ops->write(uart, 0x030, 4, 0x301); /* CR: UARTEN, TXE, RXE */
    uart->ops->write(uart, 0x038, 4, 0x50);  /* IMSC: RX, RT */
    return uart;
}

static void uart_seeds(void)
{
    save_uart(uart_as_linux(), "idle-115200");
    struct device *uart = uart_as_linux();
    uart->ops->write(uart, 0x000, 4, '#');
    const char typed[] = "echo counter=$i\r";
    pl011_receive(uart, (const uint8_t *)typed, sizeof(typed) - 1);
    save_uart(uart, "input-waiting");
}

/* ---- PL031 ---------------------------------------------------------------------- */

static int64_t seed_clock(void)
{
    return 1700000000;
}

static void save_rtc(struct device *rtc, const char *name)
{
    static struct pl031_state st;
    pl031_save(rtc, &st);
    write_seed("pl031_state", name, &st, sizeof(st));
    rtc->ops->destroy(rtc);
}

static void rtc_seeds(void)
{
    struct device *rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    if (!rtc)
        exit(1);
    save_rtc(rtc, "host-time");

    rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    rtc->ops->write(rtc, 0x008, 4, 1700003600); /* LR: an hour ahead */
    rtc->ops->write(rtc, 0x004, 4, 1700003660); /* MR: a minute later */
    rtc->ops->write(rtc, 0x010, 4, 1);          /* IMSC */
    save_rtc(rtc, "alarm-armed");

    rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    rtc->ops->write(rtc, 0x004, 4, 1699999000); /* MR in the past: fires */
    rtc->ops->write(rtc, 0x010, 4, 1);
    save_rtc(rtc, "alarm-fired");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SEEDS_DIR\n", argv[0]);
        return 2;
    }
    seeds_dir = argv[1];
    gic_seeds();
    uart_seeds();
    rtc_seeds();
    return 0;
}
