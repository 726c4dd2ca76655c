/* The PL011 as Linux's amba-pl011 driver sees it: AMBA probing by ID registers,
 * polled and interrupt-driven transmit and receive. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pl011.h"
#include "unit.h"

#define UART_BASE 0x09000000ull
#define UART_INTID 33

/* Register offsets (PL011 TRM, DDI 0183, 3.2). */
#define UARTDR 0x000
#define UARTFR 0x018
#define UARTILPR 0x020
#define UARTIBRD 0x024
#define UARTFBRD 0x028
#define UARTLCR_H 0x02c
#define UARTCR 0x030
#define UARTIFLS 0x034
#define UARTIMSC 0x038
#define UARTRIS 0x03c
#define UARTMIS 0x040
#define UARTICR 0x044
#define UARTDMACR 0x048
#define UARTPERIPHID0 0xfe0

#define FR_BUSY (1u << 3)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define FR_TXFE (1u << 7)
#define INT_RX (1u << 4)
#define INT_TX (1u << 5)
#define INT_RT (1u << 6)

/* What the device did to the outside world. */
static struct {
    uint8_t out[8192];
    size_t out_len;
    int irq_level; /* -1: never set */
    unsigned irq_intid;
    unsigned irq_calls;
} seen;

static struct device *uart;

static void record_output(void *opaque, const uint8_t *data, size_t len)
{
    ck_assert_ptr_eq(opaque, &seen);
    ck_assert_uint_le(seen.out_len + len, sizeof(seen.out));
    memcpy(seen.out + seen.out_len, data, len);
    seen.out_len += len;
}

static void record_irq(void *opaque, unsigned intid, bool level)
{
    ck_assert_ptr_eq(opaque, &seen);
    seen.irq_level = level;
    seen.irq_intid = intid;
    seen.irq_calls++;
}

static void setup(void)
{
    memset(&seen, 0, sizeof(seen));
    seen.irq_level = -1;
    struct irq_line irq = {.set = record_irq, .opaque = &seen, .intid = UART_INTID};
    uart = pl011_create(UART_BASE, irq, record_output, &seen);
    ck_assert_ptr_nonnull(uart);
}

static void teardown(void)
{
    uart->ops->destroy(uart);
}

static uint32_t rd(uint64_t off)
{
    return (uint32_t)uart->ops->read(uart, off, 4);
}

static void wr(uint64_t off, uint32_t value)
{
    uart->ops->write(uart, off, 4, value);
}

static void receive(const char *text)
{
    size_t len = strlen(text);
    ck_assert_uint_eq(pl011_receive(uart, (const uint8_t *)text, len), len);
}

START_TEST(test_window)
{
    ck_assert_uint_eq(uart->base, UART_BASE);
    ck_assert_uint_eq(uart->size, PL011_SIZE);
    ck_assert_str_eq(uart->ops->name, "pl011");
}
END_TEST

START_TEST(test_amba_id_registers)
{
    /* drivers/amba/bus.c builds the periphid 0x00241011 and cid 0xb105f00d from
     * the low byte of each word; without them the driver never binds. */
    static const uint8_t id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 8; i++)
        ck_assert_msg(rd(UARTPERIPHID0 + 4 * i) == id[i], "ID register 0x%x reads 0x%x",
                      UARTPERIPHID0 + 4 * i, rd(UARTPERIPHID0 + 4 * i));
}
END_TEST

START_TEST(test_flags_when_idle)
{
    uint32_t fr = rd(UARTFR);
    ck_assert_uint_eq(fr & FR_TXFE, FR_TXFE);
    ck_assert_uint_eq(fr & FR_RXFE, FR_RXFE);
    /* A console write loop spins while TXFF or BUSY is set. */
    ck_assert_uint_eq(fr & (FR_TXFF | FR_BUSY), 0);
}
END_TEST

START_TEST(test_transmit_reaches_output)
{
    wr(UARTDR, 'h');
    wr(UARTDR, 'i');
    wr(UARTDR, 0x100 | '!'); /* only the data byte is sent */
    ck_assert_uint_eq(seen.out_len, 3);
    ck_assert_mem_eq(seen.out, "hi!", 3);
    ck_assert_uint_eq(rd(UARTFR) & FR_TXFE, FR_TXFE); /* transmission is instant */
}
END_TEST

