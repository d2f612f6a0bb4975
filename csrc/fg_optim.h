/* fg_optim.h: fused, single-pass, in-place optimizer kernels.
 *
 * Design: every rule is one loop over [0, n) that reads param, grad and each state array
 * once and writes each once (an optimizer step is memory-bound: Adam moves 28 bytes per
 * float32 parameter, so a second pass would cost as much as the math). The per-step
 * scalars (bias corrections, effective learning rates) are prepared once per step, in
 * double, by fg_prepare(); the loops then only multiply and add in REAL precision, in the
 * same order as fastgd/reference/optim.py, so both sides round identically (the build uses
 * -ffp-contract=off so no fused multiply-add changes a rounding). Threads are the
 * caller's business: it cuts [0, n) into chunks, and since every element is independent
 * the result does not depend on the thread count.
 *
 * The loop bodies live in fg_optim_impl.h, included once for float and once for double.
 */
#ifndef FG_OPTIM_H
#define FG_OPTIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fg_platform.h"

typedef enum {
    FG_SGD = 0,
    FG_MOMENTUM = 1,   /* the lesson's EWA momentum */
    FG_ADAM = 2,       /* Adam, AdamW, AMSGrad, epsilon-hat */
    FG_RMSPROP = 3,
    FG_ADAGRAD = 4,
    FG_ADADELTA = 5,
    FG_ADAMAX = 6,
    FG_NADAM = 7,
    FG_RADAM = 8,
    FG_N_RULES = 9
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
} fg_step;

/* mirrors the scalar parts of reference.optim.*_step */
static inline void fg_prepare(fg_step *s) {
    const double t = (double)s->step;
    s->first_step = (s->step == 1) && s->buffer_init_grad;
    s->rectified = 0;
    s->step_size = s->lr;
    s->step_size2 = 0.0;
    s->denom_scale = 1.0;
    s->decay_factor = s->decoupled_weight_decay ? 1.0 - s->lr * s->weight_decay : 1.0;
    s->grad_sign = s->maximize ? -1.0 : 1.0;
    switch (s->rule) {
    case FG_MOMENTUM:
        if (s->bias_correction) s->step_size = s->lr / (1.0 - pow(s->momentum, t));
        break;
    case FG_ADAM: {
        const double bc1 = 1.0 - pow(s->beta1, t);
        const double bc2 = 1.0 - pow(s->beta2, t);
        if (s->epsilon_hat) {
            s->step_size = s->lr * sqrt(bc2) / bc1;
        } else {
            s->step_size = s->lr / bc1;
            s->denom_scale = sqrt(bc2);
        }
        break;
    }
    case FG_ADAGRAD:
        s->step_size = s->lr / (1.0 + (t - 1.0) * s->lr_decay);
        break;
    case FG_ADAMAX:
        s->step_size = s->lr / (1.0 - pow(s->beta1, t));
        break;
    case FG_NADAM: {
        const double mu = s->beta1 * (1.0 - 0.5 * pow(0.96, t * s->momentum_decay));
        const double mu_next = s->beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * s->momentum_decay));
        s->mu_product = s->mu_product * mu;
        s->step_size = s->lr * (1.0 - mu) / (1.0 - s->mu_product);
        s->step_size2 = s->lr * mu_next / (1.0 - s->mu_product * mu_next);
        s->denom_scale = 1.0 - pow(s->beta2, t);
        break;
    }
    case FG_RADAM: {
        const double bc1 = 1.0 - pow(s->beta1, t);
        const double rho_inf = 2.0 / (1.0 - s->beta2) - 1.0;
        const double beta2_t = pow(s->beta2, t);
        const double rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
        if (rho_t > 5.0) {
            const double rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
            s->rectified = 1;
            s->step_size = s->lr * rect * sqrt(1.0 - beta2_t) / bc1;
        } else {
            s->step_size = s->lr / bc1;
        }
        break;
    }
    default:
        break;
    }
}

/* Which state arrays (s1, s2, s3) a step with these options reads and writes. */
static inline int fg_n_state(const fg_step *s) {
    switch (s->rule) {
    case FG_SGD: return s->momentum != 0.0 ? 1 : 0;
    case FG_MOMENTUM: return 1;
    case FG_ADAM: return s->amsgrad ? 3 : 2;
    case FG_RMSPROP: return 1 + (s->centered ? 1 : 0) + (s->momentum > 0.0 ? 1 : 0);
    case FG_ADAGRAD: return 1;
    default: return 2;
    }
}

#define REAL float
#define FG_SQRT sqrtf
#define FG_SUFFIX(name) name##_f32
#include "fg_optim_impl.h"
#undef REAL
#undef FG_SQRT
#undef FG_SUFFIX

#define REAL double
#define FG_SQRT sqrt
#define FG_SUFFIX(name) name##_f64
#include "fg_optim_impl.h"
#undef REAL
#undef FG_SQRT
#undef FG_SUFFIX

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
