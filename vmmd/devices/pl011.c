/* PL011 UART (Arm PrimeCell UART Technical Reference Manual, DDI 0183).
 *
 * Transmission completes at once, so the TX FIFO is always empty. Received bytes
 * sit in a buffer larger than the hardware FIFO, so that pasted input is not
 * lost while the guest is busy. The AMBA bus in Linux binds the driver by the
 * PeriphID/CellID registers, so those must read as a real PL011's. */
#include "pl011.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device_state.h"
#include "pl011.pb-c.h"
#include "util.h"

enum {
    UARTDR = 0x000, UARTRSR = 0x004, UARTFR = 0x018, UARTILPR = 0x020,
    UARTIBRD = 0x024, UARTFBRD = 0x028, UARTLCR_H = 0x02c, UARTCR = 0x030,
    UARTIFLS = 0x034, UARTIMSC = 0x038, UARTRIS = 0x03c, UARTMIS = 0x040,
    UARTICR = 0x044, UARTDMACR = 0x048, UARTPERIPHID0 = 0xfe0,
};

#define FR_RXFE (1u << 4)
#define FR_TXFE (1u << 7)
#define INT_RX (1u << 4)
#define INT_TX (1u << 5)
#define INT_RT (1u << 6)
#define INT_ALL 0x7ffu

/* The bits each register keeps of a write (PL011 TRM, 3.3). */
#define IBRD_MASK 0xffffu
#define FBRD_MASK 0x3fu
#define LCR_H_MASK 0xffu
#define CR_MASK 0xffffu
#define IFLS_MASK 0x3fu
#define DMACR_MASK 0x7u
#define ILPR_MASK 0xffu

static const uint8_t pl011_id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

struct pl011 {
    struct device dev;
    pthread_mutex_t lock;
    pl011_output_fn output;
    void *output_opaque;
    uint32_t ibrd, fbrd, lcr_h, cr, ifls, imsc, dmacr, ilpr;
    bool tx_raw; /* TX interrupt raw state: set when a byte was sent */
    uint8_t rx[PL011_RX_BUFFER];
    size_t rx_head, rx_count;
};

static struct pl011 *to_pl011(struct device *dev)
{
    return container_of(dev, struct pl011, dev);
}

static uint32_t raw_interrupts(const struct pl011 *u)
{
    /* Receive and receive-timeout stay raised while data waits: Linux drains
     * the FIFO on either. */
    return (u->tx_raw ? INT_TX : 0) | (u->rx_count ? INT_RX | INT_RT : 0);
}

static void update_irq(struct pl011 *u)
{
    irq_line_set(&u->dev.irq, (raw_interrupts(u) & u->imsc) != 0);
}

static uint32_t read_data(struct pl011 *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % PL011_RX_BUFFER;
    u->rx_count--;
    return c;
}