START_TEST(test_receive_in_order)
{
    receive("abc");
    ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, 0);
    ck_assert_uint_eq(rd(UARTDR) & 0xff, 'a');
    ck_assert_uint_eq(rd(UARTDR) & 0xff, 'b');
    ck_assert_uint_eq(rd(UARTDR), 'c'); /* no error bits 11:8 either */
    ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, FR_RXFE);
}
END_TEST

START_TEST(test_receive_irq_follows_data)
{
    wr(UARTIMSC, INT_RX);
    ck_assert_int_eq(seen.irq_level, 0);
    receive("xy");
    ck_assert_int_eq(seen.irq_level, 1);
    ck_assert_uint_eq(seen.irq_intid, UART_INTID);
    ck_assert_uint_eq(rd(UARTMIS) & INT_RX, INT_RX);
    rd(UARTDR);
    ck_assert_int_eq(seen.irq_level, 1); /* one byte still waits */
    rd(UARTDR);
    ck_assert_int_eq(seen.irq_level, 0);
    ck_assert_uint_eq(rd(UARTRIS) & INT_RX, 0);
}
END_TEST

START_TEST(test_receive_irq_masked)
{
    receive("x");
    ck_assert_uint_eq(rd(UARTRIS) & INT_RX, INT_RX);
    ck_assert_uint_eq(rd(UARTMIS), 0);
    ck_assert_int_eq(seen.irq_level, 0);
}
END_TEST

START_TEST(test_unmasking_raises_pending_irq)
{
    receive("x");
    wr(UARTIMSC, INT_RX);
    ck_assert_int_eq(seen.irq_level, 1);
    wr(UARTIMSC, 0);
    ck_assert_int_eq(seen.irq_level, 0);
}
END_TEST

START_TEST(test_transmit_raw_irq_cleared_by_icr)
{
    ck_assert_uint_eq(rd(UARTRIS) & INT_TX, 0);
    wr(UARTIMSC, INT_TX);
    wr(UARTDR, 'z');
    ck_assert_uint_eq(rd(UARTRIS) & INT_TX, INT_TX);
    ck_assert_int_eq(seen.irq_level, 1);
    wr(UARTICR, INT_RX); /* clearing another bit leaves TX alone */
    ck_assert_uint_eq(rd(UARTRIS) & INT_TX, INT_TX);
    wr(UARTICR, INT_TX);
    ck_assert_uint_eq(rd(UARTRIS) & INT_TX, 0);
    ck_assert_int_eq(seen.irq_level, 0);
}
END_TEST

START_TEST(test_control_registers_read_back)
{
    ck_assert_uint_eq(rd(UARTCR), 0x300); /* reset: TXE | RXE */
    wr(UARTLCR_H, 0x70); /* 8N1 with FIFOs */
    wr(UARTCR, 0x301);
    ck_assert_uint_eq(rd(UARTLCR_H), 0x70);
    ck_assert_uint_eq(rd(UARTCR), 0x301);
}
END_TEST

START_TEST(test_read_empty_data_register)
{
    ck_assert_uint_eq(rd(UARTDR), 0);
    ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, FR_RXFE);
}
END_TEST

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

START_TEST(test_receive_buffer_partially_accepts)
{
    enum { LEN = PL011_RX_BUFFER + 100 };
    static uint8_t in[LEN];
    for (size_t i = 0; i < LEN; i++)
        in[i] = pattern(i);
    ck_assert_uint_eq(pl011_receive(uart, in, LEN), PL011_RX_BUFFER);
    ck_assert_uint_eq(pl011_receive(uart, in, 1), 0); /* full */
    for (size_t i = 0; i < PL011_RX_BUFFER; i++) {
        ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, 0);
        ck_assert_uint_eq(rd(UARTDR), pattern(i));
    }
    ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, FR_RXFE);
}
END_TEST

START_TEST(test_receive_buffer_wraps_around)
{
    enum { FIRST = PL011_RX_BUFFER - 96, DRAINED = FIRST - 32, SECOND = 1000 };
    static uint8_t in[FIRST + SECOND];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = pattern(i);
    ck_assert_uint_eq(pl011_receive(uart, in, FIRST), FIRST);
    for (size_t i = 0; i < DRAINED; i++)
        ck_assert_uint_eq(rd(UARTDR), pattern(i));
    ck_assert_uint_eq(pl011_receive(uart, in + FIRST, SECOND), SECOND);
    for (size_t i = DRAINED; i < FIRST + SECOND; i++)
        ck_assert_uint_eq(rd(UARTDR), pattern(i));
    ck_assert_uint_eq(rd(UARTFR) & FR_RXFE, FR_RXFE);
}
END_TEST

