/* MMIO from several vCPUs at once, as the kvm backend delivers it: each vCPU
 * thread calls the device's read and write while host threads feed the same
 * devices (console input, a new generation id). Every byte a guest sends or
 * receives must arrive exactly once, and the tree must stay consistent; run
 * under ThreadSanitizer (-Db_sanitize=thread) this also shows that nothing is
 * touched without the device's lock. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/vmgenid.h"
#include "unit.h"

#define VCPUS 4
#define BYTES_PER_VCPU 2000
#define UARTDR 0x000
#define UARTFR 0x018
#define FR_RXFE (1u << 4)
#define RTC_DR 0x000
#define RTC_LR 0x008
#define RX_TOTAL 3000

static struct device *uart, *rtc, *genid;
static atomic_uint sent_by[VCPUS];
static atomic_uint bad_bytes;
static atomic_uint irq_calls;
static atomic_bool host_done;

static void count_output(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque;
    for (size_t i = 0; i < len; i++) {
        unsigned v = data[i] - 'a';
        if (v < VCPUS)
            atomic_fetch_add(&sent_by[v], 1);
        else
            atomic_fetch_add(&bad_bytes, 1);
    }
}

static void count_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
    atomic_fetch_add(&irq_calls, 1);
}

static int64_t zero_clock(void)
{
    return 1000;
}

static void setup(void)
{
    struct irq_line irq = {.set = count_irq, .opaque = NULL, .intid = 33};
    uart = pl011_create(0x09000000, irq, count_output, NULL);
    rtc = pl031_create(0x09010000, irq, zero_clock);
    genid = vmgenid_create(0x09020000, irq, NULL);
    for (unsigned i = 0; i < VCPUS; i++)
        atomic_store(&sent_by[i], 0);
    atomic_store(&bad_bytes, 0);
    atomic_store(&host_done, false);
}

static void teardown(void)
{
    uart->ops->destroy(uart);
    rtc->ops->destroy(rtc);
    genid->ops->destroy(genid);
}

/* vCPU n: its own letter to the UART, the RTC set and read, the id read. */
static void *vcpu(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < BYTES_PER_VCPU; i++) {
        uart->ops->write(uart, UARTDR, 4, 'a' + n);
        (void)uart->ops->read(uart, UARTFR, 4);
        if (i % 16 == 0) {
            rtc->ops->write(rtc, RTC_LR, 4, 5000 + i);
            (void)rtc->ops->read(rtc, RTC_DR, 4);
            (void)genid->ops->read(genid, 0, 8);
        }
    }
    return NULL;
}

/* vCPU 0's receive side: takes every byte the host queues. */
static unsigned received;
static void *reader(void *arg)
{
    (void)arg;
    while (received < RX_TOTAL) {
        if (uart->ops->read(uart, UARTFR, 4) & FR_RXFE) {
            if (atomic_load(&host_done) && (uart->ops->read(uart, UARTFR, 4) & FR_RXFE))
                break;
            continue;
        }
        uint32_t v = (uint32_t)uart->ops->read(uart, UARTDR, 4);
        ck_assert_uint_eq(v & 0xff, 'A' + received % 26);
        received++;
    }
    return NULL;
}

/* The host: console input in order, and new generations. */
static void *host(void *arg)
{
    (void)arg;
    unsigned queued = 0;
    while (queued < RX_TOTAL) {
        uint8_t c = (uint8_t)('A' + queued % 26);
        queued += (unsigned)pl011_receive(uart, &c, 1);
        if (queued % 500 == 0)
            vmgenid_new_generation(genid);
    }
    atomic_store(&host_done, true);
    return NULL;
}

START_TEST(test_concurrent_vcpus_and_host)
{
    pthread_t t[VCPUS + 2];
    for (unsigned i = 0; i < VCPUS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, vcpu, (void *)(uintptr_t)i), 0);
    ck_assert_int_eq(pthread_create(&t[VCPUS], NULL, reader, NULL), 0);
    ck_assert_int_eq(pthread_create(&t[VCPUS + 1], NULL, host, NULL), 0);
    for (unsigned i = 0; i < VCPUS + 2; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < VCPUS; i++)
        ck_assert_uint_eq(atomic_load(&sent_by[i]), BYTES_PER_VCPU);
    ck_assert_uint_eq(atomic_load(&bad_bytes), 0);
    ck_assert_uint_eq(received, RX_TOTAL);
    ck_assert_uint_ne(uart->ops->read(uart, UARTFR, 4) & FR_RXFE, 0);
}
END_TEST

static Suite *smp_mmio_suite(void)
{
    Suite *s = suite_create("smp_mmio");
    TCase *tc = tcase_create("devices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_vcpus_and_host);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(smp_mmio_suite());
}
