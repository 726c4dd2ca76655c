/* AArch64 system register encodings (op0, op1, CRn, CRm, op2) packed the way the
 * MRS/MSR instruction packs them in bits [20:5], so a trapped instruction's
 * operands compare directly with these constants. */
#ifndef IGNITION_SYSREG_H
#define IGNITION_SYSREG_H

#include <stdbool.h>
#include <stdint.h>

#define SYSREG(op0, op1, crn, crm, op2) \
    ((uint32_t)(((op0) << 14) | ((op1) << 11) | ((crn) << 7) | ((crm) << 3) | (op2)))

/* GICv3 CPU interface (GICv3 architecture spec, §12.2). */
#define ICC_PMR_EL1     SYSREG(3, 0, 4, 6, 0)
#define ICC_IAR0_EL1    SYSREG(3, 0, 12, 8, 0)
#define ICC_EOIR0_EL1   SYSREG(3, 0, 12, 8, 1)
#define ICC_HPPIR0_EL1  SYSREG(3, 0, 12, 8, 2)
#define ICC_BPR0_EL1    SYSREG(3, 0, 12, 8, 3)
#define ICC_AP0R0_EL1   SYSREG(3, 0, 12, 8, 4) /* .. AP0R3 = op2 7 */
#define ICC_AP1R0_EL1   SYSREG(3, 0, 12, 9, 0) /* .. AP1R3 = op2 3 */
#define ICC_DIR_EL1     SYSREG(3, 0, 12, 11, 1)
#define ICC_RPR_EL1     SYSREG(3, 0, 12, 11, 3)
#define ICC_SGI1R_EL1   SYSREG(3, 0, 12, 11, 5)
#define ICC_ASGI1R_EL1  SYSREG(3, 0, 12, 11, 6)
#define ICC_SGI0R_EL1   SYSREG(3, 0, 12, 11, 7)
#define ICC_IAR1_EL1    SYSREG(3, 0, 12, 12, 0)
#define ICC_EOIR1_EL1   SYSREG(3, 0, 12, 12, 1)
#define ICC_HPPIR1_EL1  SYSREG(3, 0, 12, 12, 2)
#define ICC_BPR1_EL1    SYSREG(3, 0, 12, 12, 3)
#define ICC_CTLR_EL1    SYSREG(3, 0, 12, 12, 4)
#define ICC_SRE_EL1     SYSREG(3, 0, 12, 12, 5)
#define ICC_IGRPEN0_EL1 SYSREG(3, 0, 12, 12, 6)
#define ICC_IGRPEN1_EL1 SYSREG(3, 0, 12, 12, 7)

/* Generic timer (Arm ARM D11). */
#define CNTFRQ_EL0      SYSREG(3, 3, 14, 0, 0)
#define CNTPCT_EL0      SYSREG(3, 3, 14, 0, 1)
#define CNTVCT_EL0      SYSREG(3, 3, 14, 0, 2)
#define CNTP_TVAL_EL0   SYSREG(3, 3, 14, 2, 0)
#define CNTP_CTL_EL0    SYSREG(3, 3, 14, 2, 1)
#define CNTP_CVAL_EL0   SYSREG(3, 3, 14, 2, 2)
#define CNTV_TVAL_EL0   SYSREG(3, 3, 14, 3, 0)
#define CNTV_CTL_EL0    SYSREG(3, 3, 14, 3, 1)
#define CNTV_CVAL_EL0   SYSREG(3, 3, 14, 3, 2)

static inline unsigned sysreg_op0(uint32_t r) { return (r >> 14) & 3; }
static inline unsigned sysreg_op1(uint32_t r) { return (r >> 11) & 7; }
static inline unsigned sysreg_crn(uint32_t r) { return (r >> 7) & 15; }
static inline unsigned sysreg_crm(uint32_t r) { return (r >> 3) & 15; }
static inline unsigned sysreg_op2(uint32_t r) { return r & 7; }

/* The GICv3 CPU interface lives in op0=3 op1=0 CRn=12 CRm=8..12, plus PMR. */
static inline bool sysreg_is_icc(uint32_t r)
{
    return r == ICC_PMR_EL1 || (sysreg_op0(r) == 3 && sysreg_op1(r) == 0 &&
                                sysreg_crn(r) == 12 && sysreg_crm(r) >= 8 && sysreg_crm(r) <= 12);
}

#endif