/* ---- snapshot state ------------------------------------------------------------------------- */

static struct device *copy; /* the UART a state is loaded into */
static struct pl011_state saved, again;

static void setup_state(void)
{
    setup();
    copy = pl011_create(UART_BASE, (struct irq_line){.set = record_irq, .opaque = &seen,
                                                     .intid = UART_INTID},
                        record_output, &seen);
    ck_assert_ptr_nonnull(copy);
}

static void teardown_state(void)
{
    copy->ops->destroy(copy);
    teardown();
}

static uint32_t rd_on(struct device *d, uint64_t off)
{
    return (uint32_t)d->ops->read(d, off, 4);
}

/* As pl011_startup/pl011_set_termios leave it at 115200 8N1 with FIFOs, with the
 * receive interrupts unmasked, a byte sent, and input waiting across the end of
 * the buffer (so that the saved bytes are not where the buffer starts). */
static void program_busy(void)
{
    wr(UARTIBRD, 13);
    wr(UARTFBRD, 1);
    wr(UARTLCR_H, 0x70);
    wr(UARTIFLS, 0x12);
    wr(UARTCR, 0x301);
    wr(UARTILPR, 0x44);
    wr(UARTDMACR, 0);
    wr(UARTIMSC, INT_RX | INT_RT);
    wr(UARTDR, '$');
    enum { FILL = PL011_RX_BUFFER - 3 };
    static uint8_t fill[FILL];
    ck_assert_uint_eq(pl011_receive(uart, fill, FILL), FILL);
    for (size_t i = 0; i < FILL; i++)
        rd(UARTDR);
    receive("hello");
}

/* Every register the guest reads, except UARTDR, which takes a byte. */
static const uint64_t readable[] = {UARTFR, UARTILPR, UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR,
                                    UARTIFLS, UARTIMSC, UARTRIS, UARTMIS, UARTDMACR};

START_TEST(test_state_round_trip)
{
    program_busy();
    ck_assert_int_eq(pl011_save(uart, &saved), 0);
    ck_assert_uint_eq(saved.rx_count, 5);
    ck_assert_mem_eq(saved.rx, "hello", 5);
    ck_assert_uint_eq(saved.ris, INT_TX | INT_RX | INT_RT);
    seen.irq_level = -1;
    ck_assert_int_eq(pl011_load(copy, &saved), 0);
    ck_assert_int_eq(seen.irq_level, 1); /* the line shows the waiting input at once */
    for (size_t i = 0; i < sizeof(readable) / sizeof(readable[0]); i++)
        ck_assert_msg(rd_on(uart, readable[i]) == rd_on(copy, readable[i]),
                      "register 0x%llx: 0x%x vs 0x%x", (unsigned long long)readable[i],
                      rd_on(uart, readable[i]), rd_on(copy, readable[i]));
    ck_assert_uint_eq(rd_on(copy, UARTIBRD), 13);
    ck_assert_uint_eq(rd_on(copy, UARTLCR_H), 0x70);
    ck_assert_int_eq(pl011_save(copy, &again), 0);
    ck_assert_mem_eq(&saved, &again, sizeof(saved));
}
END_TEST

/* The copy hands the guest the same bytes, then takes more input as usual. */
START_TEST(test_state_receive_continues)
{
    program_busy();
    ck_assert_int_eq(pl011_save(uart, &saved), 0);
    ck_assert_int_eq(pl011_load(copy, &saved), 0);
    ck_assert_uint_eq(pl011_receive(copy, (const uint8_t *)"!", 1), 1);
    const char *expect = "hello!";
    for (size_t i = 0; expect[i]; i++)
        ck_assert_uint_eq(rd_on(copy, UARTDR), (uint8_t)expect[i]);
    ck_assert_uint_eq(rd_on(copy, UARTFR) & FR_RXFE, FR_RXFE);
    ck_assert_int_eq(seen.irq_level, 0);
    copy->ops->write(copy, UARTICR, 4, INT_TX);
    ck_assert_uint_eq(rd_on(copy, UARTRIS), 0);
}
END_TEST