static uint64_t pl011_read(struct device *dev, uint64_t off, unsigned size)
{
    (void)size;
    struct pl011 *u = to_pl011(dev);
    pthread_mutex_lock(&u->lock);
    uint64_t v = 0;
    switch (off) {
    case UARTDR: v = read_data(u); break;
    case UARTFR: v = FR_TXFE | (u->rx_count ? 0 : FR_RXFE); break;
    case UARTILPR: v = u->ilpr; break;
    case UARTIBRD: v = u->ibrd; break;
    case UARTFBRD: v = u->fbrd; break;
    case UARTLCR_H: v = u->lcr_h; break;
    case UARTCR: v = u->cr; break;
    case UARTIFLS: v = u->ifls; break;
    case UARTIMSC: v = u->imsc; break;
    case UARTRIS: v = raw_interrupts(u); break;
    case UARTMIS: v = raw_interrupts(u) & u->imsc; break;
    case UARTDMACR: v = u->dmacr; break;
    default:
        if (off >= UARTPERIPHID0 && off < UARTPERIPHID0 + 0x20 && !(off & 3))
            v = pl011_id[(off - UARTPERIPHID0) / 4];
        break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return v;
}

static void pl011_write(struct device *dev, uint64_t off, unsigned size, uint64_t value)
{
    (void)size;
    struct pl011 *u = to_pl011(dev);
    uint32_t v = (uint32_t)value;
    bool transmit = false;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case UARTDR:
        transmit = true;
        u->tx_raw = true;
        break;
    case UARTRSR: break; /* error clear: we never have receive errors */
    case UARTILPR: u->ilpr = v & ILPR_MASK; break;
    case UARTIBRD: u->ibrd = v & IBRD_MASK; break;
    case UARTFBRD: u->fbrd = v & FBRD_MASK; break;
    case UARTLCR_H: u->lcr_h = v & LCR_H_MASK; break;
    case UARTCR: u->cr = v & CR_MASK; break;
    case UARTIFLS: u->ifls = v & IFLS_MASK; break;
    case UARTIMSC: u->imsc = v & INT_ALL; break;
    case UARTICR:
        if (v & INT_TX)
            u->tx_raw = false;
        break;
    case UARTDMACR: u->dmacr = v & DMACR_MASK; break;
    default: break; /* read-only and reserved registers ignore writes */
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    /* Outside the lock: a slow console reader may block this write, and the
     * event loop must still be able to queue input and handle signals. */
    if (transmit && u->output) {
        uint8_t c = (uint8_t)v;
        u->output(u->output_opaque, &c, 1);
    }
}

size_t pl011_receive(struct device *dev, const uint8_t *data, size_t len)
{
    struct pl011 *u = to_pl011(dev);
    pthread_mutex_lock(&u->lock);
    size_t n = 0;
    for (; n < len && u->rx_count < PL011_RX_BUFFER; n++) {
        u->rx[(u->rx_head + u->rx_count) % PL011_RX_BUFFER] = data[n];
        u->rx_count++;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

/* ---- snapshot state ---------------------------------------------------------- */

int pl011_save(struct device *dev, struct pl011_state *out)
{
    struct pl011 *u = to_pl011(dev);
    pthread_mutex_lock(&u->lock);
    *out = (struct pl011_state){
        .ibrd = u->ibrd, .fbrd = u->fbrd, .lcr_h = u->lcr_h, .cr = u->cr, .ifls = u->ifls,
        .imsc = u->imsc, .dmacr = u->dmacr, .ilpr = u->ilpr, .ris = raw_interrupts(u),
        .rx_count = (uint32_t)u->rx_count,
    };
    for (size_t i = 0; i < u->rx_count; i++)
        out->rx[i] = u->rx[(u->rx_head + i) % PL011_RX_BUFFER];
    pthread_mutex_unlock(&u->lock);
    return 0;
}

static bool registers_valid(const struct pl011_state *in)
{
    return !(in->ibrd & ~IBRD_MASK) && !(in->fbrd & ~FBRD_MASK) && !(in->lcr_h & ~LCR_H_MASK) &&
           !(in->cr & ~CR_MASK) && !(in->ifls & ~IFLS_MASK) && !(in->imsc & ~INT_ALL) &&
           !(in->dmacr & ~DMACR_MASK) && !(in->ilpr & ~ILPR_MASK);
}

/* The receive bytes, and the raw interrupts that follow from them. */
static bool receive_valid(const struct pl011_state *in)
{
    if (in->rx_count > PL011_RX_BUFFER)
        return false;
    uint32_t rx_bits = in->rx_count ? INT_RX | INT_RT : 0;
    if ((in->ris & ~INT_TX) != rx_bits)
        return false;
    for (size_t i = in->rx_count; i < PL011_RX_BUFFER; i++)
        if (in->rx[i])
            return false;
    return true;
}

static int check_state(const struct pl011_state *in, char *err, size_t err_len)
{
    if (!registers_valid(in))
        return device_state_refuse(err, err_len, "the UART's registers hold bits no write "
                                   "could set");
    if (!receive_valid(in))
        return device_state_refuse(err, err_len, "the UART's %u received bytes disagree with "
                                   "its interrupt bits (%#x) or its buffer", in->rx_count,
                                   in->ris);
    return 0;
}

static void apply_state(struct pl011 *u, const struct pl011_state *in)
{
    pthread_mutex_lock(&u->lock);
    u->ibrd = in->ibrd;
    u->fbrd = in->fbrd;
    u->lcr_h = in->lcr_h;
    u->cr = in->cr;
    u->ifls = in->ifls;
    u->imsc = in->imsc;
    u->dmacr = in->dmacr;
    u->ilpr = in->ilpr;
    u->tx_raw = (in->ris & INT_TX) != 0;
    memcpy(u->rx, in->rx, in->rx_count);
    u->rx_head = 0;
    u->rx_count = in->rx_count;
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

int pl011_load(struct device *dev, const struct pl011_state *in)
{
    int rc = check_state(in, NULL, 0);
    if (rc == 0)
        apply_state(to_pl011(dev), in);
    return rc;
}

int pl011_state_encode(const struct pl011_state *in, struct device_state_bytes *out)
{
    if (in->rx_count > PL011_RX_BUFFER)
        return -EINVAL;
    Ignition__Devices__Pl011State m = IGNITION__DEVICES__PL011_STATE__INIT;
    m.ibrd = in->ibrd, m.fbrd = in->fbrd, m.lcr_h = in->lcr_h, m.cr = in->cr;
    m.ifls = in->ifls, m.imsc = in->imsc, m.dmacr = in->dmacr, m.ilpr = in->ilpr;
    m.ris = in->ris;
    m.rx = (ProtobufCBinaryData){in->rx_count, (uint8_t *)(uintptr_t)in->rx};
    return device_state_pack(&m.base, out);
}

int pl011_state_decode(const uint8_t *state, size_t len, struct pl011_state *out, char *err,
                       size_t err_len)
{
    memset(out, 0, sizeof(*out));
    Ignition__Devices__Pl011State *m = (Ignition__Devices__Pl011State *)device_state_unpack(
        &ignition__devices__pl011_state__descriptor, state, len, "the UART", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->rx.len > PL011_RX_BUFFER) {
        rc = device_state_refuse(err, err_len, "the UART holds %zu received bytes, more than "
                                 "its %u", m->rx.len, PL011_RX_BUFFER);
    } else {
        out->ibrd = m->ibrd, out->fbrd = m->fbrd, out->lcr_h = m->lcr_h, out->cr = m->cr;
        out->ifls = m->ifls, out->imsc = m->imsc, out->dmacr = m->dmacr, out->ilpr = m->ilpr;
        out->ris = m->ris;
        out->rx_count = (uint32_t)m->rx.len;
        if (m->rx.len)
            memcpy(out->rx, m->rx.data, m->rx.len);
    }
    device_state_free_unpacked(m);
    return rc;
}

static int pl011_save_bytes(struct device *dev, struct device_state_bytes *out)
{
    static _Thread_local struct pl011_state st; /* 4 KiB of receive buffer: not on the stack */
    pl011_save(dev, &st);
    return pl011_state_encode(&st, out);
}

static int pl011_load_bytes(struct device *dev, const uint8_t *state, size_t len, char *err,
                            size_t err_len)
{
    static _Thread_local struct pl011_state st;
    int rc = pl011_state_decode(state, len, &st, err, err_len);
    if (rc == 0)
        rc = check_state(&st, err, err_len);
    if (rc == 0)
        apply_state(to_pl011(dev), &st);
    return rc;
}

static int pl011_fdt_node(struct device *dev, void *fdt, const struct fdt_phandles *ph)
{
    static const char clock_names[] = "uartclk\0apb_pclk";
    return device_fdt_primecell(fdt, dev, "pl011", ph, clock_names, sizeof(clock_names));
}

static void pl011_destroy(struct device *dev)
{
    struct pl011 *u = to_pl011(dev);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static const struct device_ops pl011_ops = {
    .name = "pl011",
    .read = pl011_read,
    .write = pl011_write,
    .fdt_node = pl011_fdt_node,
    .destroy = pl011_destroy,
    .save = pl011_save_bytes,
    .load = pl011_load_bytes,
};

struct device *pl011_create(uint64_t base, struct irq_line irq, pl011_output_fn output,
                            void *output_opaque)
{
    struct pl011 *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->dev = (struct device){.ops = &pl011_ops, .base = base, .size = PL011_SIZE, .irq = irq};
    pthread_mutex_init(&u->lock, NULL);
    u->output = output;
    u->output_opaque = output_opaque;
    u->cr = 0x300; /* TXE | RXE, the reset value */
    u->ifls = 0x12;
    return &u->dev;
}
