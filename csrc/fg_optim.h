/* fg_optim.h: fused, single-pass, in-place optimizer kernels.
 *
 * Design: every rule is one loop over [0, n) that reads param, grad and each state array
 * once and writes each once (an optimizer step is memory-bound: Adam moves 28 bytes per
 * float32 parameter, so a second pass would cost as much as the math). The per-step
 * scalars (bias corrections, effective learning rates) are prepared once per step, in
 * double, by fg_prepare(); the loops then only multiply and add in REAL precision, in the
 * same order as fastgd/reference/optim.py, so both sides round identically (the build uses
 * -ffp-contract=off so no fused multiply-add changes a rounding; the one explicit fma(),
 * float64 Adam's quotient in fg_divisor.h, is proven to round as the division it
 * replaces). Threads are the caller's business: it cuts [0, n) into chunks, and since
 * every element is independent the result does not depend on the thread count.
 *
 * The loop bodies live in fg_optim_impl.h, included once for float and once for double.
 */
#ifndef FG_OPTIM_H
#define FG_OPTIM_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fg_divisor.h"
#include "fg_platform.h"

/* tagged, so Cython's `cpdef enum fg_rule` (fastgd/optim/_optim.pxd) can name it */
typedef enum fg_rule {
    FG_SGD = 0,
    FG_MOMENTUM = 1,   /* the lesson's EWA momentum */
    FG_ADAM = 2,       /* Adam, AdamW, AMSGrad, epsilon-hat */
    FG_RMSPROP = 3,
    FG_ADAGRAD = 4,
    FG_ADADELTA = 5,
    FG_ADAMAX = 6,
    FG_NADAM = 7,
    FG_RADAM = 8
} fg_rule;

/* Hyper-parameters of one step (set by the caller from a param group), the scalar state
 * carried between steps, and the per-step scalars fg_prepare() derives. */
typedef struct {
    fg_rule rule;
    /* hyper-parameters */
    double lr, momentum, dampening, weight_decay;
    double beta1, beta2, eps;      /* Adam family; RMSprop's alpha is beta2, Adadelta's rho too */
    double lr_decay, momentum_decay;
    int nesterov, maximize, amsgrad, centered, decoupled_weight_decay;
    int eps_inside_sqrt, epsilon_hat, lr_in_momentum, bias_correction, buffer_init_grad;
    /* scalar state */
    int64_t step;                  /* 1-based number of the step being taken */
    double mu_product;             /* NAdam: product of mu_1..mu_{t-1}, 1 before step 1 */
    /* derived by fg_prepare, read by the loops */
    int first_step;                /* seed momentum buffers with the gradient */
    int rectified;                 /* RAdam: adaptive term on (rho_t > 5) */
    double step_size;              /* multiplies the update direction */
    double step_size2;             /* NAdam: coefficient of m_t/d */
    double denom_scale;            /* Adam: sqrt(1 - beta2^t); NAdam: 1 - beta2^t */
    double decay_factor;           /* decoupled weight decay: 1 - lr*wd, else exactly 1 */
    double grad_sign;              /* -1 with maximize, else 1 (both exact) */
    /* last, so code built against the earlier layout still reads every field before it
     * (benchmarks/report_adam_ab.py runs an earlier engine beside this one) */
    int flush_subnormal_state;     /* state below the smallest normal stored as +0 */
    double denom_recip;            /* 1 / (double)(float)denom_scale: float kernels' fg_div_step */
    double denom_pair_hi, denom_pair_lo;   /* fg_reciprocal_pair(denom_scale) */
    int denom_pair;                /* float64 Adam divides by the pair (fg_divisor.h) */
} fg_step;

/* How Adam's body divides sqrt(v) by denom_scale; a compile-time constant of each loop. */
#define FG_DIVIDE_TRUE 0           /* the division (float: fg_div_step's product) */
#define FG_DIVIDE_UNIT 1           /* denom_scale is exactly 1: no division */
#define FG_DIVIDE_PAIR 2           /* float64: the pair's product and FMA */

/* Each rule's per-step scalars (fg_<rule>_prepare) sit right above its loop in
 * fg_optim_impl.h; the first of its two inclusions (FG_FIRST_PASS) defines them. */
#define FG_FIRST_PASS 1
#define REAL float
#define FG_SQRT sqrtf
#define FG_FABS fabsf
#define FG_TINY FLT_MIN            /* the smallest normal float */
#define FG_SUFFIX(name) name##_f32
#define FG_QUOTIENT_IN_DOUBLE 1    /* see fg_div_step in fg_optim_impl.h */
#define FG_HAS_PAIR 0              /* float has the product in double instead */
#include "fg_optim_impl.h"
#undef REAL
#undef FG_SQRT
#undef FG_FABS
#undef FG_TINY
#undef FG_SUFFIX
#undef FG_QUOTIENT_IN_DOUBLE
#undef FG_HAS_PAIR

#undef FG_FIRST_PASS
#define FG_FIRST_PASS 0
#define REAL double
#define FG_SQRT sqrt
#define FG_FABS fabs
#define FG_TINY DBL_MIN
#define FG_SUFFIX(name) name##_f64
#define FG_QUOTIENT_IN_DOUBLE 0
#define FG_HAS_PAIR 1
#include "fg_optim_impl.h"
#undef REAL
#undef FG_SQRT
#undef FG_FABS
#undef FG_TINY
#undef FG_SUFFIX
#undef FG_QUOTIENT_IN_DOUBLE
#undef FG_HAS_PAIR
#undef FG_FIRST_PASS

/* The step's scalars, in double, once per step: mirrors the scalar parts of
 * reference.optim.*_step. Fields no rule sets are neutral (step size lr, exact 1s). */
static inline void fg_prepare(fg_step *s) {
    s->first_step = (s->step == 1) && s->buffer_init_grad;
    s->rectified = 0;
    s->step_size = s->lr;
    s->step_size2 = 0.0;
    s->denom_scale = 1.0;
    s->decay_factor = s->decoupled_weight_decay ? 1.0 - s->lr * s->weight_decay : 1.0;
    s->grad_sign = s->maximize ? -1.0 : 1.0;
    switch (s->rule) {
    case FG_MOMENTUM: fg_momentum_prepare(s); break;
    case FG_ADAM: fg_adam_prepare(s); break;
    case FG_ADAGRAD: fg_adagrad_prepare(s); break;
    case FG_ADAMAX: fg_adamax_prepare(s); break;
    case FG_NADAM: fg_nadam_prepare(s); break;
    case FG_RADAM: fg_radam_prepare(s); break;
    default: break;   /* SGD, RMSprop, Adadelta: lr as it is */
    }
    /* once per step, not per call: fg_apply_outer calls a rule once per weight row */
    s->denom_recip = 1.0 / (double)(float)s->denom_scale;
    /* float64 Adam's divisor: the pair where it is proven exact for this step's divisor
     * (~95-97% of steps at beta2 0.999) and the running kernels have an FMA; ~50 ns */
    s->denom_pair = s->rule == FG_ADAM && s->denom_scale != 1.0
                    && fg_pair_chosen(s->denom_scale, &s->denom_pair_hi, &s->denom_pair_lo);
}

#endif /* FG_OPTIM_H */

#ifndef FG_SPAN_DEFINED
#define FG_SPAN_DEFINED
/* A contiguous run of parameters with its gradient and state, all of one dtype: the unit
 * the thread team splits. Pointers are void so one list serves float and double. */
typedef struct {
    void *p;
    const void *g;
    void *s1, *s2, *s3;
    ptrdiff_t n;
} fg_span;
#endif