START_TEST(test_state_full_buffer)
{
    static uint8_t in[PL011_RX_BUFFER];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = pattern(i);
    ck_assert_uint_eq(pl011_receive(uart, in, sizeof(in)), sizeof(in));
    ck_assert_int_eq(pl011_save(uart, &saved), 0);
    ck_assert_int_eq(pl011_load(copy, &saved), 0);
    ck_assert_uint_eq(pl011_receive(copy, in, 1), 0); /* full */
    for (size_t i = 0; i < sizeof(in); i++)
        ck_assert_uint_eq(rd_on(copy, UARTDR), pattern(i));
}
END_TEST

START_TEST(test_state_of_fresh_uart_loads)
{
    ck_assert_int_eq(pl011_save(uart, &saved), 0);
    ck_assert_uint_eq(saved.cr, 0x300);
    ck_assert_int_eq(pl011_load(copy, &saved), 0);
    ck_assert_int_eq(seen.irq_level, 0);
    ck_assert_int_eq(pl011_save(copy, &again), 0);
    ck_assert_mem_eq(&saved, &again, sizeof(saved));
}
END_TEST

/* One bad field each, applied to the busy state (5 bytes waiting). */
static void corrupt(struct pl011_state *st, int which)
{
    switch (which) {
    case 0: st->ibrd = 0x10000; break;
    case 1: st->fbrd = 0x40; break;
    case 2: st->lcr_h = 0x100; break;
    case 3: st->cr = 0x10000; break;
    case 4: st->ifls = 0x40; break;
    case 5: st->imsc = 0x800; break;
    case 6: st->dmacr = 8; break;
    case 7: st->ilpr = 0x100; break;
    case 8: st->rx_count = PL011_RX_BUFFER + 1; break;
    case 9: st->rx_count = UINT32_MAX; break;
    case 10: st->ris &= ~INT_RX; break;            /* bytes wait, RX not raised */
    case 11: st->ris |= 1u << 0; break;            /* a modem interrupt we never raise */
    case 12: st->rx_count = 0; break;              /* RX raised, nothing waits */
    case 13: st->rx[PL011_RX_BUFFER - 1] = 'x'; break; /* a byte beyond the count */
    }
}
#define NUM_CORRUPTIONS 14

START_TEST(test_state_bad_field_refused)
{
    static struct pl011_state reset;
    ck_assert_int_eq(pl011_save(copy, &reset), 0);
    program_busy();
    ck_assert_int_eq(pl011_save(uart, &saved), 0);
    corrupt(&saved, _i);
    seen.irq_calls = 0;
    ck_assert_int_eq(pl011_load(copy, &saved), -EINVAL);
    ck_assert_uint_eq(seen.irq_calls, 0);
    ck_assert_int_eq(pl011_save(copy, &again), 0);
    ck_assert_mem_eq(&reset, &again, sizeof(reset));
}
END_TEST

static Suite *pl011_suite(void)
{
    Suite *s = suite_create("pl011");
    TCase *regs = tcase_create("registers");
    tcase_add_checked_fixture(regs, setup, teardown);
    tcase_add_test(regs, test_window);
    tcase_add_test(regs, test_amba_id_registers);
    tcase_add_test(regs, test_flags_when_idle);
    tcase_add_test(regs, test_control_registers_read_back);
    suite_add_tcase(s, regs);

    TCase *data = tcase_create("data");
    tcase_add_checked_fixture(data, setup, teardown);
    tcase_add_test(data, test_transmit_reaches_output);
    tcase_add_test(data, test_receive_in_order);
    tcase_add_test(data, test_read_empty_data_register);
    tcase_add_test(data, test_receive_buffer_partially_accepts);
    tcase_add_test(data, test_receive_buffer_wraps_around);
    suite_add_tcase(s, data);

    TCase *irq = tcase_create("interrupts");
    tcase_add_checked_fixture(irq, setup, teardown);
    tcase_add_test(irq, test_receive_irq_follows_data);
    tcase_add_test(irq, test_receive_irq_masked);
    tcase_add_test(irq, test_unmasking_raises_pending_irq);
    tcase_add_test(irq, test_transmit_raw_irq_cleared_by_icr);
    suite_add_tcase(s, irq);

    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, setup_state, teardown_state);
    tcase_add_test(state, test_state_round_trip);
    tcase_add_test(state, test_state_receive_continues);
    tcase_add_test(state, test_state_full_buffer);
    tcase_add_test(state, test_state_of_fresh_uart_loads);
    tcase_add_loop_test(state, test_state_bad_field_refused, 0, NUM_CORRUPTIONS);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    return run_suite(pl011_suite());
}
